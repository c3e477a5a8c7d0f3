/**
 * tight-loop: the stats hook must never spin (spec rules 3 and 5).
 * 1. A driver that sends one sample and ends, interval 60 s: driver calls and updates in the first
 *    500 ms of real time (Nomad: 154,458 updates before its fix). A naive re-open loop runs beside it
 *    for contrast.
 * 2. A driver whose every open fails: the call times in 60 s of simulated time.
 * 3. 10,000 hooks failing together: the largest number of calls in any 100 ms window, jitter `none`
 *    vs `full`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createMockDriver, type MockDriver } from '../src/drivers/mock.js';
import { silentLogger } from '../src/runtime/logger.js';
import { createStatsHook, type StatsHook } from '../src/stats-hook/create-stats-hook.js';
import { mulberry32 } from '../src/testing/fault-injection.js';
import { type BenchOptions, type BenchResult, fmt, type Row } from './report.js';
import { useSimClock } from './sim-clock.js';

const logger = silentLogger();
const task = (id: string) => ({ id, name: id, config: {} });

function hookOn(
  driver: MockDriver,
  taskId: string,
  settings: Partial<Parameters<typeof createStatsHook>[0]>,
) {
  return createStatsHook({
    taskId,
    logger,
    stats: { stats: (intervalMs, signal) => driver.taskStats(taskId, intervalMs, signal) },
    updater: { updateStats() {} },
    ...settings,
  });
}

async function endAll(hooks: StatsHook[]) {
  for (const hook of hooks) hook.shutdown();
  await Promise.all(hooks.map((hook) => hook.done));
}

/** Part 1, real time: a stream of one sample, then its end. */
async function oneSampleThenEnd(): Promise<{ calls: number; updates: number; naiveUpdates: number }> {
  const driver = createMockDriver({ defaults: { stats: [{ samples: 1 }] } });
  await driver.startTask(task('once'));
  let updates = 0;
  const hook = hookOn(driver, 'once', { intervalMs: 60_000, updater: { updateStats: () => void updates++ } });
  hook.poststart();
  await sleep(500);
  const calls = driver.calls.taskStats;
  await endAll([hook]);

  // Contrast: what a loop that re-opens at once does in the same 500 ms (it starves the event loop,
  // so it checks the clock itself).
  let naiveUpdates = 0;
  const controller = new AbortController();
  const end = performance.now() + 500;
  while (performance.now() < end) {
    for await (const _ of await driver.taskStats('once', 60_000, controller.signal)) naiveUpdates++;
  }
  controller.abort();
  await driver.destroyTask('once', { force: true });
  return { calls, updates, naiveUpdates };
}

/** The spec's schedule: calls at 0, then after 1, 2, 4, 5, 5 … s, up to `horizonMs`. */
function expectedCallTimes(horizonMs: number): number[] {
  const times = [0];
  for (let n = 0; ; n++) {
    const next = (times.at(-1) ?? 0) + Math.min(1000 * 2 ** n, 5000);
    if (next > horizonMs) return times;
    times.push(next);
  }
}

/** Part 2, simulated time: every open fails. */
async function alwaysFailing(): Promise<number[]> {
  const clock = useSimClock();
  try {
    const driver = createMockDriver({ defaults: { stats: [{ openError: { error: 'other' } }] } });
    await driver.startTask(task('failing'));
    const hook = hookOn(driver, 'failing', {});
    hook.poststart();
    await clock.advance(60_000);
    await endAll([hook]);
    return driver.history.filter((call) => call.method === 'taskStats').map((call) => call.at);
  } finally {
    clock.restore();
  }
}

/** Largest number of `times` (sorted) inside any window [t, t + windowMs). */
function peakInWindow(times: number[], windowMs: number): number {
  let peak = 0;
  let from = 0;
  for (let to = 0; to < times.length; to++) {
    while ((times[to] ?? 0) - (times[from] ?? 0) >= windowMs) from++;
    peak = Math.max(peak, to - from + 1);
  }
  return peak;
}

/** Part 3, simulated time: `count` hooks whose driver fails every open, all started together. */
async function herd(count: number, horizonMs: number, jitter: 'none' | 'full') {
  const clock = useSimClock();
  try {
    const driver = createMockDriver({ defaults: { stats: [{ openError: { error: 'other' } }] } });
    const random = mulberry32(7);
    const hooks: StatsHook[] = [];
    for (let i = 0; i < count; i++) {
      await driver.startTask(task(`h${i}`));
      hooks.push(hookOn(driver, `h${i}`, { backoff: { jitter }, random }));
    }
    for (const hook of hooks) hook.poststart();
    await clock.advance(horizonMs);
    await endAll(hooks);
    const seen = new Set<string>();
    const retries: number[] = [];
    for (const call of driver.history) {
      if (call.method !== 'taskStats') continue;
      // Every hook's first call happens at t = 0 whatever the jitter: the herd is in the retries.
      if (seen.has(call.taskId)) retries.push(call.at);
      else seen.add(call.taskId);
    }
    retries.sort((a, b) => a - b);
    return { calls: driver.calls.taskStats, peak: peakInWindow(retries, 100) };
  } finally {
    clock.restore();
  }
}

export async function tightLoop({ smoke }: BenchOptions): Promise<BenchResult> {
  const once = await oneSampleThenEnd();
  const failing = await alwaysFailing();
  const expected = expectedCallTimes(60_000);
  const scheduleMet = failing.length === expected.length && failing.every((at, i) => at === expected[i]);
  const herdSize = smoke ? 500 : 10_000;
  const herdHorizon = smoke ? 15_000 : 60_000;
  const none = await herd(herdSize, herdHorizon, 'none');
  const full = await herd(herdSize, herdHorizon, 'full');
  const seconds = (times: number[]) => times.map((at) => at / 1000).join(', ');

  const rows: Row[] = [
    {
      metric: 'one sample then end, 60 s interval: driver calls in 500 ms',
      value: fmt.int(once.calls),
      target: '1',
      met: once.calls === 1,
    },
    {
      metric: 'one sample then end: updates in 500 ms',
      value: fmt.int(once.updates),
      target: '1',
      met: once.updates === 1,
    },
    { metric: 'naive re-open loop (contrast): updates in 500 ms', value: fmt.int(once.naiveUpdates) },
    {
      metric: 'always failing: call times in 60 s simulated (s)',
      value: seconds(failing),
      target: `${seconds(expected)} (1, 2, 4, 5, 5 … s)`,
      met: scheduleMet,
    },
    {
      metric: 'always failing: calls in 60 s simulated',
      value: String(failing.length),
      target: `${expected.length} (issue says 15; see note)`,
      met: scheduleMet,
    },
    {
      metric: `${fmt.int(herdSize)} hooks failing together: peak retries in 100 ms, jitter none`,
      value: fmt.int(none.peak),
    },
    {
      metric: `${fmt.int(herdSize)} hooks failing together: peak retries in 100 ms, jitter full`,
      value: fmt.int(full.peak),
    },
    {
      metric: `calls in ${herdHorizon / 1000} s simulated, jitter none / full`,
      value: `${fmt.int(none.calls)} / ${fmt.int(full.calls)}`,
    },
  ];
  return {
    name: 'tight-loop',
    title: 'tight-loop: no spinning, the backoff schedule, the thundering herd',
    rows,
    notes: [
      'Part 1 runs in real time (500 ms of wall clock); parts 2 and 3 in simulated time (node:test MockTimers, 1 ms steps, promises settled after each step).',
      'The spec schedule 1, 2, 4, 5, 5 … s puts calls at 0, 1, 3, 7, 12, 17 … 57 s: 14 calls in [0, 60 s]. The issue\'s "15 calls" does not follow from that schedule (a 15th call would be at 62 s); the target judged here is the exact schedule.',
      "Herd peaks count retries only: every hook's first call is at t = 0 whatever the jitter (the start burst equals the number of hooks in both cases). Jitter uses a seeded random source (mulberry32, seed 7).",
    ],
  };
}
