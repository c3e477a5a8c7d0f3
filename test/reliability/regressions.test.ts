/** Runtime bugs the soak and the fault injection found, each pinned by a focused test. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMockDriver, createStatsHook, createTaskRunner } from '../../src/index.js';
import { fakeStats } from '../support/fake-stats.js';
import { useLeakCheck } from '../support/leak-check.js';
import { captureLogs } from '../support/log-capture.js';
import { sampleAt } from '../support/sample.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});
const leaks = useLeakCheck();
const noUpdates = { updateStats: () => {} };

describe('regressions found by the soak', () => {
  it('jitter never shortens the one-interval wait after a stream ends (rule 3)', async () => {
    // Streams that end at once; `full` jitter with random() = 0 used to make the wait 0 ms.
    const stats = fakeStats(() => ({ samples: [sampleAt(Date.now())] }));
    const hook = createStatsHook({
      taskId: 'a/web',
      stats,
      updater: noUpdates,
      intervalMs: 1000,
      backoff: { jitter: 'full' },
      random: () => 0,
    });
    leaks.track(hook.actor);
    hook.poststart();
    await vi.advanceTimersByTimeAsync(10_000);
    hook.exited();
    const gaps = stats.calls.slice(1).map((call, i) => call.at - (stats.calls[i]?.at ?? 0));
    expect(stats.calls.length).toBe(11);
    expect(gaps.every((gap) => gap === 1000)).toBe(true);
  });

  it('jitter still applies after open errors (rule 5)', async () => {
    const stats = fakeStats(() => ({ reject: new Error('down') }));
    const hook = createStatsHook({
      taskId: 'a/web',
      stats,
      updater: noUpdates,
      backoff: { jitter: 'full' },
      random: () => 0.5,
    });
    leaks.track(hook.actor);
    hook.poststart();
    await vi.advanceTimersByTimeAsync(4000);
    hook.exited();
    // 0.5 s, 1 s, 2 s (half of 1, 2, 4 s): calls at 0, 500, 1500, 3500.
    expect(stats.calls.map((call) => call.at - (stats.calls[0]?.at ?? 0))).toEqual([0, 500, 1500, 3500]);
  });

  it("inside a runner the hook's actor id does not vary per task (XState memoizes per event type forever)", async () => {
    const ids = new Set<string>();
    for (const id of ['a1/web', 'a2/web']) {
      const runner = createTaskRunner({
        task: { id, name: 'web', config: { runForMs: 100 } },
        driver: createMockDriver(),
        jobType: 'batch',
      });
      leaks.track(runner.actor);
      runner.start();
      await vi.advanceTimersByTimeAsync(0);
      ids.add(String(runner.statsHook.current?.actor.id));
      await vi.advanceTimersByTimeAsync(200);
      await runner.done;
    }
    expect([...ids]).toEqual(['stats-hook:run']);
  });

  it('a driver throwing a value String() cannot print does not crash the hook', async () => {
    const logs = captureLogs();
    const stats = fakeStats(() => ({ reject: Object.create(null) }));
    const hook = createStatsHook({ taskId: 'a/web', stats, updater: noUpdates, logger: logs.logger });
    leaks.track(hook.actor);
    hook.poststart();
    await vi.advanceTimersByTimeAsync(5000);
    expect(hook.actor.getSnapshot().status).toBe('active');
    expect(stats.calls.length).toBeGreaterThan(2);
    expect(logs.at('error').map((line) => line.msg)).toEqual(['failed to start stats collection']);
    hook.exited();
    await hook.done;
  });
});
