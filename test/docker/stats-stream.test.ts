/**
 * The stats stream's pieces on their own: NDJSON splitting (cpu-half.lifecycle.ndjson cut at every
 * chunk size), latest-frame-per-interval with fake timers, and the engine backoff schedule
 * min(5 s × 2^n, 2 min) with fake timers against the fake engine answering 500.
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDockerDriver } from '../../src/drivers/docker/index.js';
import { latestPerInterval, ndjsonLines } from '../../src/drivers/docker/stats-stream.js';
import { RecoverableError } from '../../src/drivers/errors.js';
import { readFixture, startFakeDockerEngine } from '../support/fake-docker-engine.js';
import { captureLogs, cpuHalfTask } from './engine.js';

afterEach(() => {
  vi.useRealTimers();
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('ndjsonLines', () => {
  const body = readFixture('cpu-half.lifecycle.ndjson');
  const expected = body.split('\n').filter((line) => line !== '');

  it.each([1, 7, 100, 931, 4096])(
    'splits the recorded body cut into %i-byte chunks into its 13 lines',
    async (size) => {
      const bytes = Buffer.from(body);
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const lines = await collect(ndjsonLines(Readable.from(chunks)));
      expect(lines).toHaveLength(13);
      expect(lines).toEqual(expected);
    },
  );

  it('drops a partial last line (a body cut mid-frame)', async () => {
    const lines = await collect(ndjsonLines(Readable.from([Buffer.from('{"a":1}\n{"b":')])));
    expect(lines).toEqual(['{"a":1}']);
  });
});

describe('latestPerInterval', () => {
  /** Yields `value` at each fake time in `at` (ms from start). */
  async function* timed(at: number[], signal: AbortSignal): AsyncGenerator<number> {
    let now = 0;
    for (const t of at) {
      await new Promise((resolve) => setTimeout(resolve, t - now));
      now = t;
      if (signal.aborted) return;
      yield t;
    }
  }

  it('emits the newest frame once per interval, never one twice', async () => {
    vi.useFakeTimers();
    const frames = [170, 1000, 2000, 3000, 4000, 5000, 6000];
    const got: Array<[number, number]> = [];
    const start = Date.now();
    const done = (async () => {
      for await (const value of latestPerInterval(
        (s) => timed(frames, s),
        2500,
        new AbortController().signal,
      )) {
        got.push([Date.now() - start, value]);
      }
    })();
    await vi.advanceTimersByTimeAsync(10_000);
    await done;
    // First at once; then the newest one in each 2.5 s slot, emitted when its slot opens.
    expect(got).toEqual([
      [170, 170],
      [2670, 2000],
      [5170, 5000],
      [7670, 6000],
    ]);
  });

  it('with an interval shorter than the frame period, every frame once, as it arrives', async () => {
    vi.useFakeTimers();
    const got: number[] = [];
    const done = (async () => {
      for await (const value of latestPerInterval(
        (s) => timed([830, 1830, 2833], s),
        500,
        new AbortController().signal,
      )) {
        got.push(value);
      }
    })();
    await vi.advanceTimersByTimeAsync(5000);
    await done;
    expect(got).toEqual([830, 1830, 2833]);
  });

  it('aborting ends it at once and stops the source', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    let sourceStopped = false;
    const iterator = latestPerInterval(
      async function* (signal) {
        signal.addEventListener('abort', () => {
          sourceStopped = true;
        });
        yield 1;
        await new Promise(() => {}); // never another frame
      },
      1000,
      controller.signal,
    )[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ value: 1, done: false });
    const pending = iterator.next();
    controller.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(sourceStopped).toBe(true);
  });
});

describe('engine backoff (fake timers)', () => {
  it('waits min(5 s × 2^n, 2 min) between attempts, then throws a recoverable error', async () => {
    const fake = await startFakeDockerEngine({ speedup: 50 });
    const logs = captureLogs();
    const driver = createDockerDriver({
      socketPath: fake.socketPath,
      logger: logs.logger,
      maxEngineRetries: 6,
    });
    const task = cpuHalfTask();
    try {
      await driver.startTask(task);
      fake.injectStatsFault(...Array.from({ length: 7 }, () => ({ kind: 'status-500' as const })));
      // Only timers are faked: sockets still work, so each HTTP answer needs real event-loop turns.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const retries = () => logs.lines.filter((line) => line.op === 'stats');
      const settle = async (count: number) => {
        for (let i = 0; i < 2000 && retries().length < count; i++) await new Promise((r) => setImmediate(r));
        expect(retries()).toHaveLength(count);
      };
      const stream = await driver.taskStats(task.id, 1000, new AbortController().signal);
      const next = stream[Symbol.asyncIterator]().next();
      next.catch(() => {});
      const expected = [5000, 10_000, 20_000, 40_000, 80_000, 120_000, 120_000];
      for (const [n, delayMs] of expected.entries()) {
        await settle(n + 1);
        expect(retries()[n]).toMatchObject({ delayMs, attempt: n + 1 });
        const requests = fake.statsRequests;
        await vi.advanceTimersByTimeAsync(delayMs - 1);
        expect(fake.statsRequests).toBe(requests); // not a millisecond early
        await vi.advanceTimersByTimeAsync(1);
      }
      const error = await next.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RecoverableError);
      expect(error).toMatchObject({ recoverable: true });
      expect(fake.statsRequests).toBe(7);
      expect(logs.lines.filter((line) => line.level >= 40)).toHaveLength(1);
    } finally {
      vi.useRealTimers();
      await driver.destroyTask(task.id, { force: true });
      await fake.close();
    }
  });
});
