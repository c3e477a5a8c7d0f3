/**
 * A stop that fails (the engine is down) is retried with backoff while the backoff fits in the kill
 * deadline, as Nomad retries the kill; a task not confirmed stopped by then is reported as such,
 * never as killed. The real-engine version (dockerd killed) is test/docker/engine-faults.real.test.ts.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createBus, createMockDriver, createTaskRunner, type TaskEvent } from '../../src/index.js';
import { useLeakCheck } from '../support/leak-check.js';
import { captureLogs } from '../support/log-capture.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});
const leaks = useLeakCheck();

/** A mock driver whose stops fail while `engine.down`, as a socket refused would. */
function setup() {
  const driver = createMockDriver();
  const engine = { down: false, stopCalls: [] as number[] };
  const stop = driver.stopTask.bind(driver);
  driver.stopTask = async (taskId, options) => {
    engine.stopCalls.push(Date.now());
    if (engine.down) {
      throw Object.assign(new Error('connect ECONNREFUSED /run/engine.sock'), { code: 'ECONNREFUSED' });
    }
    return stop(taskId, options);
  };
  const bus = createBus();
  const events: TaskEvent[] = [];
  bus.on('task:event', ({ event }) => events.push(event));
  const logs = captureLogs();
  const runner = createTaskRunner({
    task: { id: 'a/web', name: 'web', config: {} },
    driver,
    bus,
    logger: logs.logger,
    killRetry: { baseMs: 500, capMs: 2000 },
  });
  runner.actor.subscribe({ error: (error) => expect.unreachable(String(error)) });
  leaks.track(runner.actor);
  return { driver, engine, events, logs, runner };
}

it('stops that fail are retried with backoff; once the engine answers the task is killed', async () => {
  const { driver, engine, events, logs, runner } = setup();
  runner.start();
  await vi.advanceTimersByTimeAsync(10);
  engine.down = true;
  const killed = runner.kill({ deadlineMs: 10_000 });
  await vi.advanceTimersByTimeAsync(1600); // failed at 0 ms, 500 ms, 1500 ms
  engine.down = false;
  await vi.advanceTimersByTimeAsync(2000); // the retry at 3500 ms succeeds
  const output = await killed;
  expect(engine.stopCalls.map((at) => at - 10)).toEqual([0, 500, 1500, 3500]);
  expect(output).toMatchObject({ state: 'dead', failed: false });
  expect(events.map((event) => event.type).slice(-3)).toEqual(['Killing', 'Terminated', 'Killed']);
  expect(logs.at('warn').map((line) => line.msg)).toEqual([
    'stopping the task failed, retrying with backoff',
  ]);
  expect(logs.at('error')).toEqual([]);
  expect(driver.liveTasks).toBe(0);
});

it('a task not confirmed stopped by the deadline is reported as such: Killing failure, failed, error log', async () => {
  const { driver, engine, events, logs, runner } = setup();
  runner.start();
  await vi.advanceTimersByTimeAsync(10);
  engine.down = true;
  const killed = runner.kill({ deadlineMs: 4000 });
  await vi.advanceTimersByTimeAsync(10_000);
  const output = await killed;
  // Backoff 500 + 1000 + 2000 = 3500 ms fits in 4000; a fourth retry (2000 more) would not.
  expect(engine.stopCalls.map((at) => at - 10)).toEqual([0, 500, 1500, 3500]);
  expect(output).toMatchObject({ state: 'dead', failed: true, lastExit: { exitCode: null } });
  expect(output.lastExit?.error).toMatch(/^not confirmed stopped: .*ECONNREFUSED/);
  const types = events.map((event) => event.type);
  expect(types).not.toContain('Killed');
  expect(types).not.toContain('Terminated');
  const failure = events.at(-1)!;
  expect(failure).toMatchObject({ type: 'Killing', failsTask: true });
  expect(failure.message).toMatch(
    /^Could not confirm the task stopped .*; it may still be running: .*ECONNREFUSED/,
  );
  const errors = logs.at('error');
  expect(errors.map((line) => line.msg)).toEqual([
    'task not confirmed stopped by its kill deadline; it may still be running',
  ]);
  expect(vi.getTimerCount()).toBe(0);
  await driver.destroyTask('a/web', { force: true }); // the mock's task is still "running"
});
