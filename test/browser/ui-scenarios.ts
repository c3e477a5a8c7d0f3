/**
 * The web UI's browser checks, run in each browser by its own file (ui.chromium.test.ts,
 * ui.firefox.test.ts) against real agent processes: the demo job's tasks are listed, a chart gets
 * new points, a task's stats hook diagram highlights `streaming` and then `terminal` once the task
 * exits; an agent off loopback makes the page ask for its token. No page logs an error or breaks
 * its Content-Security-Policy.
 *
 * `UI_SCREENSHOTS=1 npm run test:browser` also writes the screenshots of docs/ui.md (from Chromium).
 */
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, ROOT, startCli, waitFor, writeJob } from '../cli/cli.js';
import { launchUiBrowser, type UiBrowser, type UiPage } from '../support/browsers.js';

const SCREENSHOTS = process.env.UI_SCREENSHOTS === '1';

/** DOM queries, run in the page: the same answers from either driver. */
const attr = (page: UiPage, selector: string, name: string) =>
  page.evaluate<string | null>(
    '(selector, name) => document.querySelector(selector)?.getAttribute(name) ?? null',
    selector,
    name,
  );
const count = (page: UiPage, selector: string) =>
  page.evaluate<number>('(selector) => document.querySelectorAll(selector).length', selector);
const texts = (page: UiPage, selector: string) =>
  page.evaluate<string[]>(
    "(selector) => [...document.querySelectorAll(selector)].map((node) => node.textContent ?? '')",
    selector,
  );
const visible = (page: UiPage, selector: string) =>
  page.evaluate<boolean>(
    '(selector) => document.querySelector(selector)?.checkVisibility({ visibilityProperty: true }) ?? false',
    selector,
  );
const sessionToken = (page: UiPage) =>
  page.evaluate<string | null>("() => sessionStorage.getItem('taskpulse-token')");
const live = (page: UiPage) =>
  expect.poll(() => count(page, '#connection[data-status="live"]'), { timeout: 15_000 }).toBe(1);

export function describeUi(browserName: UiBrowser['name']): void {
  let browser: UiBrowser;
  const agents: CliProcess[] = [];
  const screenshots = SCREENSHOTS && browserName === 'chromium';

  /** Starts `taskpulse agent` and resolves with its API's URL (printed on stderr). */
  async function startAgent(args: string[]): Promise<string> {
    const agent = startCli(['agent', '--port', '0', '--keep-serving', ...args]);
    agents.push(agent);
    return waitFor('the agent to listen', () => /HTTP API: (\S+)/.exec(agent.stderr())?.[1], 15_000);
  }

  beforeAll(async () => {
    browser = await launchUiBrowser(browserName);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    for (const agent of agents) if (agent.child.exitCode === null) agent.child.kill('SIGTERM');
    await Promise.all(agents.map((agent) => agent.exited));
  });

  describe(`the demo job in the web UI (${browserName})`, () => {
    it('lists the tasks, charts new points, and draws the stats hook streaming then terminal', async () => {
      const base = await startAgent([join(ROOT, 'examples/demo.job.yaml')]);
      const page = await browser.open(`${base}/ui`);
      await live(page);

      const names = await page.evaluate<string[]>(
        "() => [...document.querySelectorAll('article.task')].map((card) => card.dataset.name)",
      );
      expect(names.sort()).toEqual(['busy', 'flaky', 'grower', 'quiet']);
      await expect.poll(() => count(page, '.allocation')).toBe(2);

      const busy = 'article.task[data-name="busy"]';
      const cpuChart = `${busy} [data-chart="cpu"]`;
      const points = async () => Number((await attr(page, cpuChart, 'data-points')) ?? 0);
      await expect.poll(points, { timeout: 10_000 }).toBeGreaterThan(0);
      const before = await points();
      await expect.poll(points, { timeout: 10_000 }).toBeGreaterThan(before);
      // uPlot drew it: a canvas inside the chart.
      expect(await count(page, `${cpuChart} canvas`)).toBe(1);

      const hookDiagram = `${busy} [data-machine="hook"] svg.diagram`;
      const runnerDiagram = `${busy} [data-machine="runner"] svg.diagram`;
      await expect.poll(() => attr(page, hookDiagram, 'data-current'), { timeout: 10_000 }).toBe('streaming');
      expect(await attr(page, `${hookDiagram} g.state.current`, 'data-state')).toBe('streaming');
      await expect.poll(() => attr(page, runnerDiagram, 'data-current')).toBe('running');
      if (screenshots) {
        // A few more seconds of history make a chart worth looking at (docs only, never in CI).
        await new Promise((resolve) => setTimeout(resolve, 5000));
        await page.screenshot(join(ROOT, 'docs/ui/demo-running.png'));
        await page.screenshot(join(ROOT, 'docs/ui/task-card.png'), busy);
      }

      // busy runs for 12 s: then its hook ends, and the runner is dead.
      await expect.poll(() => attr(page, hookDiagram, 'data-current'), { timeout: 20_000 }).toBe('terminal');
      await expect.poll(() => attr(page, runnerDiagram, 'data-current'), { timeout: 10_000 }).toBe('dead');
      const transitions = await texts(page, `${busy} [data-machine="hook"] .transitions li`);
      // Newest first. The stream may end (backoff) a moment before the runner reports the exit.
      expect(transitions[0]).toMatch(/→ terminal exited$/);
      expect(transitions.some((line) => /retrying → streaming/.test(line))).toBe(true);
      await expect.poll(async () => (await texts(page, `${busy} dd[data-state]`))[0]).toBe('dead');
      expect((await texts(page, `${busy} .events li`))[0]).toMatch(/Terminated|Not Restarting/);
      if (screenshots) await page.screenshot(join(ROOT, 'docs/ui/task-card-exited.png'), busy);
      expect(page.problems).toEqual([]);

      // The check above can fail: an inline script, which the page's CSP forbids, is reported.
      await page.evaluate(
        "() => document.body.append(Object.assign(document.createElement('script'), { textContent: 'void 0' }))",
      );
      await expect.poll(() => page.problems.join('\n')).toMatch(/CSP violation: script-src/);
      await page.close();
    }, 60_000);
  });

  describe(`an agent off loopback (${browserName})`, () => {
    /** A non-loopback IPv4 address of this machine, if it has one. */
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;

    it('makes the page ask for the token, keep it in sessionStorage, and then stream', async () => {
      const job = writeJob(
        `ticker-${browserName}.job.yaml`,
        `
name: guarded
type: service
groups:
  - name: g
    tasks:
      - name: ticker
        driver: mock
        stats_interval: 200ms
        config: { runForMs: 60000 }
`,
      );
      const token = 'browser-test-token';
      // Listening on a real interface when there is one; 0.0.0.0 (reached on loopback) otherwise.
      const base = await startAgent(['--host', external ?? '0.0.0.0', '--token', token, job]);
      const url = base.replace('0.0.0.0', '127.0.0.1');
      const page = await browser.open(`${url}/ui`);
      await expect.poll(() => visible(page, '#token-form'), { timeout: 10_000 }).toBe(true);
      expect(await count(page, 'article.task')).toBe(0);
      if (screenshots) await page.screenshot(join(ROOT, 'docs/ui/token-prompt.png'));

      await page.fill('#token-input', 'not-the-token');
      await page.click('#token-form button');
      await expect.poll(async () => (await texts(page, '#token-error'))[0]).toBe('wrong token');
      expect(await sessionToken(page)).toBeNull();

      await page.fill('#token-input', token);
      await page.click('#token-form button');
      await live(page);
      await expect.poll(() => visible(page, '#token-form')).toBe(false);
      await expect.poll(() => count(page, 'article.task[data-name="ticker"]')).toBe(1);
      expect(await sessionToken(page)).toBe(token);

      // A reload keeps the tab's token: no prompt again.
      await page.reload();
      await live(page);
      expect(await visible(page, '#token-form')).toBe(false);
      // 401s answered to the wrong token are logged by Chromium as failed loads, nothing else.
      expect(page.problems.filter((problem) => !problem.includes('401'))).toEqual([]);
      await page.close();
    }, 30_000);
  });
}
