/**
 * The docker driver through the real task runner and stats hook, against the fake engine (or a real
 * one with DOCKER_SOCKET). Recordings replayed: cpu-half.lifecycle.ndjson (+ cpu-half inspect/wait
 * bodies) for the cpu-half task, mem-grow.lifecycle.ndjson (+ mem-grow.inspect-exited.json) for OOM.
 * Against a real engine, CPU is judged against the container's own cgroup counter over each sample's
 * window (a loaded host may give the 0.5 CPU quota less than half a core), and every container a
 * test made is removed afterwards whatever happened.
 */
import Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDockerDriver, type DockerDriver } from '../../src/drivers/docker/index.js';
import { RecoverableError } from '../../src/drivers/errors.js';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';
import { createBus } from '../../src/runtime/bus.js';
import { createStatsHook } from '../../src/stats-hook/create-stats-hook.js';
import { createTaskRunner, type TaskRunner } from '../../src/task-runner/create-task-runner.js';
import { cgroupCpuReader, pollCgroupCpu } from './cgroup-cpu.js';
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
/** Task ids and runners of the current test, cleaned up in afterEach. */
const taskIds = new Set<string>();
const runners: TaskRunner[] = [];

beforeEach(async () => {
  engine = await startEngine();
  logs = captureLogs();
  driver = createDockerDriver({ socketPath: engine.socketPath, logger: logs.logger });
});

afterEach(async () => {
  // Leave no container behind, on the fake engine or a real one, whatever the test did or failed at.
  for (const runner of runners.splice(0)) {
    if (runner.actor.getSnapshot().status === 'active') await runner.kill().catch(() => {});
  }
  for (const taskId of started.splice(0)) await driver.destroyTask(taskId, { force: true }).catch(() => {});
  if (REAL_SOCKET) {
    const docker = new Docker({ socketPath: engine.socketPath });
    const ours = await docker.listContainers({ all: true, filters: { label: ['taskpulse.task_id'] } });
    for (const container of ours) {
      if (taskIds.has(container.Labels['taskpulse.task_id'] ?? '')) {
        await docker.getContainer(container.Id).remove({ force: true });
      }
    }
  }
  taskIds.clear();
  await engine.close();
});

/** A runner whose task is cleaned up after the test, whatever happens. */
function runnerFor(...args: Parameters<typeof createTaskRunner>): TaskRunner {
  const runner = createTaskRunner(...args);
  taskIds.add(args[0].task.id);
  runners.push(runner);
  return runner;
}

/** A task started directly on the driver, destroyed after the test. */
async function startDirect(task: ReturnType<typeof cpuHalfTask>) {
  taskIds.add(task.id);
  started.push(task.id);
  return driver.startTask(task);
}

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
    const runner = runnerFor({
      task,
      driver,
      bus,
      logger: logs.logger,
      statsIntervalMs: ENGINE_SECOND_MS,
      killTimeoutMs: 1000,
    });
    runner.start();
    await until(() => driver.containerIdOf(task.id) !== undefined);
    const containerId = driver.containerIdOf(task.id);
    expect(containerId).toMatch(/^[0-9a-f]{64}$/);
    // The real container's own CPU counter, read every 20 ms from now on.
    const cgroup = REAL_SOCKET
      ? pollCgroupCpu(
          cgroupCpuReader(
            (await new Docker({ socketPath: engine.socketPath }).getContainer(containerId!).inspect()).State
              .Pid,
          ),
        )
      : undefined;
    await until(() => withPercent(samples).length >= 4);
    cgroup?.stop();

    const compared: string[] = [];
    for (const [i, sample] of samples.entries()) {
      expect(sample.resourceUsage.memory?.measured).toContain('Usage');
      const percent = sample.resourceUsage.cpu?.percent;
      if (!sample.resourceUsage.cpu?.measured.includes('Percent') || percent === undefined) continue;
      if (!cgroup) {
        // The recording: 49.66–50.56 %.
        expect(percent).toBeGreaterThan(49);
        expect(percent).toBeLessThan(51);
        continue;
      }
      // A sample's window is its frame's read minus the previous frame's: the previous sample when
      // it is one frame period earlier.
      const previous = samples[i - 1];
      if (!previous || Math.abs(sample.timestamp - previous.timestamp - 1000) > 100) continue;
      const truth = cgroup.percent(previous.timestamp, sample.timestamp);
      if (truth === undefined) continue;
      compared.push(`${percent.toFixed(2)} vs cgroup ${truth.toFixed(2)}`);
      // Within 3 points: the engine divides by /proc/stat's system time in 10 ms ticks (±1 % of a
      // 2 s window), the counter is read every 20 ms and the engine's read time is its own.
      expect(Math.abs(percent - truth), compared.join('; ')).toBeLessThan(3);
      expect(percent).toBeLessThan(55); // the 0.5 CPU quota holds
    }
    if (cgroup) {
      expect(compared.length, 'samples compared with the cgroup counter').toBeGreaterThanOrEqual(2);
      console.info(`CPU % reported vs the container's cgroup over the same window: ${compared.join('; ')}`);
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
    const runner = runnerFor({
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
    const { driverId } = await startDirect(task);
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
    const { driverId } = await startDirect(task);
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
    const { driverId } = await startDirect(task);
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
    await startDirect(task);
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
