/**
 * The web UI in a real browser (`npm run test:browser`): Debian's Chromium driven by playwright-core
 * against real agent processes. The demo job's tasks are listed, a chart gets new points, a task's
 * stats hook diagram highlights `streaming` and then `terminal` once the task exits; an agent off
 * loopback makes the page ask for its token. No page breaks its Content-Security-Policy.
 *
 * `UI_SCREENSHOTS=1 npm run test:browser` also writes the screenshots of docs/ui.md.
 */
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, ROOT, startCli, waitFor, writeJob } from '../cli/cli.js';
import { launchChromium } from '../support/chromium.js';

const SCREENSHOTS = process.env.UI_SCREENSHOTS === '1';

let browser: Browser;
const agents: CliProcess[] = [];

/** Starts `taskpulse agent` and resolves with its API's URL (printed on stderr). */
async function startAgent(args: string[]): Promise<string> {
  const agent = startCli(['agent', '--port', '0', '--keep-serving', ...args]);
  agents.push(agent);
  return waitFor('the agent to listen', () => /HTTP API: (\S+)/.exec(agent.stderr())?.[1], 15_000);
}

/** A page that fails the test on a script error or a CSP violation. */
async function openPage(url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  await page.goto(url);
  return { page, problems };
}

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  for (const agent of agents) if (agent.child.exitCode === null) agent.child.kill('SIGTERM');
  await Promise.all(agents.map((agent) => agent.exited));
});

describe('the demo job in the web UI', () => {
  it('lists the tasks, charts new points, and draws the stats hook streaming then terminal', async () => {
    const base = await startAgent([join(ROOT, 'examples/demo.job.yaml')]);
    const { page, problems } = await openPage(`${base}/ui`);
    await page.locator('#connection[data-status="live"]').waitFor();

    const cards = await page.locator('article.task').all();
    const names = await Promise.all(cards.map((card) => card.getAttribute('data-name')));
    expect(names.sort()).toEqual(['busy', 'flaky', 'grower', 'quiet']);
    await expect.poll(() => page.locator('.allocation').count()).toBe(2);

    const busy = page.locator('article.task[data-name="busy"]');
    const cpuChart = busy.locator('[data-chart="cpu"]');
    const points = async () => Number((await cpuChart.getAttribute('data-points')) ?? 0);
    await expect.poll(points, { timeout: 10_000 }).toBeGreaterThan(0);
    const before = await points();
    await expect.poll(points, { timeout: 10_000 }).toBeGreaterThan(before);
    // uPlot drew it: a canvas inside the chart.
    expect(await cpuChart.locator('canvas').count()).toBe(1);

    const hookDiagram = busy.locator('[data-machine="hook"] svg.diagram');
    await expect.poll(() => hookDiagram.getAttribute('data-current'), { timeout: 10_000 }).toBe('streaming');
    expect(await hookDiagram.locator('g.state.current').getAttribute('data-state')).toBe('streaming');
    await expect
      .poll(() => busy.locator('[data-machine="runner"] svg.diagram').getAttribute('data-current'))
      .toBe('running');
    if (SCREENSHOTS) {
      // A few more seconds of history make a chart worth looking at (docs only, never in CI).
      await page.waitForTimeout(5000);
      await page.screenshot({ path: join(ROOT, 'docs/ui/demo-running.png') });
      await busy.screenshot({ path: join(ROOT, 'docs/ui/task-card.png') });
    }

    // busy runs for 12 s: then its hook ends, and the runner is dead.
    await expect.poll(() => hookDiagram.getAttribute('data-current'), { timeout: 20_000 }).toBe('terminal');
    await expect
      .poll(() => busy.locator('[data-machine="runner"] svg.diagram').getAttribute('data-current'), {
        timeout: 10_000,
      })
      .toBe('dead');
    const transitions = await busy.locator('[data-machine="hook"] .transitions li').allTextContents();
    // Newest first. The stream may end (backoff) a moment before the runner reports the exit.
    expect(transitions[0]).toMatch(/→ terminal exited$/);
    expect(transitions.some((line) => /retrying → streaming/.test(line))).toBe(true);
    await expect.poll(() => busy.locator('dd[data-state]').textContent()).toBe('dead');
    expect(await busy.locator('.events li').first().textContent()).toMatch(/Terminated|Not Restarting/);
    if (SCREENSHOTS) await busy.screenshot({ path: join(ROOT, 'docs/ui/task-card-exited.png') });
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});

describe('an agent off loopback', () => {
  /** A non-loopback IPv4 address of this machine, if it has one. */
  const external = Object.values(networkInterfaces())
    .flat()
    .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;

  it('makes the page ask for the token, keep it in sessionStorage, and then stream', async () => {
    const job = writeJob(
      'ticker.job.yaml',
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
    const { page, problems } = await openPage(`${url}/ui`);
    const form = page.locator('#token-form');
    await form.waitFor({ state: 'visible' });
    expect(await page.locator('article.task').count()).toBe(0);
    if (SCREENSHOTS) await page.screenshot({ path: join(ROOT, 'docs/ui/token-prompt.png') });

    await page.fill('#token-input', 'not-the-token');
    await page.click('#token-form button');
    await expect.poll(() => page.locator('#token-error').textContent()).toBe('wrong token');
    expect(await page.evaluate("sessionStorage.getItem('taskpulse-token')")).toBeNull();

    await page.fill('#token-input', token);
    await page.click('#token-form button');
    await page.locator('#connection[data-status="live"]').waitFor();
    await form.waitFor({ state: 'hidden' });
    await page.locator('article.task[data-name="ticker"]').waitFor();
    expect(await page.evaluate("sessionStorage.getItem('taskpulse-token')")).toBe(token);

    // A reload keeps the tab's token: no prompt again.
    await page.reload();
    await page.locator('#connection[data-status="live"]').waitFor();
    expect(await form.isVisible()).toBe(false);
    // 401s answered to the wrong token are logged by Chromium as failed loads, nothing else.
    expect(problems.filter((problem) => !problem.includes('401'))).toEqual([]);
    await page.close();
  }, 30_000);
});
