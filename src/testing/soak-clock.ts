/**
 * Clocks for the soak. The runtime reads time only through the globals (`setTimeout`,
 * `clearTimeout`, `Date.now`; XState's scheduler included), so a soak swaps those globals for a
 * virtual clock and fast-forwards hours in seconds. `installVirtualClock` is a tiny stand-in for
 * @sinonjs/fake-timers (bundled inside vitest, not importable) for runs outside vitest; its timer
 * queue is a heap, so a soak with thousands of live timers stays O(log n) per timer (vitest's clock
 * scans every timer at each tick). Inside vitest, adapt `vi`'s fake timers to `SoakClock` instead.
 */

/** What the soak needs from a clock. */
export interface SoakClock {
  now(): number;
  /** Moves time forward by `ms`, firing due timers in order and letting promises settle after each. */
  advance(ms: number): Promise<void>;
  /** Timers scheduled and not yet fired or cleared. */
  pendingTimers(): number;
}

interface Entry {
  id: number;
  at: number;
  seq: number;
  callback: () => void;
  repeatMs: number | undefined;
}

/** The handle `setTimeout` returns: enough of Node's `Timeout` for code that calls `unref()` on it. */
class VirtualTimeout {
  constructor(readonly id: number) {}
  ref() {
    return this;
  }
  unref() {
    return this;
  }
  hasRef() {
    return true;
  }
  [Symbol.toPrimitive]() {
    return this.id;
  }
}

/** A binary min-heap of timers by (time, insertion order); cleared entries are skipped lazily. */
class TimerHeap {
  private readonly items: Entry[] = [];
  get size() {
    return this.items.length;
  }
  private less(a: Entry, b: Entry) {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
  push(entry: Entry) {
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }
  peek(): Entry | undefined {
    return this.items[0];
  }
  pop(): Entry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && this.less(items[left]!, items[smallest]!)) smallest = left;
        if (right < items.length && this.less(items[right]!, items[smallest]!)) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest]!, items[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

export interface VirtualClock extends SoakClock {
  /** Puts the real globals back. */
  uninstall(): void;
}

type TimerArgs = [callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]];

/** Replaces the global timers and `Date.now` with a virtual clock starting at `start`. */
export function installVirtualClock(start = Date.now()): VirtualClock {
  const real = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    setInterval: globalThis.setInterval,
    clearInterval: globalThis.clearInterval,
    dateNow: Date.now,
  };
  const realSetImmediate = globalThis.setImmediate;
  const heap = new TimerHeap();
  const live = new Map<number, Entry>();
  let now = start;
  let nextId = 1;
  let seq = 0;

  const schedule = ([callback, ms, ...args]: TimerArgs, repeat: boolean) => {
    const delay = Math.max(1, Number.isFinite(ms) ? Math.floor(ms as number) : 1);
    const entry: Entry = {
      id: nextId++,
      at: now + delay,
      seq: seq++,
      callback: () => callback(...args),
      repeatMs: repeat ? delay : undefined,
    };
    live.set(entry.id, entry);
    heap.push(entry);
    return new VirtualTimeout(entry.id);
  };
  const clear = (handle: unknown) => {
    if (handle === undefined || handle === null) return;
    live.delete(Number(handle));
  };
  // Real microtasks and I/O run between timers: one turn of the real event loop settles every
  // promise chain the last timer started, as @sinonjs/fake-timers' tickAsync does.
  const settle = () => new Promise<void>((resolve) => realSetImmediate(resolve));

  const g = globalThis as unknown as Record<string, unknown>;
  g.setTimeout = (...args: TimerArgs) => schedule(args, false);
  g.setInterval = (...args: TimerArgs) => schedule(args, true);
  g.clearTimeout = clear;
  g.clearInterval = clear;
  Date.now = () => now;

  return {
    now: () => now,
    pendingTimers: () => live.size,
    async advance(ms) {
      const target = now + ms;
      await settle();
      for (;;) {
        const next = heap.peek();
        if (!next || next.at > target) break;
        heap.pop();
        if (live.get(next.id) !== next) continue;
        now = next.at;
        if (next.repeatMs === undefined) live.delete(next.id);
        else {
          next.at = now + next.repeatMs;
          next.seq = seq++;
          heap.push(next);
        }
        next.callback();
        await settle();
      }
      now = target;
    },
    uninstall() {
      Object.assign(globalThis, {
        setTimeout: real.setTimeout,
        clearTimeout: real.clearTimeout,
        setInterval: real.setInterval,
        clearInterval: real.clearInterval,
      });
      Date.now = real.dateNow;
    },
  };
}
