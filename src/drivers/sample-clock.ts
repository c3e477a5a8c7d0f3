/**
 * The wait between two samples of a stream, shared by every stream of the process: one Node timer
 * per interval (a bucket), armed for the earliest due wake-up and firing every stream due by then.
 * With a timer per stream, 10,000 tasks started together sampled in the same timers phase every
 * interval (an event-loop stall of the whole batch: the scale benchmark's p99 delay); here a bucket
 * also spreads phases: a wake-up whose slot (1/50 of the interval) already holds its share of the
 * bucket's streams is moved to an earlier slot, so the first wait of a burst is shorter and every
 * wait after it is one interval again, at the new phase. A few streams keep exact times (a slot
 * holds at least `MIN_PER_SLOT`), so a stream alone waits exactly `intervalMs`, as a timer would.
 *
 * Times are `Date.now()`: the timer's own clock under fake timers too. A waiter aborted before its
 * wake-up is removed at once; the timer is cleared when its bucket has no waiter left.
 */

/** Phase slots per interval: 20 ms each at 1 s. */
const SLOTS = 50;
/** A slot takes this many wake-ups before the phase spreading moves any (tests and small agents). */
const MIN_PER_SLOT = 32;
/**
 * Streams woken per event-loop turn. A bucket's slot can hold a few hundred streams at 10,000 tasks,
 * and every woken stream reads and publishes a sample in the same microtask checkpoint: at 10,000
 * mock tasks that one turn was the scale benchmark's p99 loop delay (38–42 ms). Past this many, the
 * rest wake in later turns (`setImmediate`, one chunk each), so I/O and other timers run between.
 */
const WAKE_CHUNK = 64;

/** One stream's pending wake-up: a ticker is one waiter, re-queued at each `next()`. */
interface Waiter {
  resolve: ((woken: boolean) => void) | undefined;
  bucket: Bucket | undefined;
  due: number;
}

interface Bucket {
  intervalMs: number;
  slotMs: number;
  /** Due time (ms) → its waiters; `dues` holds the keys in ascending order from `head`. */
  groups: Map<number, Set<Waiter>>;
  dues: number[];
  head: number;
  /** Waiters per phase slot (`Math.floor(due / slotMs)`), for the spreading. */
  perSlot: Map<number, number>;
  size: number;
  timer: NodeJS.Timeout | undefined;
  armedFor: number;
}

const buckets = new Map<number, Bucket>();

function bucketFor(intervalMs: number): Bucket {
  let bucket = buckets.get(intervalMs);
  if (!bucket) {
    bucket = {
      intervalMs,
      slotMs: Math.max(1, intervalMs / SLOTS),
      groups: new Map(),
      dues: [],
      head: 0,
      perSlot: new Map(),
      size: 0,
      timer: undefined,
      armedFor: Number.POSITIVE_INFINITY,
    };
    buckets.set(intervalMs, bucket);
  }
  return bucket;
}

/** The due time for a new wake-up: `ideal`, or the same offset in the nearest earlier slot with room. */
function spreadDue(bucket: Bucket, ideal: number, now: number): number {
  const share = Math.max(MIN_PER_SLOT, Math.ceil((bucket.size + 1) / SLOTS));
  const slotOf = (due: number) => Math.floor(due / bucket.slotMs);
  for (let due = ideal; due > now; due -= bucket.slotMs) {
    if ((bucket.perSlot.get(slotOf(due)) ?? 0) < share) return Math.round(due);
  }
  return ideal;
}

function insertDue(bucket: Bucket, due: number): void {
  const { dues } = bucket;
  // Nearly always the latest due (now + interval): appended. Spread ones go in by binary search.
  if (dues.length === bucket.head || due > (dues[dues.length - 1] as number)) {
    dues.push(due);
    return;
  }
  let low = bucket.head;
  let high = dues.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((dues[mid] as number) < due) low = mid + 1;
    else high = mid;
  }
  dues.splice(low, 0, due);
}

function arm(bucket: Bucket): void {
  // Skip due times whose waiters have all left.
  while (bucket.head < bucket.dues.length && !bucket.groups.has(bucket.dues[bucket.head] as number)) {
    bucket.head++;
  }
  if (bucket.head > 1024 && bucket.head * 2 > bucket.dues.length) {
    bucket.dues = bucket.dues.slice(bucket.head);
    bucket.head = 0;
  }
  const next = bucket.dues[bucket.head];
  if (next === undefined) {
    clearTimeout(bucket.timer);
    bucket.timer = undefined;
    bucket.armedFor = Number.POSITIVE_INFINITY;
    bucket.dues = [];
    bucket.head = 0;
    buckets.delete(bucket.intervalMs);
    return;
  }
  if (bucket.timer !== undefined && bucket.armedFor === next) return;
  clearTimeout(bucket.timer);
  bucket.armedFor = next;
  bucket.timer = setTimeout(() => fire(bucket), Math.max(0, next - Date.now()));
}

function remove(bucket: Bucket, waiter: Waiter): void {
  const group = bucket.groups.get(waiter.due);
  if (!group?.delete(waiter)) return;
  if (group.size === 0) bucket.groups.delete(waiter.due);
  const slot = Math.floor(waiter.due / bucket.slotMs);
  const inSlot = (bucket.perSlot.get(slot) ?? 1) - 1;
  if (inSlot === 0) bucket.perSlot.delete(slot);
  else bucket.perSlot.set(slot, inSlot);
  bucket.size--;
  waiter.bucket = undefined;
}

/** Wakes every waiter due by now (or by the time the timer was armed for, whichever is later). */
function fire(bucket: Bucket): void {
  bucket.timer = undefined;
  const until = Math.max(bucket.armedFor, Date.now());
  bucket.armedFor = Number.POSITIVE_INFINITY;
  const woken: Waiter[] = [];
  while (bucket.head < bucket.dues.length && (bucket.dues[bucket.head] as number) <= until) {
    const group = bucket.groups.get(bucket.dues[bucket.head] as number);
    bucket.head++;
    if (!group) continue;
    for (const waiter of group) woken.push(waiter);
  }
  for (const waiter of woken) remove(bucket, waiter);
  arm(bucket);
  wake(woken, 0);
}

/** Wakes `woken[from…]`, one chunk now and the next in a later turn (see `WAKE_CHUNK`). */
function wake(woken: Waiter[], from: number): void {
  const until = Math.min(woken.length, from + WAKE_CHUNK);
  for (let index = from; index < until; index++) settle(woken[index] as Waiter, true);
  if (until < woken.length) setImmediate(wake, woken, until);
}

function settle(waiter: Waiter, woken: boolean): void {
  const { resolve } = waiter;
  waiter.resolve = undefined;
  resolve?.(woken);
}

/** A stream's wait between samples, kept for the stream's life (see `sampleTicker`). */
export interface SampleTicker {
  /**
   * Waits about `intervalMs` (see the module comment), or less if a signal aborts first: resolves
   * true when woken, false when aborted or closed. One wait at a time; the next sample goes after it.
   */
  next(intervalMs: number): Promise<boolean>;
  /** Ends a pending wait (false) and stops watching the signals. */
  close(): void;
  /**
   * True once a signal aborted or `close()` was called: the stream's "stopped?" check, a plain
   * read where `signal.aborted` twice per sample went through Node's receiver checks (3 % of exec
   * sampling's profile).
   */
  readonly ended: boolean;
}

/**
 * A ticker for one stream: it watches its signals once for the stream's life, not once per wait
 * (two `addEventListener`/`removeEventListener` pairs per sample showed in the exec profile).
 */
export function sampleTicker(...signals: AbortSignal[]): SampleTicker {
  const waiter: Waiter = { resolve: undefined, bucket: undefined, due: 0 };
  let ended = signals.some((signal) => signal.aborted);
  const end = () => {
    if (ended) return;
    ended = true;
    for (const signal of signals) signal.removeEventListener('abort', end);
    const { bucket } = waiter;
    if (bucket) {
      remove(bucket, waiter);
      arm(bucket);
    }
    settle(waiter, false);
  };
  if (!ended) for (const signal of signals) signal.addEventListener('abort', end, { once: true });
  return {
    next(intervalMs) {
      if (ended) return Promise.resolve(false);
      if (waiter.resolve) throw new Error('sampleTicker: next() while a wait is pending');
      const bucket = bucketFor(intervalMs);
      const now = Date.now();
      const due = spreadDue(bucket, now + intervalMs, now);
      return new Promise((resolve) => {
        waiter.resolve = resolve;
        waiter.bucket = bucket;
        waiter.due = due;
        let group = bucket.groups.get(due);
        if (!group) {
          group = new Set();
          bucket.groups.set(due, group);
          insertDue(bucket, due);
        }
        group.add(waiter);
        const slot = Math.floor(due / bucket.slotMs);
        bucket.perSlot.set(slot, (bucket.perSlot.get(slot) ?? 0) + 1);
        bucket.size++;
        arm(bucket);
      });
    },
    close: end,
    get ended() {
      return ended;
    },
  };
}

/** Streams waiting right now, per interval (tests and leak checks). */
export function pendingSampleTicks(): number {
  let total = 0;
  for (const bucket of buckets.values()) total += bucket.size;
  return total;
}
