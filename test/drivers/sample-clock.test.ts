import { getEventListeners, setMaxListeners } from 'node:events';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { pendingSampleTicks, sampleTicker } from '../../src/drivers/sample-clock.js';

/** One wait on a ticker of its own, closed after: a stream that samples once. */
async function nextSampleTick(intervalMs: number, ...signals: AbortSignal[]): Promise<boolean> {
  const ticker = sampleTicker(...signals);
  try {
    return await ticker.next(intervalMs);
  } finally {
    ticker.close();
  }
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

const never = new AbortController().signal;
setMaxListeners(0, never); // one signal shared by thousands of waiters here

it('a stream alone waits exactly one interval, as a timer of its own would', async () => {
  let woken = false;
  const tick = nextSampleTick(1000, never).then((result) => {
    woken = result;
  });
  await vi.advanceTimersByTimeAsync(999);
  expect(woken).toBe(false);
  await vi.advanceTimersByTimeAsync(1);
  await tick;
  expect(woken).toBe(true);
  expect(vi.getTimerCount()).toBe(0);
});

it('streams of one interval share one timer', async () => {
  const ticks = Array.from({ length: 20 }, () => nextSampleTick(1000, never));
  expect(vi.getTimerCount()).toBe(1);
  await vi.advanceTimersByTimeAsync(1000);
  expect(await Promise.all(ticks)).toEqual(Array(20).fill(true));
  expect(vi.getTimerCount()).toBe(0);
});

it('a burst is spread over the interval: no slot of 20 ms wakes more than its share', async () => {
  const wokenAt: number[] = [];
  const count = 5000;
  const ticks = Array.from({ length: count }, () =>
    nextSampleTick(1000, never).then(() => wokenAt.push(Date.now())),
  );
  // One more millisecond: the last group's later wake chunks are immediates queued at 1,000 ms.
  await vi.advanceTimersByTimeAsync(1001);
  await Promise.all(ticks);
  expect(wokenAt).toHaveLength(count);
  const perSlot = new Map<number, number>();
  for (const at of wokenAt) {
    const slot = Math.floor((at - 1_000_000) / 20);
    perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1);
  }
  // 5,000 over 50 slots is 100 each (the share grows as the burst registers, so a little more).
  expect(Math.max(...perSlot.values())).toBeLessThanOrEqual(110);
  expect(Math.min(...wokenAt)).toBeGreaterThan(1_000_000);
  // The fake clock runs an immediate 1 ms later (a real one runs in the same millisecond).
  expect(Math.max(...wokenAt)).toBeLessThanOrEqual(1_001_001);
});

it('an abort resolves false at once, leaves no waiter and, for the last one, no timer', async () => {
  const abort = new AbortController();
  const other = new AbortController();
  const first = nextSampleTick(1000, abort.signal, never);
  const second = nextSampleTick(1000, never, other.signal);
  expect(pendingSampleTicks()).toBe(2);
  abort.abort(new Error('closed'));
  expect(await first).toBe(false);
  expect(pendingSampleTicks()).toBe(1);
  expect(vi.getTimerCount()).toBe(1);
  other.abort(new Error('task exited'));
  expect(await second).toBe(false);
  expect(pendingSampleTicks()).toBe(0);
  expect(vi.getTimerCount()).toBe(0);
  expect(await nextSampleTick(1000, abort.signal)).toBe(false);
});

it('waiters of different intervals keep to their own', async () => {
  const order: string[] = [];
  const slow = nextSampleTick(500, never).then(() => order.push('500'));
  const fast = nextSampleTick(100, never).then(() => order.push('100'));
  expect(vi.getTimerCount()).toBe(2);
  await vi.advanceTimersByTimeAsync(100);
  expect(order).toEqual(['100']);
  await vi.advanceTimersByTimeAsync(400);
  await Promise.all([slow, fast]);
  expect(order).toEqual(['100', '500']);
});

it('a ticker watches its signals once for its life, and an abort ends the wait and every later one', async () => {
  const abort = new AbortController();
  const ticker = sampleTicker(abort.signal, never);
  const listenersBefore = getEventListeners(never, 'abort').length;
  for (let i = 0; i < 3; i++) {
    const tick = ticker.next(1000);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await tick).toBe(true);
  }
  expect(getEventListeners(never, 'abort').length).toBe(listenersBefore);
  const pending = ticker.next(1000);
  expect(pendingSampleTicks()).toBe(1);
  abort.abort(new Error('closed'));
  expect(await pending).toBe(false);
  expect(pendingSampleTicks()).toBe(0);
  expect(vi.getTimerCount()).toBe(0);
  expect(getEventListeners(never, 'abort').length).toBe(listenersBefore - 1);
  expect(await ticker.next(1000)).toBe(false);
});

it('a ticker is ended by the first of its signals to abort', () => {
  const first = new AbortController();
  const second = new AbortController();
  const ticker = sampleTicker(first.signal, second.signal);
  expect(ticker.ended).toBe(false);
  second.abort(new Error('task exited'));
  expect(ticker.ended).toBe(true);
  expect(sampleTicker(second.signal).ended).toBe(true);
});

it('closing a ticker ends its pending wait and removes its listeners', async () => {
  const abort = new AbortController();
  const ticker = sampleTicker(abort.signal);
  const tick = ticker.next(1000);
  expect(ticker.ended).toBe(false);
  ticker.close();
  expect(ticker.ended).toBe(true);
  expect(await tick).toBe(false);
  expect(pendingSampleTicks()).toBe(0);
  expect(vi.getTimerCount()).toBe(0);
  expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  expect(await ticker.next(1000)).toBe(false);
});

it('a ticker made on an aborted signal never waits', async () => {
  const abort = new AbortController();
  abort.abort(new Error('gone'));
  const ticker = sampleTicker(abort.signal);
  expect(await ticker.next(1000)).toBe(false);
  expect(pendingSampleTicks()).toBe(0);
  expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
});

it('a big group due together wakes 64 streams per event-loop turn, the rest in the turns after', async () => {
  // 5,000 waiters: a slot's share is 101, all due in the same millisecond (see the spreading).
  let woken = 0;
  const ticks = Array.from({ length: 5000 }, () => nextSampleTick(1000, never).then(() => woken++));
  const perStep: number[] = [];
  while (woken < 5000) {
    const before = woken;
    await vi.advanceTimersToNextTimerAsync(); // one timer or one immediate: one turn's worth
    perStep.push(woken - before);
  }
  await Promise.all(ticks);
  expect(Math.max(...perStep)).toBe(64);
  expect(perStep.filter((count) => count > 0 && count < 64).length).toBeGreaterThan(0);
  expect(Date.now()).toBeLessThanOrEqual(1_001_000 + 1);
  expect(pendingSampleTicks()).toBe(0);
  expect(vi.getTimerCount()).toBe(0);
});
