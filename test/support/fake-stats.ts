/**
 * Tiny hand-written fakes of exactly what the stats hook uses (Nomad's style): a `DriverStats` whose
 * every call follows a plan, and a push-driven stream for tests that must decide when each sample
 * arrives.
 */
import { abortableSleep, untilAborted } from '../../src/drivers/abortable-sleep.js';
import type { DriverStats, TaskResourceUsage } from '../../src/index.js';

export type CallPlan =
  | { reject: unknown }
  | { hang: true }
  | { stream: AsyncIterable<TaskResourceUsage> }
  | { samples: TaskResourceUsage[]; gapMs?: number; after?: 'end' | 'hang' | { throw: unknown } };

export interface FakeCall {
  at: number;
  intervalMs: number;
  signal: AbortSignal;
}

export interface FakeStats extends DriverStats {
  calls: FakeCall[];
  /** Streams opened and not yet finished. */
  readonly open: number;
}

export function fakeStats(plan: (callIndex: number) => CallPlan): FakeStats {
  const calls: FakeCall[] = [];
  let open = 0;
  async function* play(
    samples: TaskResourceUsage[],
    gapMs: number,
    after: 'end' | 'hang' | { throw: unknown },
    signal: AbortSignal,
  ): AsyncGenerator<TaskResourceUsage> {
    open += 1;
    try {
      for (const [i, sample] of samples.entries()) {
        if (i > 0 && gapMs > 0 && !(await abortableSleep(gapMs, signal))) return;
        yield sample;
      }
      if (after === 'hang') await untilAborted(signal).catch(() => {});
      else if (after !== 'end') throw after.throw;
    } finally {
      open -= 1;
    }
  }
  return {
    calls,
    get open() {
      return open;
    },
    async stats(intervalMs, signal) {
      const step = plan(calls.length);
      calls.push({ at: Date.now(), intervalMs, signal });
      if ('reject' in step) throw step.reject;
      if ('hang' in step) return untilAborted(signal);
      if ('stream' in step) return step.stream;
      return play(step.samples, step.gapMs ?? 0, step.after ?? 'end', signal);
    },
  };
}

/** A stream the test feeds by hand. */
export function manualStream() {
  const queue: IteratorResult<TaskResourceUsage>[] = [];
  let waiting: ((result: IteratorResult<TaskResourceUsage>) => void) | undefined;
  let failWaiting: ((error: unknown) => void) | undefined;
  const deliver = (result: IteratorResult<TaskResourceUsage>) => {
    if (waiting) {
      const resolve = waiting;
      waiting = undefined;
      resolve(result);
    } else queue.push(result);
  };
  const iterable: AsyncIterable<TaskResourceUsage> = {
    [Symbol.asyncIterator]: () => ({
      next: () =>
        new Promise((resolve, reject) => {
          const queued = queue.shift();
          if (queued) return resolve(queued);
          waiting = resolve;
          failWaiting = reject;
        }),
      return: async () => ({ done: true, value: undefined }),
    }),
  };
  return {
    iterable,
    push: (sample: TaskResourceUsage) => deliver({ done: false, value: sample }),
    end: () => deliver({ done: true, value: undefined }),
    fail: (error: unknown) => failWaiting?.(error),
  };
}
