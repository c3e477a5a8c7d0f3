/**
 * Invalid samples from drivers (spec rule 2, issue 8): every kind is dropped, with exactly one `warn`
 * per hook per cause, never published, and never crashes the hook, the runner or anything else.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createBus,
  createMockDriver,
  createStatsHook,
  createTaskRunner,
  findSampleProblem,
  type TaskResourceUsage,
} from '../../src/index.js';
import {
  corruptSample,
  INVALID_SAMPLE_CAUSE,
  INVALID_SAMPLE_KINDS,
  type InvalidSampleKind,
  mulberry32,
  withFaults,
} from '../../src/testing/fault-injection.js';
import { fakeStats } from '../support/fake-stats.js';
import { useLeakCheck } from '../support/leak-check.js';
import { captureLogs } from '../support/log-capture.js';
import { sampleAt } from '../support/sample.js';

const T0 = 1_700_000_000_000;

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});
const leaks = useLeakCheck();

/** A hook whose one stream yields `samples` and then stays open. */
function hookFed(samples: unknown[]) {
  const logs = captureLogs();
  const published: TaskResourceUsage[] = [];
  const stats = fakeStats(() => ({ samples: samples as TaskResourceUsage[], after: 'hang' }));
  const hook = createStatsHook({
    taskId: 'alloc/web',
    stats,
    logger: logs.logger,
    updater: { updateStats: (sample) => published.push(sample) },
  });
  leaks.track(hook.actor);
  hook.poststart();
  return { hook, logs, published, stats };
}

const dropWarnings = (logs: ReturnType<typeof captureLogs>) =>
  logs.at('warn').filter((line) => line.msg.startsWith('dropped invalid stats sample'));

describe('invalid samples', () => {
  describe.each(INVALID_SAMPLE_KINDS)('%s', (kind: InvalidSampleKind) => {
    it('is dropped with one warn naming its cause, never published, and the stream goes on', async () => {
      const random = mulberry32(INVALID_SAMPLE_KINDS.indexOf(kind) + 1);
      const first = sampleAt(T0);
      // Five bad samples of this kind, each corrupted differently (field, memory/CPU, totals/pids).
      const bad = Array.from({ length: 5 }, (_, i) => corruptSample(sampleAt(T0 + 1 + i), kind, random, T0));
      for (const sample of bad) {
        expect(findSampleProblem(sample, T0)?.cause).toBe(INVALID_SAMPLE_CAUSE[kind]);
      }
      const last = sampleAt(T0 + 10);
      const { hook, logs, published } = hookFed([first, ...bad, last]);
      await vi.advanceTimersByTimeAsync(0);

      expect(published).toEqual([first, last]);
      const warnings = dropWarnings(logs);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toContain(`(${INVALID_SAMPLE_CAUSE[kind]} at `);
      expect(logs.at('error')).toHaveLength(0);
      expect(hook.state).toBe('streaming');
      expect(hook.actor.getSnapshot().status).toBe('active');

      hook.exited();
      const output = await hook.done;
      expect(output).toMatchObject({ reason: 'exited', samples: 2, dropped: 5 });
    });
  });

  it('all kinds in one hook: one warn per distinct cause, not per kind or per sample', async () => {
    const random = mulberry32(99);
    const samples: unknown[] = [sampleAt(T0)];
    for (let round = 0; round < 3; round++) {
      for (const kind of INVALID_SAMPLE_KINDS)
        samples.push(corruptSample(sampleAt(T0 + 1), kind, random, T0));
    }
    const { hook, logs, published } = hookFed(samples);
    await vi.advanceTimersByTimeAsync(0);
    const causes = new Set(Object.values(INVALID_SAMPLE_CAUSE));
    expect(published).toHaveLength(1);
    expect(dropWarnings(logs)).toHaveLength(causes.size);
    const logged = dropWarnings(logs).map((line) => /\(([a-z-]+) at /.exec(line.msg)?.[1]);
    expect(new Set(logged)).toEqual(causes);
    hook.exited();
    expect(await hook.done).toMatchObject({ dropped: 3 * INVALID_SAMPLE_KINDS.length });
  });

  it('a new hook (the next run of the task) warns again: the limit is per hook', async () => {
    const bad = () => corruptSample(sampleAt(T0), 'nan', mulberry32(1));
    const a = hookFed([bad(), bad()]);
    const b = hookFed([bad(), bad()]);
    await vi.advanceTimersByTimeAsync(0);
    expect(dropWarnings(a.logs)).toHaveLength(1);
    expect(dropWarnings(b.logs)).toHaveLength(1);
    a.hook.exited();
    b.hook.exited();
  });

  it('values that break String() or are huge neither crash the hook nor flood the log', async () => {
    const base = sampleAt(T0);
    const hostile: unknown[] = [
      { ...base, timestamp: Object.create(null) },
      {
        ...base,
        timestamp: {
          toString: () => {
            throw new Error('boom');
          },
        },
      },
      { ...base, timestamp: Symbol('t') },
      { ...base, timestamp: 'x'.repeat(1_000_000) },
      {
        ...base,
        resourceUsage: { memory: { ...base.resourceUsage.memory, measured: [Object.create(null)] } },
      },
      { ...base, pids: [] },
      { ...base, resourceUsage: [] },
    ];
    const { hook, logs, published } = hookFed([...hostile, base]);
    await vi.advanceTimersByTimeAsync(0);
    expect(published).toEqual([base]);
    expect(hook.actor.getSnapshot().status).toBe('active');
    expect(logs.at('error')).toHaveLength(0);
    for (const line of dropWarnings(logs)) expect(line.msg.length).toBeLessThan(400);
    hook.exited();
    expect(await hook.done).toMatchObject({ reason: 'exited', dropped: hostile.length });
  });

  it('through a task runner: invalid samples never reach the bus, one warn per cause per run, the task ends normally', async () => {
    const logs = captureLogs();
    const bus = createBus();
    const onBus: unknown[] = [];
    bus.on('task:stats', ({ sample }) => onBus.push(sample));
    const faulty = withFaults(createMockDriver({ defaults: { runForMs: 30_500, exitCodes: [1, 0] } }), {
      seed: 7,
      openFaultRate: 0,
      invalidSampleRate: 0.5,
    });
    const runner = createTaskRunner({
      task: { id: 'alloc/web', name: 'web', config: {} },
      driver: faulty,
      bus,
      logger: logs.logger,
      jobType: 'batch',
      restartPolicy: { attempts: 1, delayMs: 1000, intervalMs: 60_000, mode: 'fail' },
    });
    leaks.track(runner.actor);
    runner.start();
    await vi.advanceTimersByTimeAsync(70_000);
    expect(await runner.done).toMatchObject({ state: 'dead', failed: false, restarts: 1 });

    expect(faulty.faults['invalid-sample']).toBeGreaterThan(10);
    for (const sample of onBus) {
      expect(faulty.isInjectedInvalid(sample)).toBe(false);
      expect(findSampleProblem(sample)).toBeUndefined();
    }
    expect(onBus.length).toBeGreaterThan(10);
    // Two runs, so two hooks: at most one warn per cause in each, and no error anywhere.
    const warnings = dropWarnings(logs);
    const perCause = new Map<string, number>();
    for (const line of warnings) {
      const cause = /\(([a-z-]+) at /.exec(line.msg)?.[1] ?? '?';
      perCause.set(cause, (perCause.get(cause) ?? 0) + 1);
    }
    for (const count of perCause.values()) expect(count).toBeLessThanOrEqual(2);
    expect(warnings.length).toBeGreaterThan(2);
    expect(logs.at('error')).toHaveLength(0);
  });
});
