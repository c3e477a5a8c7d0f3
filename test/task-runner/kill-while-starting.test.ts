import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createMockDriver, createTaskRunner } from '../../src/index.ts';

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

it('kill while the driver is still starting the task: the stop waits for the start, nothing is left running', async () => {
  const driver = createMockDriver({ defaults: { startDelayMs: 1000 } });
  const runner = createTaskRunner({ task: { id: 'a/slow', name: 'slow', config: {} }, driver });
  runner.actor.subscribe({ error: (error) => expect.unreachable(String(error)) });
  runner.start();
  await vi.advanceTimersByTimeAsync(100);
  expect(runner.state).toBe('starting');
  const killed = runner.kill();
  await vi.advanceTimersByTimeAsync(1000);
  const output = await killed;
  expect(output.state).toBe('dead');
  const order = driver.history.map((call) => call.method);
  expect(order.indexOf('stopTask')).toBeGreaterThan(order.indexOf('startTask'));
  expect(driver.calls.destroyTask).toBe(1);
  expect(driver.liveTasks).toBe(0);
  expect(vi.getTimerCount()).toBe(0);
});
