/**
 * The soak's short form (the long one: `npm run soak`): task runners under random faults on fake
 * time, every checker on. It must find no violation, and must find one when a layer misbehaves.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TaskDriver } from '../../src/index.js';
import { FAULT_KINDS, INVALID_SAMPLE_KINDS } from '../../src/testing/fault-injection.js';
import { runSoak } from '../../src/testing/soak.js';
import type { SoakClock } from '../../src/testing/soak-clock.js';
import { useLeakCheck } from '../support/leak-check.js';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2030, 0, 1) });
});
afterEach(() => {
  vi.useRealTimers();
});
useLeakCheck();

/** vitest's fake timers behind the soak's clock interface. */
const vitestClock: SoakClock = {
  now: () => Date.now(),
  advance: async (ms) => {
    await vi.advanceTimersByTimeAsync(ms);
  },
  pendingTimers: () => vi.getTimerCount(),
};

describe('soak (short)', () => {
  it('runs over a hundred task lifecycles under every fault kind with zero violations', async () => {
    const report = await runSoak({ seconds: 100, tasks: 12, seed: 42, clock: vitestClock });

    expect(report.violations).toEqual([]);
    expect(report.violationCounts).toEqual({});
    expect(report.lifecycles).toBeGreaterThan(120);
    expect(report.runs).toBeGreaterThan(report.lifecycles);
    expect(report.samplesPublished).toBeGreaterThan(500);
    for (const kind of FAULT_KINDS) expect(report.faults[kind], kind).toBeGreaterThan(0);
    for (const kind of INVALID_SAMPLE_KINDS) expect(report.invalidSamples[kind], kind).toBeGreaterThan(0);
    expect(report.killed + report.detached).toBeGreaterThan(0);
  }, 60_000);

  it('is reproducible: the same seed gives the same run', async () => {
    const a = await runSoak({ seconds: 30, tasks: 5, seed: 7, clock: vitestClock });
    const b = await runSoak({ seconds: 30, tasks: 5, seed: 7, clock: vitestClock });
    expect(b.faults).toEqual(a.faults);
    expect([b.lifecycles, b.runs, b.statsCalls, b.samplesPublished]).toEqual([
      a.lifecycles,
      a.runs,
      a.statsCalls,
      a.samplesPublished,
    ]);
  });

  it('catches a layer that calls the driver after the hook is terminal', async () => {
    let sabotaged = false;
    // On the first stats call of the soak, schedule one more call long after that task is gone.
    const callLate = (driver: TaskDriver): TaskDriver => ({
      ...driver,
      taskStats(taskId, intervalMs, signal) {
        if (!sabotaged) {
          sabotaged = true;
          setTimeout(() => {
            const controller = new AbortController();
            driver.taskStats(taskId, intervalMs, controller.signal).then(
              () => controller.abort(),
              () => {},
            );
          }, 20_000);
        }
        return driver.taskStats(taskId, intervalMs, signal);
      },
    });
    const report = await runSoak({
      seconds: 30,
      tasks: 3,
      seed: 1,
      clock: vitestClock,
      wrapDriver: callLate,
    });
    expect(sabotaged).toBe(true);
    expect(report.violationCounts['call-after-terminal']).toBe(1);
    expect(report.violations[0]?.kind).toBe('call-after-terminal');
  });

  it('catches a layer that keeps streams open after the hook closed them', async () => {
    // Streams opened with a signal nobody aborts: the hook closes its side, the driver's stays open.
    const neverClose = (driver: TaskDriver): TaskDriver => ({
      ...driver,
      taskStats: (taskId, intervalMs) => driver.taskStats(taskId, intervalMs, new AbortController().signal),
    });
    const report = await runSoak({
      seconds: 20,
      tasks: 3,
      seed: 3,
      clock: vitestClock,
      wrapDriver: neverClose,
    });
    expect(report.violationCounts['left-behind']).toBeGreaterThan(0);
    vi.clearAllTimers(); // what the sabotage left behind, so the leak check sees only this test's own
  });
});
