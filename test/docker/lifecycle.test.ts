/**
 * The docker driver through the real task runner and stats hook, against the fake engine (or a real
 * one with DOCKER_SOCKET). Recordings replayed: cpu-half.lifecycle.ndjson (+ cpu-half inspect/wait
 * bodies) for the cpu-half task, mem-grow.lifecycle.ndjson (+ mem-grow.inspect-exited.json) for OOM.
 */
import Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDockerDriver, type DockerDriver } from '../../src/drivers/docker/index.js';
import { RecoverableError } from '../../src/drivers/errors.js';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';
import { createBus } from '../../src/runtime/bus.js';
import { createStatsHook } from '../../src/stats-hook/create-stats-hook.js';
import { createTaskRunner } from '../../src/task-runner/create-task-runner.js';
import {
  captureLogs,
  cpuHalfTask,
  ENGINE_SECOND_MS,
  memGrowTask,
  REAL_SOCKET,
  startEngine,
  type TestEngine,
  until,
} from './engine.js';

let engine: TestEngine;
let driver: DockerDriver;
let logs: ReturnType<typeof captureLogs>;
const started: string[] = [];

beforeEach(async () => {
  engine = await startEngine();
  logs = captureLogs();
  driver = createDockerDriver({ socketPath: engine.socketPath, logger: logs.logger });
});

afterEach(async () => {
  // Leave no container behind, on the fake engine or a real one.
  for (const taskId of started.splice(0)) await driver.destroyTask(taskId, { force: true }).catch(() => {});
  await engine.close();
});

/** A stats hook on its own, over the driver, collecting what it publishes. */
function statsHookFor(taskId: string) {
  const published: TaskResourceUsage[] = [];
  const hook = createStatsHook({
    taskId,
    intervalMs: ENGINE_SECOND_MS,
    stats: { stats: (intervalMs, signal) => driver.taskStats(taskId, intervalMs, signal) },
    updater: { updateStats: (sample) => published.push(sample) },
    logger: logs.logger,
  });
  return { hook, published };
}

const withPercent = (samples: readonly TaskResourceUsage[]) =>
  samples.filter((sample) => sample.resourceUsage.cpu?.measured.includes('Percent'));

describe('through the task runner', () => {
  it('samples flow; kill stops, removes the container and the hook ends with no warn/error', async () => {
    const task = cpuHalfTask();
    const bus = createBus();
    const samples: TaskResourceUsage[] = [];
    let afterEnd = 0;
    let ended = false;
    bus.on('task:stats', ({ sample }) => (ended ? afterEnd++ : samples.push(sample)));
    bus.on('task:stats-ended', () => {
      ended = true;
    });
    const runner = createTaskRunner({
      task,
      driver,
      bus,
      logger: logs.logger,
      statsIntervalMs: ENGINE_SECOND_MS,
      killTimeoutMs: 1000,
    });
    runner.start();
    await until(() => withPercent(samples).length >= 3);
    const containerId = driver.containerIdOf(task.id);
    expect(containerId).toMatch(/^[0-9a-f]{64}$/);

    for (const sample of withPercent(samples)) {
      expect(sample.resourceUsage.cpu?.percent).toBeGreaterThan(REAL_SOCKET ? 40 : 49);
      expect(sample.resourceUsage.cpu?.percent).toBeLessThan(REAL_SOCKET ? 60 : 51);
      expect(sample.resourceUsage.memory?.measured).toContain('Usage');
    }
    // One sample per frame at most: timestamps strictly increase.
    for (let i = 1; i < samples.length; i++) {
      expect(samples[i]!.timestamp).toBeGreaterThan(samples[i - 1]!.timestamp);
    }

    const output = await runner.kill();
    expect(output).toMatchObject({ state: 'dead', lastExit: { exitCode: 137, oomKilled: false } });
    expect((await runner.statsHook.settled())?.reason).toMatch(/^(exited|unrecoverable)$/);
    expect(afterEnd).toBe(0);
    expect(logs.warnOrWorse()).toEqual([]);
    expect(driver.containerIdOf(task.id)).toBeUndefined();
    // The container is gone from the engine: a removed container answers 404.
    await expect(
      new Docker({ socketPath: engine.socketPath }).getContainer(containerId!).inspect(),
    ).rejects.toMatchObject({ statusCode: 404 });
    if (engine.fake) await until(() => engine.fake!.openStatsStreams === 0);
  });

  it('an OOM kill is reported from inspect (exit 137, oomKilled) though no frame shows it', async () => {
    const task = memGrowTask();
    const bus = createBus();
    const samples: TaskResourceUsage[] = [];
    bus.on('task:stats', ({ sample }) => samples.push(sample));
    const runner = createTaskRunner({
      task,
      driver,
      bus,
      logger: logs.logger,
      statsIntervalMs: ENGINE_SECOND_MS,
      jobType: 'batch',
      restartPolicy: { attempts: 0 },
    });
    runner.start();
    const output = await runner.done;
    expect(output).toMatchObject({
      state: 'dead',
      failed: true,
      lastExit: { exitCode: 137, oomKilled: true },
    });
    expect(runner.events.find((event) => event.type === 'Terminated')?.oomKilled).toBe(true);
    const usage = samples.map((sample) => sample.resourceUsage.memory?.maxUsage ?? 0);
    expect(Math.max(...usage)).toBeGreaterThan(16 * 2 ** 20);
    // The hook ended quietly: nothing at warn or above from it.
    expect(logs.warnOrWorse().filter((line) => line.hook === 'stats')).toEqual([]);
  }, 60_000);
});

describe('through the stats hook', () => {
  it('stop: zeroed frames are not published, the stream ends, the hook ends with no warn/error', async () => {
    const task = cpuHalfTask();
    const { driverId } = await driver.startTask(task);
    started.push(task.id);
    const { hook, published } = statsHookFor(task.id);
    hook.poststart();
    await until(() => withPercent(published).length >= 2);

    await new Docker({ socketPath: engine.socketPath }).getContainer(driverId!).stop({ t: 1 });
    const output = await hook.done;
    // The stream ended on the first zeroed frame; the reopen was answered "container stopped".
    expect(output.reason).toBe('unrecoverable');
    expect(output.streamEnds).toBeGreaterThanOrEqual(1);
    expect(logs.lines.some((line) => line.msg === 'stats stream ended')).toBe(true);
    expect(logs.warnOrWorse()).toEqual([]);
    for (const sample of published) {
      expect(sample.timestamp).toBeGreaterThan(0);
      expect(sample.resourceUsage.memory?.usage).toBeGreaterThan(0);
    }
    if (engine.fake) {
      expect(engine.fake.statsStreams[0]?.zeroedSent).toBeGreaterThanOrEqual(1);
    }
    expect(await driver.waitTask(task.id)).toMatchObject({ exitCode: 137, oomKilled: false });
  });

  it('remove mid-stream: the stream ends, the reopen gets 404, the hook ends quietly', async () => {
    const task = cpuHalfTask();
    const { driverId } = await driver.startTask(task);
    started.push(task.id);
    const { hook, published } = statsHookFor(task.id);
    hook.poststart();
    await until(() => published.length >= 2);

    await new Docker({ socketPath: engine.socketPath }).getContainer(driverId!).remove({ force: true });
    expect((await hook.done).reason).toBe('unrecoverable');
    expect(logs.warnOrWorse()).toEqual([]);
    await expect(driver.taskStats(task.id, 1000, new AbortController().signal)).rejects.toMatchObject({
      recoverable: false,
      message: 'container stopped',
    });
    await driver.destroyTask(task.id); // 404 from the engine: already gone, fine
  });

  it('remove before stats: the first open is answered 404 → container stopped, one debug line', async () => {
    const task = cpuHalfTask();
    const { driverId } = await driver.startTask(task);
    started.push(task.id);
    await new Docker({ socketPath: engine.socketPath }).getContainer(driverId!).remove({ force: true });

    const error = await driver
      .taskStats(task.id, 1000, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RecoverableError);
    expect(error).toMatchObject({ recoverable: false, message: 'container stopped' });

    const { hook } = statsHookFor(task.id);
    hook.poststart();
    expect(await hook.done).toMatchObject({ reason: 'unrecoverable', calls: 1, samples: 0 });
    expect(logs.warnOrWorse()).toEqual([]);
  });

  it('aborting the signal closes the HTTP stream at once', async () => {
    const task = cpuHalfTask();
    await driver.startTask(task);
    started.push(task.id);
    const controller = new AbortController();
    const stream = await driver.taskStats(task.id, ENGINE_SECOND_MS, controller.signal);
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    const pending = iterator.next();
    const abortedAt = Date.now();
    controller.abort();
    expect((await pending).done).toBe(true);
    if (engine.fake) {
      await until(() => engine.fake!.openStatsStreams === 0, 1000);
      const closedAt = engine.fake.statsStreams[0]?.closedAt ?? Number.POSITIVE_INFINITY;
      // Well under one frame period (20 ms here): the engine saw the close before its next frame.
      expect(closedAt - abortedAt).toBeLessThan(50);
    }
  });
});
