import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import {
  createMockDriver,
  RecoverableError,
  StatsNotImplementedError,
  TaskNotFoundError,
} from '../../src/index.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

const spec = (config = {}) => ({ id: 'a/t', name: 't', config });

async function collect(iterable: AsyncIterable<unknown>) {
  const items: unknown[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

it('emits N samples at the interval, then ends; counts and records calls', async () => {
  const driver = createMockDriver();
  await driver.startTask(spec({ stats: [{ samples: 3 }] }));
  const reading = collect(await driver.taskStats('a/t', 100, new AbortController().signal));
  await vi.advanceTimersByTimeAsync(200);
  expect(await reading).toHaveLength(3);
  expect(driver.calls).toMatchObject({ startTask: 1, taskStats: 1 });
  expect(driver.history.map((call) => call.method)).toEqual(['startTask', 'taskStats']);
});

it('scripts open errors, not-implemented, throws mid-stream and hangs per call', async () => {
  const driver = createMockDriver();
  await driver.startTask(
    spec({
      stats: [
        { openError: { error: 'unrecoverable' } },
        { notImplemented: true },
        { samples: 1, thenThrow: { error: 'other' } },
        { hang: true },
      ],
    }),
  );
  const signal = new AbortController().signal;
  await expect(driver.taskStats('a/t', 10, signal)).rejects.toBeInstanceOf(RecoverableError);
  await expect(driver.taskStats('a/t', 10, signal)).rejects.toBeInstanceOf(StatsNotImplementedError);
  await expect(collect(await driver.taskStats('a/t', 10, signal))).rejects.toThrow('mock other error');
  const abort = new AbortController();
  const hung = driver.taskStats('a/t', 10, abort.signal);
  expect(driver.inFlightStatsCalls).toBe(1);
  abort.abort(new Error('enough'));
  await expect(hung).rejects.toThrow('enough');
  expect(driver.inFlightStatsCalls).toBe(0);
});

it('runs for a duration, exits with its code; stats of an exited or unknown task fail by the contract', async () => {
  const driver = createMockDriver({ defaults: { runForMs: 1000, exitCode: 3 } });
  await driver.startTask(spec());
  const waiting = driver.waitTask('a/t');
  await vi.advanceTimersByTimeAsync(1000);
  expect(await waiting).toEqual({ exitCode: 3, signal: null, oomKilled: false });
  await expect(driver.taskStats('a/t', 10, new AbortController().signal)).rejects.toMatchObject({
    recoverable: false,
  });
  await driver.destroyTask('a/t');
  await expect(driver.taskStats('a/t', 10, new AbortController().signal)).rejects.toBeInstanceOf(
    TaskNotFoundError,
  );
  expect(driver.liveTasks).toBe(0);
  expect(vi.getTimerCount()).toBe(0);
});

it('fails the first starts as scripted, and stopTask kills after the timeout when the stop signal is ignored', async () => {
  const driver = createMockDriver({
    defaults: { startError: { error: 'recoverable' }, startFailures: 1, ignoreStopSignal: true },
  });
  await expect(driver.startTask(spec())).rejects.toMatchObject({ recoverable: true });
  await driver.startTask(spec());
  const stopping = driver.stopTask('a/t', { timeoutMs: 500 });
  await vi.advanceTimersByTimeAsync(500);
  await stopping;
  expect(await driver.waitTask('a/t')).toMatchObject({ signal: 'SIGKILL' });
  await driver.destroyTask('a/t');
});

it("a task's exit settles its waits and ends its streams, a hung one too; an aborted wait rejects with the reason", async () => {
  const driver = createMockDriver({ defaults: { stats: [{ samples: 1, thenHang: true }, {}] } });
  await driver.startTask(spec());
  const abort = new AbortController();
  const aborted = driver.waitTask('a/t', abort.signal);
  abort.abort(new Error('runner detached'));
  await expect(aborted).rejects.toThrow('runner detached');
  await expect(driver.waitTask('a/t', abort.signal)).rejects.toThrow('runner detached');

  const waiting = driver.waitTask('a/t', new AbortController().signal);
  const hung = collect(await driver.taskStats('a/t', 100, new AbortController().signal));
  const streaming = collect(await driver.taskStats('a/t', 100, new AbortController().signal));
  await vi.advanceTimersByTimeAsync(300);
  expect(driver.openStreams).toBe(2);
  driver.exit('a/t', { exitCode: 4 });
  expect(await waiting).toMatchObject({ exitCode: 4 });
  expect(await hung).toHaveLength(1);
  expect((await streaming).length).toBeGreaterThanOrEqual(3);
  expect(driver.openStreams).toBe(0);
  expect(await driver.waitTask('a/t', abort.signal)).toMatchObject({ exitCode: 4 });
  expect(vi.getTimerCount()).toBe(0);
});
