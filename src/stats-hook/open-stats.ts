import { type AnyActorRef, fromPromise } from 'xstate';
import type { OpenedStream } from '../../machines/stats-hook.machine.js';
import type { TaskResourceUsage } from '../drivers/usage.js';

/**
 * The reason a stream is closed with. One shared value: `abort()` without a reason builds a
 * DOMException with a stack trace each time, which showed up in the scale profile.
 */
const STREAM_CLOSED = new Error('stats stream closed by the hook');

/** Nomad's `DriverStats`: the one driver method the stats hook needs. */
export interface DriverStats {
  stats(intervalMs: number, signal: AbortSignal): Promise<AsyncIterable<TaskResourceUsage>>;
}

/**
 * The `openStats` effect: one driver call. The stream outlives this actor (it is handed to
 * `readStats`), so it gets its own AbortController: XState's signal aborts it only while the call is
 * still in flight; after the hand-off, `readStats` closes it.
 */
export function openStatsActor(statsOf: DriverStats | ((hook: AnyActorRef | undefined) => DriverStats)) {
  return fromPromise<OpenedStream, { taskId: string; intervalMs: number }>(
    async ({ input, signal, self }) => {
      // `self` is this call's actor; its parent is the hook whose driver to ask.
      const stats = typeof statsOf === 'function' ? statsOf(self._parent) : statsOf;
      const controller = new AbortController();
      const abortCall = () => controller.abort(signal.reason);
      signal.addEventListener('abort', abortCall, { once: true });
      try {
        const samples = await stats.stats(input.intervalMs, controller.signal);
        if (signal.aborted) {
          // The hook moved on while the driver answered: close what it opened, hand nothing on.
          controller.abort(signal.reason);
          throw signal.reason;
        }
        return { samples, close: () => controller.abort(STREAM_CLOSED) };
      } finally {
        signal.removeEventListener('abort', abortCall);
      }
    },
  );
}
