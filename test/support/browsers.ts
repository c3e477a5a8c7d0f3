/**
 * The two browsers the web UI is tested in, behind one small page interface so that
 * test/browser/ui-scenarios.ts runs the same checks in both: Debian's Chromium driven by
 * playwright-core (DevTools protocol), Debian's Firefox ESR driven by puppeteer-core over WebDriver
 * BiDi (playwright-core drives only Playwright's own patched Firefox, which cannot be downloaded
 * here). Neither package downloads a browser. Queries run as DOM calls inside the page, so both
 * drivers answer them the same way.
 */
import type { Browser as PlaywrightBrowser } from 'playwright-core';
import type { Browser as PuppeteerBrowser } from 'puppeteer-core';
import { launchChromium } from './chromium.js';

/** `FIREFOX_PATH`, or where `apt-get install firefox-esr` puts it. */
export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

export interface UiPage {
  /** Page errors, console errors and Content-Security-Policy violations seen so far. */
  readonly problems: string[];
  /** Runs `expression` (a function's source, called with `args`) in the page. */
  evaluate<T>(expression: string, ...args: unknown[]): Promise<T>;
  /** Types into the input (replacing what is there), as a user would. */
  fill(selector: string, value: string): Promise<void>;
  click(selector: string): Promise<void>;
  reload(): Promise<void>;
  /** The page, or the first element matching `selector`, as a PNG at `path`. */
  screenshot(path: string, selector?: string): Promise<void>;
  close(): Promise<void>;
}

export interface UiBrowser {
  readonly name: 'chromium' | 'firefox';
  /** A new page (1400 × 1000) at `url`, recording its problems from before its first script. */
  open(url: string): Promise<UiPage>;
  close(): Promise<void>;
}

/**
 * Added before any of the page's scripts: a CSP violation becomes a console error, which both
 * drivers report (Firefox does not pass its own CSP warnings to WebDriver BiDi's log).
 */
const REPORT_CSP = `document.addEventListener('securitypolicyviolation', (event) =>
  console.error('CSP violation: ' + event.violatedDirective + ' ' + (event.blockedURI || '')));`;

const VIEWPORT = { width: 1400, height: 1000 };

export async function launchUiBrowser(name: UiBrowser['name']): Promise<UiBrowser> {
  return name === 'chromium'
    ? playwrightChromium(await launchChromium())
    : puppeteerFirefox(await launchFirefox());
}

function playwrightChromium(browser: PlaywrightBrowser): UiBrowser {
  return {
    name: 'chromium',
    async open(url) {
      const page = await browser.newPage({ viewport: VIEWPORT });
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
      });
      await page.addInitScript(REPORT_CSP);
      await page.goto(url);
      return {
        problems,
        evaluate: (expression, ...args) => page.evaluate(`(${expression})(...${JSON.stringify(args)})`),
        fill: (selector, value) => page.fill(selector, value),
        click: (selector) => page.click(selector),
        reload: async () => void (await page.reload()),
        screenshot: async (path, selector) =>
          void (await (selector ? page.locator(selector).first() : page).screenshot({ path })),
        close: () => page.close(),
      };
    },
    close: () => browser.close(),
  };
}

/** Headless Firefox ESR; puppeteer gives it a fresh profile directory and removes it on close. */
export async function launchFirefox(): Promise<PuppeteerBrowser> {
  const { launch } = await import('puppeteer-core');
  return launch({ browser: 'firefox', executablePath: FIREFOX_PATH, headless: true });
}

function puppeteerFirefox(browser: PuppeteerBrowser): UiBrowser {
  return {
    name: 'firefox',
    async open(url) {
      const page = await browser.newPage();
      await page.setViewport(VIEWPORT);
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`page error: ${(error as Error).message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
      });
      await page.evaluateOnNewDocument(REPORT_CSP);
      await page.goto(url);
      return {
        problems,
        evaluate: <T>(expression: string, ...args: unknown[]) =>
          page.evaluate(`(${expression})(...${JSON.stringify(args)})`) as Promise<T>,
        async fill(selector, value) {
          await page.evaluate(`document.querySelector(${JSON.stringify(selector)}).value = ''`);
          await page.type(selector, value);
        },
        click: (selector) => page.click(selector),
        reload: async () => void (await page.reload()),
        async screenshot(path, selector) {
          const target = selector ? await page.$(selector) : page;
          if (!target) throw new Error(`screenshot: nothing matches ${selector}`);
          await target.screenshot({ path: path as `${string}.png` });
        },
        close: () => page.close(),
      };
    },
    close: () => browser.close(),
  };
}
