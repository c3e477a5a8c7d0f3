/** The agent's lifecycle with the mock driver, under fake time. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Agent, createAgent as createAgentUntracked } from '../../src/agent/create-agent.js';
import { parseJob } from '../../src/agent/load-job.js';
import { createMockDriver } from '../../src/drivers/mock.js';
import { createBus } from '../../src/runtime/bus.js';
import { useLeakCheck } from '../support/leak-check.js';
import { captureLogs } from '../support/log-capture.js';

afterEach(() => {
  vi.useRealTimers();
});
const leaks = useLeakCheck();
/** Every agent a test makes: when the test ends, each of its runners must be stopped. */
const agents: Agent[] = [];
const createAgent: typeof createAgentUntracked = (options) => {
  const agent = createAgentUntracked(options);
  agents.push(agent);
  return agent;
};
// Registered after the leak check, so it runs first and hands over the runners.
afterEach(() => {
  for (const agent of agents.splice(0)) {
    for (const alloc of agent.allocations)
      for (const task of alloc.tasks.values()) leaks.track(task.runner.actor);
  }
});

const settled = async <T>(promise: Promise<T>) => {
  let value: T | undefined;
  void promise.then((result) => {
    value = result;
  });
  await vi.advanceTimersByTimeAsync(0);
  return value;
};

describe('createAgent', () => {
  it('runs one allocation per group instance, applies the restart policy and ends when every task is dead', async () => {
    vi.useFakeTimers();
    const job = parseJob({
      name: 'j',
      type: 'batch',
      groups: [
        {
          name: 'g',
          count: 2,
          restart: { attempts: 1, delay: '1s', interval: '1m', mode: 'fail' },
          tasks: [{ name: 'flaky', driver: 'mock', config: { runForMs: 500, exitCode: 1 } }],
        },
        { name: 'h', tasks: [{ name: 'ok', driver: 'mock', config: { runForMs: 200 } }] },
      ],
    });
    const logs = captureLogs();
    const bus = createBus();
    const events: string[] = [];
    bus.on('task:event', ({ name, allocId, event }) =>
      events.push(`${allocId?.slice(0, 4)}:${name}:${event.type}`),
    );
    const agent = createAgent({ jobs: [job], logger: logs.logger, bus });
    expect(agent.allocations.map((alloc) => alloc.name)).toEqual(['j.g[0]', 'j.g[1]', 'j.h[0]']);
    expect(new Set(agent.allocations.map((alloc) => alloc.id)).size).toBe(3);
    await agent.start();

    await vi.advanceTimersByTimeAsync(600); // flaky exits 1 → restart in 1 s
    expect(agent.allocations[0]!.tasks.get('flaky')!.runner.state).toBe('restarting');
    expect(await settled(agent.done)).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1600); // second run exits 1 → attempts used up → dead, failed
    const summary = await agent.done;
    expect(summary.reason).toBe('tasks-done');
    expect(summary.failed).toBe(true);
    expect(
      summary.tasks.map((task) => [task.group, task.task, task.failed, task.restarts, task.exitCode]),
    ).toEqual([
      ['g', 'flaky', true, 1, 1],
      ['g', 'flaky', true, 1, 1],
      ['h', 'ok', false, 0, 0],
    ]);
    const allocId = agent.allocations[0]!.id.slice(0, 4);
    expect(events.filter((event) => event.startsWith(allocId))).toContain(`${allocId}:flaky:Restarting`);
    // Runner logs carry the alloc, group and task.
    const line = logs.lines.find((entry) => entry.msg === 'task state changed');
    expect(line).toMatchObject({
      job: 'j',
      task_group: expect.any(String),
      task: expect.any(String),
      alloc_id: expect.any(String),
    });
  });

  it('keeps serving after the tasks end until stopped, when asked', async () => {
    vi.useFakeTimers();
    const job = parseJob({
      name: 'j',
      type: 'batch',
      groups: [{ name: 'g', tasks: [{ name: 't', driver: 'mock', config: { runForMs: 100 } }] }],
    });
    const agent = createAgent({ jobs: [job], keepServing: true });
    await agent.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(agent.allocations[0]!.tasks.get('t')!.runner.state).toBe('dead');
    expect(await settled(agent.done)).toBeUndefined();
    expect(await agent.stop()).toMatchObject({ reason: 'stopped', failed: false });
  });

  it('detaches on stop when told to, leaving the tasks running', async () => {
    const driver = createMockDriver();
    const job = parseJob({ name: 'j', groups: [{ name: 'g', tasks: [{ name: 't', driver: 'mock' }] }] });
    const agent = createAgent({ jobs: [job], drivers: { mock: driver }, onStop: 'detach' });
    await agent.start();
    const summary = await agent.stop();
    expect(summary.tasks[0]?.state).toBe('detached');
    expect(driver.liveTasks).toBe(1);
    expect(driver.calls.stopTask).toBe(0);
    driver.exit(agent.allocations[0]!.tasks.get('t')!.spec.id);
  });

  it('at the shutdown deadline, force-destroys what is still alive and says so', async () => {
    vi.useFakeTimers();
    const logs = captureLogs();
    const job = parseJob({
      name: 'j',
      groups: [
        {
          name: 'g',
          tasks: [
            { name: 'stubborn', driver: 'mock', kill_timeout: '10s', config: { ignoreStopSignal: true } },
          ],
        },
      ],
    });
    const mock = createMockDriver();
    const destroyed: string[] = [];
    const destroyTask = mock.destroyTask.bind(mock);
    mock.destroyTask = (taskId, options) => {
      if (options?.force) destroyed.push(taskId);
      return destroyTask(taskId, options);
    };
    const agent = createAgent({
      jobs: [job],
      logger: logs.logger,
      shutdownDeadlineMs: 500,
      drivers: { mock },
    });
    await agent.start();
    const stopping = agent.stop();
    await vi.advanceTimersByTimeAsync(600);
    const summary = await stopping;
    const destroyedByTheStop = [...destroyed];
    expect(summary.timedOut).toBe(true);
    expect(logs.at('warn').map((line) => line.msg)).toContain(
      'shutdown deadline passed with tasks still alive: killing them',
    );
    // The deadline is the promise: the driver's force destroy ran, nothing of the task runs on.
    expect(destroyedByTheStop).toContain(agent.allocations[0]!.tasks.get('stubborn')!.spec.id);
    await vi.advanceTimersByTimeAsync(10_000); // let the mock's kill timeout run out
  });

  it('refuses a driver it does not know before starting anything', async () => {
    const job = parseJob({ name: 'j', groups: [{ name: 'g', tasks: [{ name: 't', driver: 'mock' }] }] });
    // A job built in code (not from a file) can name a driver nobody registered.
    (job.groups[0]!.tasks[0] as { driver: string }).driver = 'nope';
    const agent = createAgent({ jobs: [job] });
    await expect(agent.start()).rejects.toThrow('no driver named "nope"');
    expect(agent.allocations[0]!.tasks.size).toBe(0);
    expect(await agent.stop()).toMatchObject({ tasks: [] });
  });
});
