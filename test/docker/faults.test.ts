/**
 * Engine faults injected into the fake engine (cpu-half.lifecycle.ndjson replayed): each is retried
 * inside the driver and reaches the hook at most as a stream end or a recoverable error, never as an
 * `error` log storm. Backoff is compressed here (20 ms base); faults-backoff.test.ts checks the real
 * 5 s × 2^n / 2 min schedule with fake timers.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDockerDriver, type DockerDriver } from '../../src/drivers/docker/index.js';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';
import { createStatsHook, type StatsHook } from '../../src/stats-hook/create-stats-hook.js';
import {
  type FakeDockerEngine,
  type StatsFault,
  startFakeDockerEngine,
} from '../support/fake-docker-engine.js';
import { captureLogs, cpuHalfTask, until } from './engine.js';

const FRAME_MS = 20; // speedup 50

let fake: FakeDockerEngine;
let driver: DockerDriver;
let logs: ReturnType<typeof captureLogs>;
let hook: StatsHook | undefined;
let taskId: string;

beforeEach(async () => {
  fake = await startFakeDockerEngine({ speedup: 50 });
  logs = captureLogs();
  driver = createDockerDriver({
    socketPath: fake.socketPath,
    logger: logs.logger,
    engineBackoff: { baseMs: 20, capMs: 80 },
    maxEngineRetries: 3,
    stallTimeoutMs: 100,
  });
  const task = cpuHalfTask();
  taskId = task.id;
  await driver.startTask(task);
});

afterEach(async () => {
  hook?.exited();
  await hook?.done;
  hook = undefined;
  await driver.destroyTask(taskId, { force: true }).catch(() => {});
  await fake.close();
});

function startHook() {
  const published: TaskResourceUsage[] = [];
  hook = createStatsHook({
    taskId,
    intervalMs: FRAME_MS,
    stats: { stats: (intervalMs, signal) => driver.taskStats(taskId, intervalMs, signal) },
    updater: { updateStats: (sample) => published.push(sample) },
    logger: logs.logger,
  });
  hook.poststart();
  return published;
}

const hookCounts = () => hook!.actor.getSnapshot().context.counts;

describe.each<[string, StatsFault[], number]>([
  ['connection reset after 2 frames', [{ kind: 'reset', afterFrames: 2 }], 2],
  [
    '500 on three stats requests',
    [{ kind: 'status-500' }, { kind: 'status-500' }, { kind: 'status-500' }],
    1,
  ],
  ['a garbage line after 2 frames', [{ kind: 'garbage', afterFrames: 2 }], 2],
  [
    'a stall (no bytes for 10 frame periods) after 2 frames',
    [{ kind: 'stall', afterFrames: 2, silentMs: 200 }],
    2,
  ],
])('%s', (_name, faults, streamsAtLeast) => {
  it('is retried inside the driver: samples go on, the hook sees no error, no error log', async () => {
    fake.injectStatsFault(...faults);
    const published = startHook();
    const statsRequestsBefore = fake.statsRequests;
    await until(() => fake.statsStreams.length >= streamsAtLeast && published.length >= 5);
    expect(fake.statsRequests - statsRequestsBefore).toBeGreaterThanOrEqual(faults.length);
    // The hook never noticed: one open, no stream end, no open error.
    expect(hookCounts()).toMatchObject({ calls: 1, openErrors: 0, streamEnds: 0 });
    expect(hook!.state).toBe('streaming');
    expect(logs.errors()).toEqual([]);
    // One warn when the streak starts, the rest at debug.
    const warns = logs.warnOrWorse();
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({
      msg: 'docker stats failed, retrying with backoff',
      op: 'stats',
      delayMs: 20,
    });
    // Samples after the reconnect continue in order: no duplicate, nothing from the past.
    for (let i = 1; i < published.length; i++) {
      expect(published[i]!.timestamp).toBeGreaterThan(published[i - 1]!.timestamp);
    }
  });
});

describe('the engine goes away (socket refused)', () => {
  it('retries with backoff, then a recoverable error per give-up: a few warn lines, no error line', async () => {
    const published = startHook();
    await until(() => published.length >= 2);
    await fake.close();
    // maxEngineRetries 3 → 20, 40, 80 ms, then the stream throws (recoverable); the hook warns and
    // reopens; the driver keeps its error count, so each new stream waits the cap (80 ms) first.
    await until(() => hookCounts().streamEnds >= 3, 10_000);
    expect(logs.errors()).toEqual([]);
    const warns = logs.warnOrWorse();
    const hookWarns = warns.filter((line) => line.hook === 'stats');
    // Repeated warns are rate-limited as errors are (one a minute per cause, then with a count).
    expect(hookCounts().streamEnds).toBeGreaterThanOrEqual(3);
    expect(hookWarns).toHaveLength(1);
    expect(hookWarns[0]).toMatchObject({ msg: 'stats stream failed' });
    // Driver: one warn at the start of the streak only.
    expect(warns.filter((line) => line.op === 'stats')).toHaveLength(1);
    expect(hookCounts()).toMatchObject({ openErrors: 0 });
  });
});
