import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createMockDriver, createTaskRunner } from '../../src/index.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

function slowStart() {
  const driver = createMockDriver({ defaults: { startDelayMs: 1000 } });
  const runner = createTaskRunner({ task: { id: 'a/slow', name: 'slow', config: {} }, driver });
  runner.actor.subscribe({ error: (error) => expect.unreachable(String(error)) });
  runner.start();
  return { driver, runner };
}

it('kill while the driver is still starting the task: the task that comes up late is destroyed', async () => {
  const { driver, runner } = slowStart();
  await vi.advanceTimersByTimeAsync(100);
  expect(runner.state).toBe('starting');
  expect((await runner.kill()).state).toBe('dead');
  expect(driver.liveTasks).toBe(0);
  await vi.advanceTimersByTimeAsync(900); // the driver finishes starting it
  expect(driver.history.map((call) => call.method).at(-1)).toBe('destroyTask');
  expect(driver.liveTasks).toBe(0);
  expect(vi.getTimerCount()).toBe(0);
});

it('shutdown while starting leaves the task that comes up late running (detached)', async () => {
  const { driver, runner } = slowStart();
  await vi.advanceTimersByTimeAsync(100);
  expect((await runner.shutdown()).state).toBe('detached');
  await vi.advanceTimersByTimeAsync(900);
  expect(driver.liveTasks).toBe(1);
  expect(driver.calls.destroyTask).toBe(0);
  await driver.destroyTask('a/slow', { force: true });
});
