/**
 * Nomad's four stats hook tests (client/allocrunner/taskrunner/stats_hook_test.go), as behaviours,
 * with taskpulse's stricter expectations where the spec asks for them.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createStatsHook, StatsNotImplementedError, type TaskResourceUsage } from '../../src/index.js';
import { fakeStats } from '../support/fake-stats.js';
import { useLeakCheck } from '../support/leak-check.js';
import { sampleAt } from '../support/sample.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 5_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});
// After the fake-timer set-up: its check runs before the timers are made real again.
const leaks = useLeakCheck();

function hookWith(stats: ReturnType<typeof fakeStats>, intervalMs = 1000) {
  const updates: TaskResourceUsage[] = [];
  const hook = createStatsHook({
    taskId: 'web',
    intervalMs,
    stats,
    updater: { updateStats: (sample) => updates.push(sample) },
  });
  hook.actor.subscribe({ error: (error) => expect.unreachable(String(error)) });
  leaks.track(hook.actor);
  return { hook, updates };
}

it('poststart → exited: collection starts, then stops with nothing left', async () => {
  const stats = fakeStats(() => ({ samples: [], after: 'hang' }));
  const { hook } = hookWith(stats);
  hook.poststart();
  await vi.advanceTimersByTimeAsync(0);
  expect(hook.state).toBe('streaming');
  hook.exited();
  expect(stats.calls[0]?.signal.aborted).toBe(true);
  expect((await hook.done).reason).toBe('exited');
  expect(vi.getTimerCount()).toBe(0);
});

it('periodic: two samples with increasing timestamps, then zero samples after exited', async () => {
  const stats = fakeStats(() => ({
    samples: Array.from({ length: 100 }, (_, i) => sampleAt(5_000_000 + i * 100)),
    gapMs: 100,
  }));
  const { hook, updates } = hookWith(stats, 100);
  hook.poststart();
  await vi.advanceTimersByTimeAsync(150);
  expect(updates).toHaveLength(2);
  expect(updates[1]!.timestamp).toBeGreaterThan(updates[0]!.timestamp);
  hook.exited();
  await vi.advanceTimersByTimeAsync(1000);
  expect(updates).toHaveLength(2); // Nomad tolerates one late sample here; taskpulse none
  expect(vi.getTimerCount()).toBe(0);
});

it('not implemented: no update and no retry', async () => {
  const stats = fakeStats(() => ({ reject: new StatsNotImplementedError() }));
  const { hook, updates } = hookWith(stats);
  hook.poststart();
  await vi.advanceTimersByTimeAsync(60_000);
  expect(updates).toHaveLength(0);
  expect(stats.calls).toHaveLength(1);
  expect((await hook.done).reason).toBe('not-implemented');
});

it('backoff: exactly one call in 500 ms with a one-sample-then-end driver at a 1 min interval', async () => {
  const stats = fakeStats(() => ({ samples: [sampleAt(Date.now())] }));
  const { hook, updates } = hookWith(stats, 60_000);
  hook.poststart();
  await vi.advanceTimersByTimeAsync(500);
  expect(stats.calls).toHaveLength(1);
  expect(updates).toHaveLength(1); // Nomad measured 154,458 updates here before its fix
  hook.exited();
  await hook.done;
  expect(vi.getTimerCount()).toBe(0);
});
