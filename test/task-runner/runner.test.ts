import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createBus,
  createMockDriver,
  createTaskRunner,
  type MockDriver,
  type MockTaskScript,
  publishableMetrics,
  type TaskBusEvents,
  type TaskRunner,
} from '../../src/index.js';
import { useLeakCheck } from '../support/leak-check.js';
import { captureLogs } from '../support/log-capture.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 10_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});
// After the fake-timer set-up: its check runs before the timers are made real again.
const leaks = useLeakCheck();

function runnerFor(script: MockTaskScript, options: Partial<Parameters<typeof createTaskRunner>[0]> = {}) {
  const driver = createMockDriver({ defaults: script });
  const bus = createBus();
  const logs = captureLogs();
  const runner = createTaskRunner({
    task: { id: 'alloc-1/web', name: 'web', allocId: 'alloc-1', config: {} },
    driver,
    bus,
    logger: logs.logger,
    restartPolicy: { attempts: 2, intervalMs: 60_000, delayMs: 1000, mode: 'fail' },
    ...options,
  });
  runner.actor.subscribe({ error: (error) => expect.unreachable(String(error)) });
  leaks.track(runner.actor);
  return { driver, bus, logs, runner };
}

/** Nothing left: runner and hook actors stopped, no timers, no task alive in the driver. */
function expectNothingLeft(runner: TaskRunner, driver: MockDriver, { detached = false } = {}) {
  expect(runner.actor.getSnapshot().status).toBe('done');
  expect(runner.statsHook.current?.state ?? 'terminal').toBe('terminal');
  expect(vi.getTimerCount()).toBe(0);
  expect(driver.openStreams).toBe(0);
  if (!detached) expect(driver.liveTasks).toBe(0);
}

const eventTypes = (runner: TaskRunner) => runner.events.map((event) => event.type);

describe('task runner', () => {
  it('start failure → restarts → dead (failed)', async () => {
    const { runner, driver } = runnerFor({
      startError: { error: 'recoverable', message: 'image pull failed' },
    });
    runner.start();
    await vi.advanceTimersByTimeAsync(10_000);
    const output = await runner.done;
    expect(driver.calls.startTask).toBe(3);
    expect(output).toMatchObject({ state: 'dead', failed: true, restarts: 2 });
    expect(eventTypes(runner).filter((t) => t === 'Restarting')).toHaveLength(2);
    expect(eventTypes(runner).at(-1)).toBe('Not Restarting');
    expectNothingLeft(runner, driver);
  });

  it('an unrecoverable start error ends the task at once, failed', async () => {
    const { runner, driver, logs } = runnerFor({
      startError: { error: 'unrecoverable', message: 'no such binary' },
    });
    runner.start();
    const output = await runner.done;
    expect(output).toMatchObject({ state: 'dead', failed: true, restarts: 0 });
    expect(driver.calls.startTask).toBe(1);
    expect(logs.at('error')).toHaveLength(1);
    expectNothingLeft(runner, driver);
  });

  it('a clean exit of a batch task → dead, with the stats hook terminal before destroyTask is called', async () => {
    const { runner, driver, logs } = runnerFor({ runForMs: 3500 }, { jobType: 'batch' });
    const hookStateAtDestroy: string[] = [];
    const destroy = driver.destroyTask.bind(driver);
    driver.destroyTask = (taskId, options) => {
      hookStateAtDestroy.push(runner.statsHook.current?.state ?? 'none');
      return destroy(taskId, options);
    };
    runner.start();
    await vi.advanceTimersByTimeAsync(3500);
    const output = await runner.done;
    expect(output).toMatchObject({ state: 'dead', failed: false, lastExit: { exitCode: 0 } });
    expect(hookStateAtDestroy).toEqual(['terminal']);
    expect((await runner.statsHook.current?.done)?.reason).toBe('exited');
    expect(eventTypes(runner)).toEqual(['Received', 'Task Setup', 'Started', 'Terminated', 'Not Restarting']);
    expect(logs.lines.filter((line) => line.level >= 40)).toEqual([]);
    expectNothingLeft(runner, driver);
  });

  it('a batch task that fails once is restarted by its policy, then succeeds', async () => {
    const { runner, driver } = runnerFor({ runForMs: 1000, exitCodes: [1, 0] }, { jobType: 'batch' });
    runner.start();
    await vi.advanceTimersByTimeAsync(5000);
    const output = await runner.done;
    expect(output).toMatchObject({ state: 'dead', failed: false, restarts: 1, lastExit: { exitCode: 0 } });
    expect(driver.calls.startTask).toBe(2);
    expectNothingLeft(runner, driver);
  });

  it('restart policy mode delay waits for the interval to run out instead of failing', async () => {
    const { runner, driver } = runnerFor(
      { runForMs: 100, exitCode: 1 },
      { jobType: 'batch', restartPolicy: { attempts: 1, intervalMs: 10_000, delayMs: 100, mode: 'delay' } },
    );
    runner.start();
    await vi.advanceTimersByTimeAsync(400); // run, restart once within policy, run again
    expect(driver.calls.startTask).toBe(2);
    expect(runner.state).toBe('restarting');
    await vi.advanceTimersByTimeAsync(9000);
    expect(driver.calls.startTask).toBe(2);
    await vi.advanceTimersByTimeAsync(800);
    expect(driver.calls.startTask).toBe(3);
    await runner.kill();
    expectNothingLeft(runner, driver);
  });

  it('kill while the stats hook is in backoff: the task is stopped, the hook ends at once', async () => {
    const { runner, driver, logs } = runnerFor({
      stats: [{ openError: { error: 'other', message: 'busy' } }],
    });
    runner.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(runner.state).toBe('running');
    expect(runner.statsHook.current?.state).toBe('backoff');
    const output = await runner.kill();
    expect(output).toMatchObject({ state: 'dead', failed: false });
    expect(driver.calls.stopTask).toBe(1);
    expect(driver.calls.taskStats).toBe(1);
    expect(eventTypes(runner).slice(-3)).toEqual(['Killing', 'Terminated', 'Killed']);
    expect(logs.at('error')).toHaveLength(1); // the open error itself, nothing from the kill
    expectNothingLeft(runner, driver);
  });

  it('shutdown leaves the task running and stops the hook', async () => {
    const { runner, driver } = runnerFor({});
    runner.start();
    await vi.advanceTimersByTimeAsync(2500);
    const output = await runner.shutdown();
    expect(output.state).toBe('detached');
    expect(driver.calls.stopTask).toBe(0);
    expect(driver.calls.destroyTask).toBe(0);
    expect(driver.liveTasks).toBe(1);
    expect((await runner.statsHook.current?.done)?.reason).toBe('shutdown');
    expectNothingLeft(runner, driver, { detached: true });
    await driver.destroyTask('alloc-1/web', { force: true });
  });

  it('rule 13: after exit the last sample stays readable, marked exited, and the series are dropped', async () => {
    const { runner, driver, bus } = runnerFor({ runForMs: 2500 }, { jobType: 'batch' });
    const seen: (keyof TaskBusEvents)[] = [];
    bus.on('*', (type) => seen.push(type));
    runner.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(runner.latestResourceUsage()?.exited).toBe(false);
    await vi.advanceTimersByTimeAsync(2000);
    await runner.done;
    const latest = runner.latestResourceUsage();
    expect(latest?.exited).toBe(true);
    expect(latest?.sample.resourceUsage.cpu?.percent).toBe(10);
    expect(seen.filter((t) => t === 'task:stats')).toHaveLength(3);
    expect(seen.lastIndexOf('task:stats')).toBeLessThan(seen.indexOf('task:stats-ended'));
    expectNothingLeft(runner, driver);
  });

  it("a sample's bus event names the task and carries its publishable metrics, the same map at each read", async () => {
    const { runner, driver, bus } = runnerFor({ runForMs: 1500 }, { jobType: 'batch' });
    const events: TaskBusEvents['task:stats'][] = [];
    bus.on('task:stats', (event) => events.push(event));
    runner.start();
    await vi.advanceTimersByTimeAsync(2000);
    await runner.done;
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) {
      expect(event).toMatchObject({ taskId: 'alloc-1/web', name: 'web', allocId: 'alloc-1' });
      expect(event.metrics).toEqual(publishableMetrics(event.sample.resourceUsage));
      expect(event.metrics.size).toBeGreaterThan(0);
      expect(event.metrics).toBe(event.metrics);
    }
    expectNothingLeft(runner, driver);
  });

  it('publishes state changes on the bus and calls user hooks by phase', async () => {
    const phases: string[] = [];
    const hook = {
      name: 'log-shipper',
      prestart: () => void phases.push('prestart'),
      poststart: () => void phases.push('poststart'),
      exited: () => void phases.push('exited'),
      stop: () => void phases.push('stop'),
    };
    const { runner, driver, bus } = runnerFor({ runForMs: 100 }, { jobType: 'batch', hooks: [hook] });
    const states: string[] = [];
    bus.on('task:state', ({ state }) => states.push(state));
    runner.start();
    await vi.advanceTimersByTimeAsync(100);
    await runner.done;
    expect(states).toEqual(['starting', 'running', 'exited', 'dead']); // `pending` was published at creation
    expect(phases).toEqual(['prestart', 'poststart', 'exited', 'stop']);
    expectNothingLeft(runner, driver);
  });
});
