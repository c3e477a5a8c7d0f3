/**
 * Issue 13, the agent's half: a data dir with the saved state, its lock and version, and a second
 * agent on it that takes up the first one's tasks by handle. The mock driver is shared by the two
 * agents (its tasks outlive the first one, as a plugin's or a container's do); the first agent
 * leaves by `detach`, which leaves the state exactly as a crash does (the CLI tests kill -9 it).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Agent, createAgent as createAgentUntracked } from '../../src/agent/create-agent.js';
import { parseJob } from '../../src/agent/load-job.js';
import { LOCK_FILE } from '../../src/agent/state/data-dir-lock.js';
import { StateError } from '../../src/agent/state/errors.js';
import { STATE_FILE, STATE_VERSION } from '../../src/agent/state/state-file.js';
import type { TaskDriver } from '../../src/drivers/contract.js';
import { TaskNotFoundError } from '../../src/drivers/errors.js';
import { createMockDriver, type MockDriver } from '../../src/drivers/mock.js';
import { createBus, type TaskBus } from '../../src/runtime/bus.js';
import { captureLogs } from '../support/log-capture.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'taskpulse-recovery-'));
});
const agents: Agent[] = [];
afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.stop({ mode: 'kill', deadlineMs: 2000 });
  rmSync(dir, { recursive: true, force: true });
});
const createAgent: typeof createAgentUntracked = (options) => {
  const agent = createAgentUntracked(options);
  agents.push(agent);
  return agent;
};

const JOB = parseJob({
  name: 'j',
  type: 'service',
  groups: [
    {
      name: 'g',
      restart: { attempts: 3, delay: '20ms', interval: '10m', mode: 'fail' },
      tasks: [
        { name: 'a', driver: 'mock', stats_interval: '50ms', config: {} },
        { name: 'b', driver: 'mock', stats_interval: '50ms', config: {} },
      ],
    },
  ],
});

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Seen {
  events: { task: string; type: string; message: string; exitCode?: number | null; at: number }[];
  samples: { task: string; at: number }[];
}
function watch(bus: TaskBus): Seen {
  const seen: Seen = { events: [], samples: [] };
  bus.on('task:event', ({ name, event }) =>
    seen.events.push({
      task: name,
      type: event.type,
      message: event.message,
      exitCode: event.exitCode,
      at: event.time,
    }),
  );
  bus.on('task:stats', ({ name }) => seen.samples.push({ task: name, at: Date.now() }));
  return seen;
}

const taskIds = (agent: Agent) =>
  agent.allocations.flatMap((alloc) => [...alloc.tasks.values()].map((t) => t.spec.id));
const runner = (agent: Agent, name: string) =>
  [...agent.allocations[0]!.tasks.values()].find((t) => t.name === name)!.runner;

/** Agent one: both tasks running and sampled, then detached (its state stays, as after a crash). */
async function firstAgent(mock: MockDriver) {
  const bus = createBus();
  const seen = watch(bus);
  const agent = createAgent({ jobs: [JOB], drivers: { mock }, dataDir: dir, bus });
  await agent.start();
  await until('samples of both tasks', () =>
    seen.samples.some((s) => s.task === 'a') && seen.samples.some((s) => s.task === 'b') ? true : undefined,
  );
  return { agent, seen };
}

describe('agent state and recovery (issue 13)', () => {
  it('a new agent on the data dir re-attaches every task: same ids, nothing started, stats resume', async () => {
    const mock = createMockDriver();
    const one = await firstAgent(mock);
    const ids = taskIds(one.agent);
    // One restart before the gap: its count and window must carry over.
    mock.exit(ids[0]!, { exitCode: 1 });
    await until('a restarted', () =>
      mock.calls.startTask === 3 && runner(one.agent, 'a').state === 'running' ? true : undefined,
    );
    const windowBefore = runner(one.agent, 'a').actor.getSnapshot().context.restartWindow;
    await one.agent.stop({ mode: 'detach' });
    expect(existsSync(join(dir, STATE_FILE))).toBe(true);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    expect(mock.liveTasks).toBe(2);

    const bus = createBus();
    const seen = watch(bus);
    const two = createAgent({ jobs: [JOB], drivers: { mock }, dataDir: dir, bus });
    await two.start();
    expect(taskIds(two)).toEqual(ids);
    expect(two.allocations[0]!.id).toBe(one.agent.allocations[0]!.id);
    await until('both running', () =>
      runner(two, 'a').state === 'running' && runner(two, 'b').state === 'running' ? true : undefined,
    );
    expect(mock.calls.startTask).toBe(3);
    expect(mock.calls.recoverTask).toBe(2);
    expect(
      seen.events
        .filter((e) => e.type === 'Recovered')
        .map((e) => e.task)
        .sort(),
    ).toEqual(['a', 'b']);
    expect(seen.events.map((e) => e.type).sort()).toEqual(['Received', 'Received', 'Recovered', 'Recovered']);
    const context = runner(two, 'a').actor.getSnapshot().context;
    expect(context.restarts).toBe(1);
    expect(context.restartWindow).toEqual(windowBefore);
    // Stats resume within two intervals (50 ms) of the recovery.
    const recoveredAt = seen.events.find((e) => e.type === 'Recovered' && e.task === 'b')!.at;
    const firstSample = await until('a sample of b', () => seen.samples.find((s) => s.task === 'b'));
    expect(firstSample.at - recoveredAt).toBeLessThanOrEqual(100);

    await two.stop({ mode: 'kill' });
    expect(mock.liveTasks).toBe(0);
    expect(existsSync(join(dir, STATE_FILE))).toBe(false);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    expect(two.stateWrites?.writes).toBeGreaterThan(0);
  });

  it('a task that exited in the gap is reported with its exit code, then the restart policy applies', async () => {
    const mock = createMockDriver();
    const one = await firstAgent(mock);
    await one.agent.stop({ mode: 'detach' });
    const [idA] = taskIds(one.agent);
    mock.exit(idA!, { exitCode: 3 });

    const bus = createBus();
    const seen = watch(bus);
    const two = createAgent({ jobs: [JOB], drivers: { mock }, dataDir: dir, bus });
    await two.start();
    await until('a restarted', () =>
      seen.events.some((e) => e.task === 'a' && e.type === 'Started') ? true : undefined,
    );
    const ofA = seen.events.filter((e) => e.task === 'a').map((e) => e.type);
    expect(ofA.slice(0, 5)).toEqual(['Received', 'Recovered', 'Terminated', 'Restarting', 'Task Setup']);
    expect(seen.events.find((e) => e.task === 'a' && e.type === 'Terminated')?.exitCode).toBe(3);
    expect(runner(two, 'a').actor.getSnapshot().context.restarts).toBe(1);
    expect(mock.calls.startTask).toBe(3); // a's two runs and b's one
  });

  it('a handle that cannot be re-attached is a failed recovery: one warn line, the restart policy decides', async () => {
    const mock = createMockDriver();
    const one = await firstAgent(mock);
    await one.agent.stop({ mode: 'detach' });
    const [idA] = taskIds(one.agent);
    // The task is gone for good (its process died, or its pid belongs to another now).
    const gone: TaskDriver = {
      ...mock,
      async recoverTask(spec, handle) {
        if (spec.id === idA) throw new TaskNotFoundError(spec.id);
        return mock.recoverTask!(spec, handle);
      },
    };
    const logs = captureLogs();
    const bus = createBus();
    const seen = watch(bus);
    const two = createAgent({ jobs: [JOB], drivers: { mock: gone }, dataDir: dir, bus, logger: logs.logger });
    await two.start();
    await until('a started again', () =>
      seen.events.some((e) => e.task === 'a' && e.type === 'Started') ? true : undefined,
    );
    const failed = logs.lines.filter((line) => line.level >= 40);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 40,
      task: 'a',
      msg: expect.stringMatching(/could not be recovered/),
      error: expect.stringMatching(/task not found/),
    });
    const ofA = seen.events.filter((e) => e.task === 'a').map((e) => e.type);
    expect(ofA.slice(0, 3)).toEqual(['Received', 'Driver Failure', 'Restarting']);
    expect(seen.events.filter((e) => e.task === 'b').map((e) => e.type)).toEqual(['Received', 'Recovered']);
  });

  it('saved tasks it starts are cleared by their driver first (a crash between fork and handle write); re-attached ones are not', async () => {
    const mock = createMockDriver();
    const one = await firstAgent(mock);
    await one.agent.stop({ mode: 'detach' });
    const [idA, idB] = taskIds(one.agent);
    // As a crash after a restart's fork of a and before the write of `starting` leaves it. The
    // driver cannot look tasks up by id (the exec driver in process): a task it does not know may
    // still run, so it is cleared first.
    const { inspectTask: _, ...withoutInspect } = mock;
    const path = join(dir, STATE_FILE);
    const state = JSON.parse(readFileSync(path, 'utf8'));
    const savedA = state.allocations[0].tasks.find((task: { name: string }) => task.name === 'a');
    savedA.state = 'restarting';
    writeFileSync(path, JSON.stringify(state));
    const order: string[] = [];
    const clearing: TaskDriver = {
      ...withoutInspect,
      async clearTasks(specs) {
        order.push(`clear ${specs.map((spec) => spec.id).join(',')}`);
        return { [idA!]: [4242] };
      },
      async startTask(spec) {
        order.push(`start ${spec.id}`);
        return mock.startTask(spec);
      },
    };
    const bus = createBus();
    const seen = watch(bus);
    const two = createAgent({ jobs: [JOB], drivers: { mock: clearing }, dataDir: dir, bus });
    await two.start();
    await until('a started', () =>
      seen.events.some((e) => e.task === 'a' && e.type === 'Started') ? true : undefined,
    );
    expect(order).toEqual([`clear ${idA}`, `start ${idA}`]);
    expect(seen.events.filter((e) => e.task === 'b').map((e) => e.type)).toEqual(['Received', 'Recovered']);
    expect(taskIds(two)).toEqual([idA, idB]);
  });

  it('a task saved as restarting that its driver still runs by id (a plugin) is re-attached, not started again', async () => {
    const mock = createMockDriver();
    const one = await firstAgent(mock);
    await one.agent.stop({ mode: 'detach' });
    // The restart's fork came before the state write of `starting`: the driver runs it, by its id.
    const path = join(dir, STATE_FILE);
    const state = JSON.parse(readFileSync(path, 'utf8'));
    const savedA = state.allocations[0].tasks.find((task: { name: string }) => task.name === 'a');
    savedA.state = 'restarting';
    delete savedA.handle;
    writeFileSync(path, JSON.stringify(state));
    const bus = createBus();
    const seen = watch(bus);
    const two = createAgent({ jobs: [JOB], drivers: { mock }, dataDir: dir, bus });
    await two.start();
    await until('a re-attached', () =>
      seen.events.some((e) => e.task === 'a' && e.type === 'Recovered') ? true : undefined,
    );
    expect(seen.events.filter((e) => e.task === 'a').map((e) => e.type)).toEqual(['Received', 'Recovered']);
    expect(mock.calls.startTask, 'nothing started a second time').toBe(2);
  });

  it('a driver that fails to clear is one warn line, and the task still starts', async () => {
    const mock = createMockDriver();
    const one = await firstAgent(mock);
    await one.agent.stop({ mode: 'detach' });
    const path = join(dir, STATE_FILE);
    const state = JSON.parse(readFileSync(path, 'utf8'));
    for (const task of state.allocations[0].tasks) task.state = 'restarting';
    writeFileSync(path, JSON.stringify(state));
    const logs = captureLogs();
    const bus = createBus();
    const seen = watch(bus);
    const { inspectTask: _, ...withoutInspect } = mock;
    const failing: TaskDriver = {
      ...withoutInspect,
      clearTasks: async () => {
        throw new Error('EACCES /proc');
      },
    };
    const two = createAgent({
      jobs: [JOB],
      drivers: { mock: failing },
      dataDir: dir,
      bus,
      logger: logs.logger,
    });
    await two.start();
    await until('both started', () =>
      seen.events.filter((e) => e.type === 'Started').length === 2 ? true : undefined,
    );
    const warns = logs.lines.filter((line) => line.level >= 40);
    expect(warns).toEqual([
      expect.objectContaining({
        level: 40,
        driver: 'mock',
        error: 'Error: EACCES /proc',
        msg: 'cannot look for what the last agent left of the tasks it was starting',
      }),
    ]);
  });

  it('a task saved as dead stays dead, and an agent with nothing left to run ends and clears the state', async () => {
    const mock = createMockDriver();
    const job = parseJob({
      name: 'j',
      type: 'batch',
      groups: [
        {
          name: 'g',
          tasks: [
            { name: 'done', driver: 'mock', config: { runForMs: 10 } },
            { name: 'long', driver: 'mock', config: {} },
          ],
        },
      ],
    });
    const one = createAgent({ jobs: [job], drivers: { mock }, dataDir: dir });
    await one.start();
    await until('done is dead', () => (runner(one, 'done').state === 'dead' ? true : undefined));
    await one.stop({ mode: 'detach' });
    mock.exit(taskIds(one)[1]!, { exitCode: 0 });

    const two = createAgent({ jobs: [job], drivers: { mock }, dataDir: dir });
    await two.start();
    const summary = await two.done;
    expect(summary.reason).toBe('tasks-done');
    expect(summary.tasks.map((t) => [t.task, t.state, t.failed])).toEqual([
      ['done', 'dead', false],
      ['long', 'dead', false],
    ]);
    expect(mock.calls.startTask).toBe(2);
    expect(existsSync(join(dir, STATE_FILE))).toBe(false);
  });

  it('a second agent on a locked data dir refuses to start; a stale lock of a dead agent does not block', async () => {
    const mock = createMockDriver();
    const one = createAgent({ jobs: [JOB], drivers: { mock }, dataDir: dir });
    await one.start();
    const two = createAgent({ jobs: [JOB], drivers: { mock }, dataDir: dir });
    // The lock names this very process: a second agent in it is refused all the same.
    await expect(two.start()).rejects.toThrow(StateError);
    await expect(createAgent({ jobs: [JOB], drivers: { mock }, dataDir: dir }).start()).rejects.toThrow(
      new RegExp(`data dir ${dir} is in use by another agent \\(pid ${process.pid}`),
    );
    expect(mock.calls.startTask).toBe(2);
    await one.stop({ mode: 'kill' });

    // A lock left by a process that is gone (pid 2^22 - 1 is above any pid_max default in use).
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4_194_303, starttime: 1 }));
    const three = createAgent({ jobs: [JOB], drivers: { mock }, dataDir: dir });
    await three.start();
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    await three.stop({ mode: 'kill' });
  });

  it.each([
    ['corrupt JSON', '{"version": 1, "allocations": [', /is corrupt \(.*JSON/],
    [
      'a bad field',
      JSON.stringify({ version: 1, savedAt: 1, agent: { pid: 1 }, allocations: [{ id: 7 }], plugins: {} }),
      /is corrupt \(allocations\.0\.id/,
    ],
    [
      'a newer version',
      JSON.stringify({ version: STATE_VERSION + 1, whatever: true }),
      new RegExp(
        `written by a newer taskpulse \\(state version ${STATE_VERSION + 1}; this one reads ${STATE_VERSION}\\)`,
      ),
    ],
  ])('a state with %s is a clear error naming the file; nothing starts', async (_, text, message) => {
    writeFileSync(join(dir, STATE_FILE), text);
    const mock = createMockDriver();
    const agent = createAgent({ jobs: [JOB], drivers: { mock }, dataDir: dir });
    const error = await agent.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StateError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(join(dir, STATE_FILE));
    expect(mock.calls.startTask).toBe(0);
    // The state is left as it was, for the operator to look at; the lock is released.
    expect(readFileSync(join(dir, STATE_FILE), 'utf8')).toBe(text);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('a running task whose driver cannot recover tasks is refused (never a second copy); nothing starts', async () => {
    const mock = createMockDriver();
    const one = await firstAgent(mock);
    await one.agent.stop({ mode: 'detach' });
    const { recoverTask: _, ...withoutRecover } = mock;
    const agent = createAgent({ jobs: [JOB], drivers: { mock: withoutRecover }, dataDir: dir });
    await expect(agent.start()).rejects.toThrow(/the mock driver cannot recover tasks; nothing was started/);
    expect(mock.calls.startTask).toBe(2);
    expect(existsSync(join(dir, STATE_FILE))).toBe(true);
  });

  it('a saved allocation the job files do not define is refused, naming it', async () => {
    const mock = createMockDriver();
    const one = await firstAgent(mock);
    await one.agent.stop({ mode: 'detach' });
    const other = parseJob({
      name: 'other',
      groups: [{ name: 'g', tasks: [{ name: 'a', driver: 'mock' }] }],
    });
    await expect(createAgent({ jobs: [other], drivers: { mock }, dataDir: dir }).start()).rejects.toThrow(
      /allocation j\.g\[0\] \(.*\), which the job files do not define/,
    );
    expect(mock.calls.startTask).toBe(2);
  });

  it('a saved task the job files now run on another driver is refused, naming both drivers', async () => {
    const mock = createMockDriver();
    const one = await firstAgent(mock);
    await one.agent.stop({ mode: 'detach' });
    const moved = (driver: string) =>
      parseJob({
        name: 'j',
        type: 'service',
        groups: [
          {
            name: 'g',
            tasks: [
              { name: 'a', driver, config: { command: 'true' } },
              { name: 'b', driver: 'mock', config: {} },
            ],
          },
        ],
      });
    const refused = createAgent({ jobs: [moved('exec')], drivers: { mock }, dataDir: dir }).start();
    await expect(refused).rejects.toBeInstanceOf(StateError);
    await expect(refused).rejects.toThrow(
      /task "a" of allocation j\.g\[0\] \(.*\) on the mock driver, and the job files now run it on exec; .*\(nothing was started\)/,
    );
    expect(mock.calls.startTask).toBe(2);
    expect(mock.calls.stopTask).toBe(0);
    expect(mock.liveTasks).toBe(2);
  });

  it('a saved dead task may move to another driver: nothing of it runs, so nothing is refused or started', async () => {
    const mock = createMockDriver();
    const job = (driver: string) =>
      parseJob({
        name: 'j',
        type: 'batch',
        groups: [
          {
            name: 'g',
            tasks: [
              { name: 'done', driver, config: driver === 'mock' ? { runForMs: 10 } : { command: 'true' } },
              { name: 'long', driver: 'mock', config: {} },
            ],
          },
        ],
      });
    const one = createAgent({ jobs: [job('mock')], drivers: { mock }, dataDir: dir });
    await one.start();
    await until('done is dead', () => (runner(one, 'done').state === 'dead' ? true : undefined));
    await one.stop({ mode: 'detach' });
    mock.exit(taskIds(one)[1]!, { exitCode: 0 });

    const two = createAgent({ jobs: [job('exec')], drivers: { mock }, dataDir: dir });
    await two.start();
    const summary = await two.done;
    expect(summary.tasks.map((t) => [t.task, t.state, t.failed])).toEqual([
      ['done', 'dead', false],
      ['long', 'dead', false],
    ]);
    expect(mock.calls.startTask).toBe(2);
  });
});
