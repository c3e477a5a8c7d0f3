/**
 * 200 tasks on one web UI page (`npm run bench:ui`; needs Debian's chromium, as `npm run
 * test:browser`). A real agent process runs a mock-driver job of 20 allocations × 10 tasks, each
 * sampled every second; Chromium (playwright-core) opens `/ui` and the script measures, over a
 * window with the page at rest, one paging down a screen at a time, and one flinging top to bottom
 * and back:
 *
 * - frame times (requestAnimationFrame deltas: median, p95, p99, max) and long tasks (> 50 ms,
 *   PerformanceObserver `longtask`) in the page;
 * - bytes per second the agent pushes on one `/ui/stream` (a second reader counts them);
 * - the agent process's CPU (utime + stime from /proc) with no page open, then with one page.
 *
 *   npm run bench:ui                 # 20 s a phase
 *   npm run bench:ui -- --seconds 60
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium } from '../test/support/chromium.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
const seconds = Number(values.seconds);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ALLOCS = 20;
const TASKS_PER_ALLOC = 10;

const dir = mkdtempSync(join(tmpdir(), 'taskpulse-ui-bench-'));
const jobFile = join(dir, 'ui-200.job.yaml');
const tasks = Array.from({ length: TASKS_PER_ALLOC }, (_, i) =>
  [
    `      - name: t${i}`,
    '        driver: mock',
    '        stats_interval: 1s',
    `        config: { cpuPercent: ${5 + i * 9}, rssBytes: ${(20 + i * 15) * 2 ** 20} }`,
  ].join('\n'),
).join('\n');
writeFileSync(
  jobFile,
  `name: ui200\ntype: service\ngroups:\n  - name: g\n    count: ${ALLOCS}\n    tasks:\n${tasks}\n`,
);

const TICKS = 100; // USER_HZ on Linux
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

const agent = spawn(process.execPath, [join(ROOT, 'bin/taskpulse.js'), 'agent', '--port', '0', jobFile], {
  stdio: ['ignore', 'ignore', 'pipe'],
});
let stderr = '';
agent.stderr.on('data', (chunk: Buffer) => {
  stderr += chunk.toString();
});
const browser = await launchChromium();
try {
  let base: string | undefined;
  for (let i = 0; i < 200 && !base; i++) {
    base = /HTTP API: (\S+)/.exec(stderr)?.[1];
    if (!base) await sleep(50);
  }
  if (!base) throw new Error(`the agent did not start:\n${stderr}`);
  const pid = agent.pid!;
  await sleep(3000); // every task started and sampled a few times

  const idleStart = cpuSeconds(pid);
  await sleep(seconds * 1000);
  const idleCpu = (cpuSeconds(pid) - idleStart) / seconds;

  // Bytes pushed on one stream: a reader of its own, next to the page.
  const counter = new AbortController();
  let streamed = 0;
  let snapshotBytes = 0;
  const counting = (async () => {
    const response = await fetch(`${base}/ui/stream`, { signal: counter.signal });
    let head = '';
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      if (snapshotBytes > 0) {
        streamed += chunk.length;
        continue;
      }
      // The first event is the snapshot: its size is what a page downloads on (re)connecting.
      head += Buffer.from(chunk).toString('latin1');
      const end = head.indexOf('\n\n');
      if (end >= 0) {
        snapshotBytes = end + 2;
        streamed += head.length - snapshotBytes;
      }
    }
  })().catch(() => {});

  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const loadStart = Date.now();
  await page.goto(`${base}/ui`);
  await page
    .locator('article.task')
    .nth(ALLOCS * TASKS_PER_ALLOC - 1)
    .waitFor();
  const firstRenderMs = Date.now() - loadStart;
  await page.evaluate(`(() => {
    window.__frames = []; window.__long = [];
    let last = performance.now();
    const tick = (now) => { window.__frames.push(now - last); last = now; requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); })
      .observe({ type: 'longtask', buffered: false });
  })()`);

  const measure = async (name: string, during: () => Promise<void>) => {
    await page.evaluate('window.__frames = []; window.__long = []');
    const start = cpuSeconds(pid);
    const bytesStart = streamed;
    const t0 = Date.now();
    await during();
    const elapsed = (Date.now() - t0) / 1000;
    const frames = ((await page.evaluate('window.__frames')) as number[]).sort((a, b) => a - b);
    const long = (await page.evaluate('window.__long')) as number[];
    return {
      phase: name,
      seconds: Number(elapsed.toFixed(1)),
      frames: frames.length,
      frameMs: {
        median: Number(pct(frames, 0.5).toFixed(1)),
        p95: Number(pct(frames, 0.95).toFixed(1)),
        p99: Number(pct(frames, 0.99).toFixed(1)),
        max: Number((frames.at(-1) ?? 0).toFixed(1)),
      },
      longTasks: long.length,
      longTaskMs: Math.round(long.reduce((sum, value) => sum + value, 0)),
      pushedBytesPerSecond: Math.round((streamed - bytesStart) / elapsed),
      agentCpuPercent: Number((((cpuSeconds(pid) - start) / elapsed) * 100).toFixed(1)),
    };
  };

  const rest = await measure('page at rest (top)', async () => {
    await sleep(seconds * 1000);
  });
  // Reading through: a page down every 500 ms, new cards (charts, diagrams) drawn as they appear.
  const paging = await measure('paging down (one screen every 500 ms)', async () => {
    for (let i = 0; i < seconds * 2; i++) {
      await page.evaluate('window.scrollBy(0, window.innerHeight)');
      await sleep(500);
    }
  });
  // Flinging: the whole page top to bottom and back in the phase's time, a jump every 100 ms.
  const fling = await measure('flinging to the bottom and back', async () => {
    const height = (await page.evaluate('document.body.scrollHeight')) as number;
    const steps = seconds * 10;
    for (let i = 0; i <= steps; i++) {
      const fraction = i <= steps / 2 ? (2 * i) / steps : 2 - (2 * i) / steps;
      await page.evaluate(`window.scrollTo(0, ${Math.round(fraction * height)})`);
      await sleep(100);
    }
  });
  const charts = await page.locator('[data-chart="cpu"] canvas').count();
  counter.abort();
  await counting;
  console.log(
    JSON.stringify(
      {
        tasks: ALLOCS * TASKS_PER_ALLOC,
        sampleIntervalMs: 1000,
        firstRenderMs,
        snapshotBytes,
        chartsCreated: charts,
        agentCpuPercentNoPage: Number((idleCpu * 100).toFixed(1)),
        phases: [rest, paging, fling],
      },
      null,
      2,
    ),
  );
} finally {
  await browser.close();
  agent.kill('SIGTERM');
  await new Promise((resolve) => agent.once('close', resolve));
  rmSync(dir, { recursive: true, force: true });
}
