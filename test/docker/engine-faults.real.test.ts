/**
 * The docker driver and the task runner when the real Docker Engine fails: dockerd stopped and
 * continued (SIGSTOP/SIGCONT), killed with SIGKILL and started again without and with live-restore,
 * and a kill while dockerd is down. Real engine only (`npm run test:docker-faults`, as root, with the
 * engine of `../shared/tools/docker-engine.sh`); each test prints its timeline: what the fault did and
 * what the runner and the stats hook did, and when.
 *
 * Backoffs are shortened (engine 1 s doubling to 4 s instead of 5 s to 2 min; stall 3 s) to keep the
 * suite inside its CI budget; the schedule itself is tested with fake timers in faults-backoff.test.ts.
 */
import Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/agent/create-agent.js';
import { parseJob } from '../../src/agent/load-job.js';
import { createDockerDriver, type DockerDriver } from '../../src/drivers/docker/index.js';
import type { TaskEvent } from '../../src/runtime/bus.js';
import { createBus, type TaskBus } from '../../src/runtime/bus.js';
import { createTaskRunner, type TaskRunner } from '../../src/task-runner/create-task-runner.js';
import { captureLogs, cpuHalfTask, IMAGE, REAL_SOCKET, until } from './engine.js';
import {
  dockerdRunning,
  killDockerd,
  pauseDockerd,
  recordTimeline,
  resumeDockerd,
  startDockerd,
} from './engine-control.js';

if (!REAL_SOCKET)
  throw new Error('engine-faults.real.test.ts runs against a real engine: npm run test:docker-faults');
const socketPath = REAL_SOCKET;
const engine = new Docker({ socketPath });

let driver: DockerDriver;
let logs: ReturnType<typeof captureLogs>;
let bus: TaskBus;
let timeline: ReturnType<typeof recordTimeline>;
let runner: TaskRunner | undefined;
let stopAgent: (() => Promise<unknown>) | undefined;

beforeEach(async () => {
  if (!dockerdRunning()) throw new Error('the engine is not up at the start of a test');
  logs = captureLogs();
  bus = createBus();
  timeline = recordTimeline(bus);
  driver = createDockerDriver({
    socketPath,
    logger: logs.logger,
    engineBackoff: { baseMs: 1000, capMs: 4000 },
    stallTimeoutMs: 3000,
  });
});

afterEach(async (context) => {
  // Whatever happened: the engine up again, the runner or agent stopped, every container removed.
  if (!dockerdRunning()) {
    try {
      resumeDockerd();
    } catch {
      await startDockerd({ liveRestore: true });
    }
  }
  if (runner && runner.actor.getSnapshot().status === 'active') await runner.kill({ deadlineMs: 20_000 });
  await stopAgent?.();
  runner = undefined;
  stopAgent = undefined;
  for (const container of await engine.listContainers({
    all: true,
    filters: { label: ['taskpulse.task_id'] },
  })) {
    await engine.getContainer(container.Id).remove({ force: true });
  }
  timeline.addLogs(logs.lines);
  console.log(`\n── timeline: ${context.task.name}\n${timeline.text()}\n`);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const eventsOf = (events: readonly TaskEvent[], type: TaskEvent['type']) =>
  events.filter((e) => e.type === type);
const samplesSince = (atMs: number) =>
  timeline.entries.filter(
    (entry) => entry.who === 'hook' && entry.what.startsWith('sample') && entry.atMs > atMs,
  ).length;
const now = () => Date.now() - timeline.t0;

function startRunner(options: Partial<Parameters<typeof createTaskRunner>[0]> = {}): TaskRunner {
  runner = createTaskRunner({
    task: cpuHalfTask(),
    driver,
    bus,
    logger: logs.logger,
    statsIntervalMs: 1000,
    killTimeoutMs: 1000,
    ...options,
  });
  runner.start();
  return runner;
}

const inspect = (id: string) => engine.getContainer(id).inspect();

describe('dockerd stopped (SIGSTOP) and continued', () => {
  it('one stall warn, the stream comes back, the task keeps running; a kill after it works', async () => {
    const task = startRunner();
    await until(() => samplesSince(0) >= 3);
    const id = driver.containerIdOf(task.actor.getSnapshot().context.taskId)!;
    timeline.mark('SIGSTOP dockerd');
    pauseDockerd();
    const stoppedAt = now();
    await until(() => logs.warnOrWorse().length >= 1, 10_000); // the stall is noticed
    await sleep(2000);
    timeline.mark('SIGCONT dockerd');
    resumeDockerd();
    const continuedAt = now();
    await until(() => samplesSince(continuedAt) >= 2, 30_000);
    expect(task.state).toBe('running');
    expect(eventsOf(task.events, 'Terminated')).toEqual([]);
    expect(samplesSince(stoppedAt + 1500) - samplesSince(continuedAt)).toBe(0); // nothing made up
    const warns = logs.warnOrWorse();
    expect(warns.map((line) => line.msg)).toEqual(['docker stats failed, retrying with backoff']);
    expect(logs.errors()).toEqual([]);

    timeline.note('kill the task');
    const output = await task.kill();
    expect(output).toMatchObject({ state: 'dead', failed: false, lastExit: { exitCode: 137 } });
    await expect(inspect(id)).rejects.toMatchObject({ statusCode: 404 });
  }, 60_000);
});

describe('dockerd killed (SIGKILL) while the driver waits', () => {
  it('restarted without live-restore: the engine ends the container, the exit is reported, the task restarts', async () => {
    const task = startRunner({
      restartPolicy: { attempts: 1, intervalMs: 600_000, delayMs: 500, mode: 'fail' },
    });
    await until(() => samplesSince(0) >= 2);
    const firstId = driver.containerIdOf(task.actor.getSnapshot().context.taskId)!;
    timeline.mark('SIGKILL dockerd');
    await killDockerd();
    timeline.mark('dockerd and containerd gone; starting dockerd (live-restore off)');
    await startDockerd({ liveRestore: false });
    timeline.mark('engine answers again');
    await until(() => eventsOf(task.events, 'Terminated').length === 1, 30_000);
    // The restarting engine killed it (SIGKILL: 137); the inspect after the cut wait said so.
    expect(eventsOf(task.events, 'Terminated')[0]).toMatchObject({ exitCode: 137 });
    expect(logs.lines.map((line) => line.msg)).toContain(
      'docker wait: the container exited while the engine was away',
    );
    await until(() => eventsOf(task.events, 'Started').length === 2, 30_000);
    const secondId = driver.containerIdOf(task.actor.getSnapshot().context.taskId)!;
    expect(secondId).not.toBe(firstId);
    const restartedAt = now();
    await until(() => samplesSince(restartedAt) >= 2, 30_000);
    expect(logs.errors()).toEqual([]);

    timeline.note('kill the task');
    expect(await task.kill()).toMatchObject({ state: 'dead', failed: false, restarts: 1 });
    await expect(inspect(firstId)).rejects.toMatchObject({ statusCode: 404 });
    await expect(inspect(secondId)).rejects.toMatchObject({ statusCode: 404 });
  }, 90_000);

  it('restarted with live-restore: the container lives on, the wait is resumed, a later exit is reported', async () => {
    const task = startRunner({ jobType: 'batch', restartPolicy: { attempts: 0, mode: 'fail' } });
    await until(() => samplesSince(0) >= 2);
    const id = driver.containerIdOf(task.actor.getSnapshot().context.taskId)!;
    timeline.mark('SIGKILL dockerd');
    await killDockerd();
    timeline.mark('dockerd and containerd gone; starting dockerd (live-restore on)');
    await startDockerd({ liveRestore: true });
    timeline.mark('engine answers again');
    expect((await inspect(id)).State.Running).toBe(true);
    const backAt = now();
    await until(() => samplesSince(backAt) >= 2, 30_000);
    expect(task.state).toBe('running');
    expect(eventsOf(task.events, 'Terminated')).toEqual([]);

    timeline.mark('docker kill the container');
    await engine.getContainer(id).kill();
    await until(() => eventsOf(task.events, 'Terminated').length === 1, 30_000);
    const output = await task.done;
    expect(output).toMatchObject({ state: 'dead', failed: true, lastExit: { exitCode: 137 } });
    expect(eventsOf(task.events, 'Terminated')[0]).toMatchObject({ exitCode: 137 });
    // The cut wait was retried once the engine answered: it found the container running and waited
    // again, or (when its backoff step ended after the kill) found it exited, by inspect.
    const reconciled = logs.lines.filter((line) => line.msg.startsWith('docker wait: the'));
    expect(reconciled.map((line) => line.msg).join('\n')).toMatch(/still runs; waiting again|exited while/);
    expect(logs.errors()).toEqual([]);
    await expect(inspect(id)).rejects.toMatchObject({ statusCode: 404 });
  }, 90_000);
});

describe('a kill while dockerd is down', () => {
  it('the stop is retried with backoff; once the engine is back the container is stopped and removed', async () => {
    const task = startRunner();
    await until(() => samplesSince(0) >= 2);
    const id = driver.containerIdOf(task.actor.getSnapshot().context.taskId)!;
    timeline.mark('SIGKILL dockerd');
    await killDockerd();
    timeline.note('kill the task (deadline 20 s)');
    const killed = task.kill({ deadlineMs: 20_000 });
    await until(
      () => logs.lines.filter((line) => line.msg.startsWith('stopping the task failed')).length >= 2,
    );
    timeline.mark('starting dockerd (live-restore on)');
    await startDockerd({ liveRestore: true });
    timeline.mark('engine answers again');
    const output = await killed;
    expect(output).toMatchObject({ state: 'dead', failed: false, lastExit: { exitCode: 137 } });
    expect(task.events.at(-1)).toMatchObject({ type: 'Killed' });
    await expect(inspect(id)).rejects.toMatchObject({ statusCode: 404 });
  }, 90_000);

  it('the engine stays down past the deadline: the agent says the task is not confirmed stopped (failed)', async () => {
    const job = parseJob(
      {
        name: 'faults',
        groups: [
          {
            name: 'g',
            tasks: [
              {
                name: 'cpu-half',
                driver: 'docker',
                kill_timeout: '1s',
                config: { image: IMAGE, command: ['/bin/sh', '-c', 'while :; do :; done'], cpus: 0.5 },
              },
            ],
          },
        ],
      },
      'faults',
    );
    const agent = createAgent({ jobs: [job], drivers: { docker: driver }, bus, logger: logs.logger });
    stopAgent = () => agent.stop({ deadlineMs: 5000 });
    await agent.start();
    await until(() => samplesSince(0) >= 2);
    const [agentTask] = agent.allocations[0]!.tasks.values();
    const id = driver.containerIdOf(agentTask!.spec.id)!;
    timeline.mark('SIGKILL dockerd');
    await killDockerd();
    timeline.note('agent.stop (shutdown deadline 5 s)');
    const summary = await agent.stop({ deadlineMs: 5000 });
    expect(summary.failed).toBe(true);
    expect(summary.tasks[0]).toMatchObject({ failed: true, exitCode: null });
    const failure = agentTask!.runner.events.at(-1)!;
    expect(failure).toMatchObject({ type: 'Killing', failsTask: true });
    expect(failure.message).toContain(id);
    expect(agentTask!.runner.events.map((event) => event.type)).not.toContain('Killed');
    const errorLines = logs.errors();
    expect(errorLines.map((line) => line.msg)).toEqual([
      'task not confirmed stopped by its kill deadline; it may still be running',
    ]);
    expect(errorLines[0]?.driver_id).toBe(id);

    timeline.mark('starting dockerd (live-restore on)');
    await startDockerd({ liveRestore: true });
    // It was said honestly: the container did outlive the agent (afterEach removes it).
    expect((await inspect(id)).State.Running).toBe(true);
  }, 90_000);
});
