/**
 * Quiet when well (spec rule 10, issue 8): normal task ends log no `warn`/`error` at all (Nomad logged
 * an Error at each batch job's end), and a driver that keeps failing logs rate-limited errors.
 */
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createMockDriver,
  createStatsHook,
  createTaskRunner,
  PluginShutdownError,
  TaskNotFoundError,
  type TaskRunner,
  type TaskRunnerOutput,
} from '../../src/index.js';
import { withFaults } from '../../src/testing/fault-injection.js';
import { fakeStats } from '../support/fake-stats.js';
import { useLeakCheck } from '../support/leak-check.js';
import { captureLogs } from '../support/log-capture.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});
const leaks = useLeakCheck();

const MINUTE = 60_000;
const noUpdates = { updateStats: () => {} };

describe('quiet when well', () => {
  it('1,000 short batch tasks that exit normally log zero warn and zero error lines', async () => {
    // Every line at debug and up, counted by level (not parsed: 1,000 tasks write tens of thousands).
    const counts = { debug: 0, warn: 0, error: 0, other: 0 };
    const examples: string[] = [];
    const logger = pino(
      { level: 'debug' },
      {
        write(line: string) {
          if (line.includes('"level":20')) counts.debug += 1;
          else if (line.includes('"level":40')) counts.warn += 1;
          else if (line.includes('"level":50')) counts.error += 1;
          else counts.other += 1;
          if (!line.includes('"level":20') && examples.length < 5) examples.push(line);
        },
      },
    );
    const driver = createMockDriver();
    const outputs: TaskRunnerOutput[] = [];
    // In waves of 25: vitest's fake clock scans every pending timer at each tick, so 1,000 runners at
    // once would cost O(timers²) for nothing the test needs.
    for (let wave = 0; wave < 40; wave++) {
      const runners: TaskRunner[] = [];
      for (let i = wave * 25; i < (wave + 1) * 25; i++) {
        const runner = createTaskRunner({
          task: {
            id: `alloc-${i}/job`,
            name: 'job',
            // Half the tasks' streams end after a sample or two, so the hook re-opens them.
            config: {
              runForMs: 50 + ((i * 37) % 4000),
              exitCode: 0,
              ...(i % 2 === 0 ? { stats: [{ samples: 1 + (i % 3) }] } : {}),
            },
          },
          driver,
          logger,
          jobType: 'batch',
          // Interval and run times chosen so tasks exit in every hook state: mid-stream, in backoff
          // after a stream end, while a call is being opened.
          statsIntervalMs: 250 + (i % 4) * 250,
        });
        leaks.track(runner.actor);
        runners.push(runner);
        runner.start();
      }
      await vi.advanceTimersByTimeAsync(5000);
      outputs.push(...(await Promise.all(runners.map((runner) => runner.done))));
    }

    expect(outputs).toHaveLength(1000);
    expect(outputs.every((output) => output.state === 'dead' && !output.failed)).toBe(true);
    expect(driver.calls.taskStats).toBeGreaterThan(1000);
    expect(counts.debug).toBeGreaterThan(1000); // the debug lines are there: the sink works
    expect(examples).toEqual([]); // no warn, error (or info) line at all
    expect(counts).toMatchObject({ warn: 0, error: 0, other: 0 });
    expect(driver.liveTasks).toBe(0);
    expect(driver.openStreams).toBe(0);
  }, 60_000);

  it.each([
    ['task not found', () => new TaskNotFoundError('alloc/web')],
    ['a plain error', () => new Error('docker API: 500')],
  ])('a driver failing with %s for 10 minutes logs at most one error line a minute', async (_, error) => {
    const logs = captureLogs();
    const stats = fakeStats(() => ({ reject: error() }));
    const hook = createStatsHook({ taskId: 'alloc/web', stats, logger: logs.logger, updater: noUpdates });
    leaks.track(hook.actor);
    hook.poststart();
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    hook.exited();
    const output = await hook.done;

    const errors = logs.at('error');
    // 1 s, 2 s, 4 s then every 5 s: ~120 failures in 10 minutes.
    expect(output.openErrors).toBeGreaterThan(100);
    expect(errors.length).toBeGreaterThanOrEqual(10);
    expect(errors.length).toBeLessThanOrEqual(11);
    // Nothing is lost: each line after the first says how many were suppressed before it.
    const suppressed = errors.reduce((sum, line) => sum + Number(line.suppressed ?? 0), 0);
    expect(errors.length + suppressed).toBeLessThanOrEqual(output.openErrors);
    expect(errors.length + suppressed).toBeGreaterThan(output.openErrors - 15);
    expect(logs.at('warn')).toEqual([]);
  });

  it('hangs (open time-outs) and failures together: each cause rate-limited on its own', async () => {
    const logs = captureLogs();
    const stats = fakeStats((call) => (call % 2 === 0 ? { hang: true } : { reject: new Error('boom') }));
    const hook = createStatsHook({
      taskId: 'alloc/web',
      stats,
      logger: logs.logger,
      updater: noUpdates,
      openTimeoutMs: 2000,
    });
    leaks.track(hook.actor);
    hook.poststart();
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    hook.exited();
    await hook.done;
    const byMsg = new Map<string, unknown[]>();
    for (const line of logs.at('error')) byMsg.set(line.msg, [...(byMsg.get(line.msg) ?? []), line]);
    expect([...byMsg.keys()].sort()).toEqual([
      'failed to start stats collection',
      'stats call timed out, retrying',
    ]);
    for (const lines of byMsg.values()) expect(lines.length).toBeLessThanOrEqual(11);
  });

  it('a driver whose process keeps going away logs no error at all (debug only)', async () => {
    const logs = captureLogs();
    const stats = fakeStats(() => ({ reject: new PluginShutdownError() }));
    const hook = createStatsHook({ taskId: 'alloc/web', stats, logger: logs.logger, updater: noUpdates });
    leaks.track(hook.actor);
    hook.poststart();
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    hook.exited();
    expect((await hook.done).openErrors).toBeGreaterThan(100);
    expect(logs.at('error')).toEqual([]);
    expect(logs.at('warn')).toEqual([]);
  });

  it('a task runner on a driver that fails every stats call: error lines stay ~1 a minute per hook', async () => {
    const logs = captureLogs();
    const driver = withFaults(createMockDriver(), {
      seed: 3,
      openFaultRate: 1,
      openFaultWeights: {
        'open-not-implemented': 0,
        'open-unrecoverable': 0,
        'open-plugin-shutdown': 0,
        'open-hang': 0,
      },
    });
    const runner = createTaskRunner({
      task: { id: 'alloc/svc', name: 'svc', config: {} },
      driver,
      logger: logs.logger,
    });
    leaks.track(runner.actor);
    runner.start();
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    const killed = runner.kill();
    await vi.advanceTimersByTimeAsync(0);
    await killed;
    expect(driver.faults['open-task-not-found'] + driver.faults['open-recoverable']).toBeGreaterThan(50);
    expect(logs.at('error').length).toBeGreaterThanOrEqual(10);
    expect(logs.at('error').length).toBeLessThanOrEqual(11);
  });
});
