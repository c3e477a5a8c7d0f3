/** One test per rule of shared/spec/stats-hook.md, named after it. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { retryDelayMs } from '../../machines/backoff.js';
import {
  createStatsHook,
  PluginShutdownError,
  publishableMetrics,
  RecoverableError,
  StatsNotImplementedError,
  TaskNotFoundError,
  type TaskResourceUsage,
} from '../../src/index.js';
import { type FakeStats, fakeStats, manualStream } from '../support/fake-stats.js';
import { useLeakCheck } from '../support/leak-check.js';
import { captureLogs } from '../support/log-capture.js';
import { sampleAt } from '../support/sample.js';

const MINUTE = 60_000;

function startHook(stats: FakeStats, options: Partial<Parameters<typeof createStatsHook>[0]> = {}) {
  const updates: TaskResourceUsage[] = [];
  const logs = captureLogs();
  const hook = createStatsHook({
    taskId: 'web',
    stats,
    updater: { updateStats: (sample) => updates.push(sample) },
    logger: logs.logger,
    ...options,
  });
  hook.actor.subscribe({ error: (error) => expect.unreachable(String(error)) });
  leaks.track(hook.actor);
  hook.poststart();
  return { hook, updates, logs };
}

/** After every test: the hook is terminal and nothing it started still runs. */
async function expectNothingLeft(hook: ReturnType<typeof createStatsHook>, stats: FakeStats) {
  if (hook.state !== 'terminal') hook.shutdown();
  await vi.advanceTimersByTimeAsync(0);
  expect(hook.state).toBe('terminal');
  expect(stats.open).toBe(0);
  expect(stats.calls.every((call) => call.signal.aborted || hook.state === 'terminal')).toBe(true);
  expect(vi.getTimerCount()).toBe(0);
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});
// After the fake-timer set-up: its check runs before the timers are made real again.
const leaks = useLeakCheck();

describe('stats hook rules', () => {
  it('rule 1: every taskStats call passes the configured interval (default 1000 ms)', async () => {
    const stats = fakeStats(() => ({ samples: [sampleAt(Date.now())] }));
    const { hook } = startHook(stats, { intervalMs: 250 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(stats.calls.length).toBeGreaterThan(2);
    expect(stats.calls.every((call) => call.intervalMs === 250)).toBe(true);
    await expectNothingLeft(hook, stats);

    const defaults = fakeStats(() => ({ hang: true }));
    const second = startHook(defaults);
    await vi.advanceTimersByTimeAsync(0);
    expect(defaults.calls[0]?.intervalMs).toBe(1000);
    await expectNothingLeft(second.hook, defaults);
  });

  it('rule 2: samples reach the updater synchronously and in order; an invalid one is dropped with one warn and counted', async () => {
    const bad = {
      ...sampleAt(1_000_500),
      resourceUsage: { cpu: { percent: Number.NaN } },
    } as TaskResourceUsage;
    const samples = [sampleAt(1_000_000, 1), bad, sampleAt(1_000_200, 2), bad, sampleAt(1_000_300, 3)];
    const stats = fakeStats((i) => (i === 0 ? { samples, after: 'hang' } : { hang: true }));
    const { hook, updates, logs } = startHook(stats);
    await vi.advanceTimersByTimeAsync(0);
    expect(updates.map((s) => s.resourceUsage.memory?.rss)).toEqual([1, 2, 3]);
    expect(logs.at('warn')).toHaveLength(1);
    expect(logs.at('warn')[0]?.msg).toMatch(/not-finite at resourceUsage\.cpu\.percent: NaN/);
    hook.exited();
    expect((await hook.done).dropped).toBe(2);
    expect((await hook.done).samples).toBe(3);
    await expectNothingLeft(hook, stats);
  });

  it('rule 2: a sample is handed on inside the same turn the stream yields it', async () => {
    const stream = manualStream();
    const stats = fakeStats(() => ({ stream: stream.iterable }));
    const { hook, updates } = startHook(stats);
    await vi.advanceTimersByTimeAsync(0);
    stream.push(sampleAt(Date.now()));
    await Promise.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(updates).toHaveLength(1);
    hook.exited();
    await expectNothingLeft(hook, stats);
  });

  it('rule 3: stream ended → wait one interval; one-sample-then-end at 1 min makes exactly one call in 500 ms', async () => {
    const stats = fakeStats(() => ({ samples: [sampleAt(Date.now())] }));
    const { hook, updates } = startHook(stats, { intervalMs: MINUTE });
    await vi.advanceTimersByTimeAsync(500);
    expect(stats.calls).toHaveLength(1);
    expect(updates).toHaveLength(1);
    expect(hook.state).toBe('backoff');
    await vi.advanceTimersByTimeAsync(MINUTE - 500);
    expect(stats.calls).toHaveLength(2);
    expect(stats.calls[1]!.at - stats.calls[0]!.at).toBe(MINUTE);
    await expectNothingLeft(hook, stats);
  });

  describe('rule 4: open errors are classified by class or code', () => {
    it('stats not implemented → terminal, one debug log, no retry', async () => {
      const stats = fakeStats(() => ({ reject: new StatsNotImplementedError() }));
      const { hook, logs } = startHook(stats);
      const output = await hook.done;
      await vi.advanceTimersByTimeAsync(MINUTE);
      expect(output.reason).toBe('not-implemented');
      expect(stats.calls).toHaveLength(1);
      expect(logs.lines.filter((l) => l.level >= 30)).toHaveLength(0);
      expect(logs.at('debug').filter((l) => /not implement/.test(l.msg))).toHaveLength(1);
      await expectNothingLeft(hook, stats);
    });

    it('RecoverableError(recoverable: false) → terminal, debug, never error', async () => {
      const stats = fakeStats(() => ({ reject: new RecoverableError('container stopped', false) }));
      const { hook, logs } = startHook(stats);
      expect((await hook.done).reason).toBe('unrecoverable');
      expect(logs.lines.filter((l) => l.level >= 30)).toHaveLength(0);
      await expectNothingLeft(hook, stats);
    });

    it('PluginShutdownError → backoff, debug log', async () => {
      const stats = fakeStats(() => ({ reject: new PluginShutdownError() }));
      const { hook, logs } = startHook(stats);
      await vi.advanceTimersByTimeAsync(0);
      expect(hook.state).toBe('backoff');
      expect(logs.lines.filter((l) => l.level >= 30)).toHaveLength(0);
      await expectNothingLeft(hook, stats);
    });

    it('anything else, TaskNotFoundError included → backoff, error log', async () => {
      for (const error of [new TaskNotFoundError('web'), new Error('boom'), { code: 'EPIPE' }]) {
        const stats = fakeStats(() => ({ reject: error }));
        const { hook, logs } = startHook(stats);
        await vi.advanceTimersByTimeAsync(0);
        expect(hook.state).toBe('backoff');
        expect(logs.at('error')).toHaveLength(1);
        await expectNothingLeft(hook, stats);
      }
    });

    it('an error shaped like a driver error (plain object with a code) classifies the same', async () => {
      const stats = fakeStats(() => ({
        reject: { code: 'TASKPULSE_RECOVERABLE', recoverable: false, message: 'x' },
      }));
      const { hook } = startHook(stats);
      expect((await hook.done).reason).toBe('unrecoverable');
      await expectNothingLeft(hook, stats);
    });
  });

  it('rule 5: retry delays 1, 2, 4, 5, 5 s measured between calls; the counter resets when a stream opens', async () => {
    let failing = true;
    const stats = fakeStats(() =>
      failing ? { reject: new Error('unavailable') } : { samples: [], after: 'hang' },
    );
    const { hook } = startHook(stats);
    await vi.advanceTimersByTimeAsync(17_000);
    const gaps = stats.calls.slice(1).map((call, i) => call.at - stats.calls[i]!.at);
    expect(gaps).toEqual([1000, 2000, 4000, 5000, 5000]);

    failing = false;
    await vi.advanceTimersByTimeAsync(5000);
    expect(hook.state).toBe('streaming');
    failing = true;
    hook.poststart(); // reopen: the first error after a successful open waits the base delay again
    await vi.advanceTimersByTimeAsync(0);
    expect(hook.actor.getSnapshot().context.retryDelayMs).toBe(1000);
    await expectNothingLeft(hook, stats);
  });

  it('rule 5: no overflow for any n, and jitter uses the injected random source', async () => {
    for (const n of [0, 10, 64, 1024, 1e9, Number.MAX_SAFE_INTEGER]) {
      const delay = retryDelayMs(n, { baseMs: 1000, capMs: 5000 });
      expect(Number.isFinite(delay) && delay > 0 && delay <= 5000).toBe(true);
    }
    const stats = fakeStats(() => ({ reject: new Error('unavailable') }));
    const { hook } = startHook(stats, { backoff: { jitter: 'full' }, random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(499);
    expect(stats.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(stats.calls).toHaveLength(2);
    await expectNothingLeft(hook, stats);

    const equal = fakeStats(() => ({ reject: new Error('unavailable') }));
    const second = startHook(equal, { backoff: { jitter: 'equal' }, random: () => 0 });
    await vi.advanceTimersByTimeAsync(500);
    expect(equal.calls).toHaveLength(2);
    await expectNothingLeft(second.hook, equal);
  });

  it('rule 6: a stream that throws is treated as ended (one interval), logged at warn, unless final', async () => {
    const stats = fakeStats((i) =>
      i === 0
        ? { samples: [sampleAt(Date.now())], after: { throw: new Error('pipe closed') } }
        : { hang: true },
    );
    const { hook, logs } = startHook(stats, { intervalMs: 5000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(hook.state).toBe('backoff');
    expect(logs.at('warn')).toHaveLength(1);
    expect(logs.at('error')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(4999);
    expect(stats.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(stats.calls).toHaveLength(2);
    await expectNothingLeft(hook, stats);

    const final = fakeStats(() => ({
      samples: [],
      after: { throw: new RecoverableError('container stopped', false) },
    }));
    const second = startHook(final);
    expect((await second.hook.done).reason).toBe('unrecoverable');
    expect(second.logs.lines.filter((l) => l.level >= 40)).toHaveLength(0);
    await expectNothingLeft(second.hook, final);
  });

  it('rule 7: exited during backoff ends the hook at once; no call starts after exited', async () => {
    const stats = fakeStats(() => ({ reject: new Error('unavailable') }));
    const { hook } = startHook(stats);
    await vi.advanceTimersByTimeAsync(0);
    expect(hook.state).toBe('backoff');
    hook.exited();
    expect(hook.state).toBe('terminal');
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(MINUTE);
    expect(stats.calls).toHaveLength(1);
    expect((await hook.done).reason).toBe('exited');
    await expectNothingLeft(hook, stats);
  });

  it('rule 8: zero late samples, not even one already read when exited is processed', async () => {
    const stream = manualStream();
    const stats = fakeStats(() => ({ stream: stream.iterable }));
    const { hook, updates } = startHook(stats);
    await vi.advanceTimersByTimeAsync(0);
    stream.push(sampleAt(Date.now()));
    await vi.advanceTimersByTimeAsync(0);
    expect(updates).toHaveLength(1);
    stream.push(sampleAt(Date.now() + 1)); // read by the hook's pending next() ...
    hook.exited(); // ... but exited is processed before that continuation runs
    stream.push(sampleAt(Date.now() + 2));
    await vi.advanceTimersByTimeAsync(1000);
    expect(updates).toHaveLength(1);
    await expectNothingLeft(hook, stats);
  });

  it('rule 9: a hung open is aborted after openTimeoutMs and retried; a stalled stream is closed and treated as ended', async () => {
    const stats = fakeStats((i) =>
      i === 0 ? { hang: true } : { samples: [sampleAt(Date.now())], after: 'hang' },
    );
    const { hook, logs } = startHook(stats, {
      openTimeoutMs: 10_000,
      stallTimeoutMs: 3000,
      intervalMs: 1000,
    });
    await vi.advanceTimersByTimeAsync(9_999);
    expect(stats.calls[0]?.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(stats.calls[0]?.signal.aborted).toBe(true);
    expect(hook.state).toBe('backoff');
    expect(logs.at('error')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(hook.state).toBe('streaming');
    await vi.advanceTimersByTimeAsync(3000);
    expect(stats.calls[1]?.signal.aborted).toBe(true);
    expect(hook.state).toBe('backoff');
    expect(logs.at('warn').map((l) => l.msg)).toEqual(['stats stream stalled']);
    await expectNothingLeft(hook, stats);
  });

  it('rule 10: a normal task end logs no warn/error; repeated errors are rate-limited to one a minute with a count', async () => {
    const quiet = fakeStats(() => ({ samples: [sampleAt(Date.now())] }));
    const first = startHook(quiet);
    await vi.advanceTimersByTimeAsync(5000);
    first.hook.exited();
    expect(first.logs.lines.filter((l) => l.level >= 40)).toHaveLength(0);
    await expectNothingLeft(first.hook, quiet);

    const failing = fakeStats(() => ({ reject: new TaskNotFoundError('web') }));
    const second = startHook(failing);
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    const errors = second.logs.at('error');
    expect(failing.calls.length).toBeGreaterThan(100);
    expect(errors.length).toBeGreaterThanOrEqual(10);
    expect(errors.length).toBeLessThanOrEqual(11);
    expect(errors[1]?.suppressed).toBeGreaterThan(0);
    await expectNothingLeft(second.hook, failing);
  });

  it('rule 10 (warn too): a stream that throws every interval logs its warn once a minute, then with a count', async () => {
    const throwing = fakeStats(() => ({
      samples: [sampleAt(Date.now())],
      after: { throw: new Error('boom') },
    }));
    const { hook, logs } = startHook(throwing, { intervalMs: 1000 });
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    const warns = logs.at('warn');
    // Without the limit: one warn per failed stream, one a second.
    expect(throwing.calls.length).toBeGreaterThan(500);
    expect(warns.map((line) => line.msg)).toEqual(Array(warns.length).fill('stats stream failed'));
    expect(warns.length).toBeGreaterThanOrEqual(10);
    expect(warns.length).toBeLessThanOrEqual(11);
    expect(warns[1]?.suppressed).toBeGreaterThan(40);
    await expectNothingLeft(hook, throwing);
  });

  it('rule 11: a second poststart replaces the collector; exited twice or before poststart is a no-op', async () => {
    const stats = fakeStats(() => ({ samples: [], after: 'hang' }));
    const { hook, logs } = startHook(stats);
    await vi.advanceTimersByTimeAsync(0);
    hook.poststart();
    await vi.advanceTimersByTimeAsync(0);
    expect(stats.calls).toHaveLength(2);
    expect(stats.calls[0]?.signal.aborted).toBe(true);
    expect(stats.calls[1]?.signal.aborted).toBe(false);
    expect(stats.open).toBe(1);
    expect(logs.at('debug').some((l) => /replacing/.test(l.msg))).toBe(true);
    hook.exited();
    hook.exited();
    expect((await hook.done).reason).toBe('exited');
    await expectNothingLeft(hook, stats);

    const never = fakeStats(() => ({ hang: true }));
    const idle = createStatsHook({ taskId: 'idle', stats: never, updater: { updateStats: () => {} } });
    idle.exited();
    idle.exited();
    idle.poststart();
    expect((await idle.done).reason).toBe('exited');
    expect(never.calls).toHaveLength(0);
  });

  it('rule 12: the hook never makes samples up', async () => {
    const emitted = [sampleAt(1_000_000), sampleAt(1_000_001)];
    const stats = fakeStats((i) => (i === 0 ? { samples: emitted } : { reject: new Error('gone') }));
    const { hook, updates } = startHook(stats);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(updates).toEqual(emitted);
    expect(updates[0]).toBe(emitted[0]);
    await expectNothingLeft(hook, stats);
  });

  it('rule 14: a field is published only when non-zero or measured', () => {
    const metrics = publishableMetrics({
      memory: { ...sampleAt(0, 0).resourceUsage.memory!, swap: 0, cache: 7, measured: ['RSS'] },
    });
    expect([...metrics]).toEqual([
      ['memory.rss', 0],
      ['memory.cache', 7],
    ]);
  });
});
