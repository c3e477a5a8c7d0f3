import type { AnyActorRef } from 'xstate';
import type { OpenedStream } from '../../machines/stats-hook.machine.js';
import type { TaskResourceUsage } from '../drivers/usage.js';
import { CALL_CANCELLED, fromCall } from '../runtime/call-actor.js';

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
 * `readStats`), so the call's signal is the stream's too: leaving `retrying` while the driver is
 * still answering aborts it (the stream is never handed on), and after the hand-off `readStats`
 * closes the stream with the same controller. One controller per open (`fromPromise` made a second
 * one, and a listener to chain them).
 */
export function openStatsActor(statsOf: DriverStats | ((hook: AnyActorRef | undefined) => DriverStats)) {
  return fromCall<OpenedStream, { taskId: string; intervalMs: number }>(async (call) => {
    // `self` is this call's actor; its parent is the hook whose driver to ask.
    const stats = typeof statsOf === 'function' ? statsOf(call.self._parent) : statsOf;
    const { controller } = call;
    const samples = await stats.stats(call.input.intervalMs, controller.signal);
    // The hook moved on while the driver answered: the signal closed what it opened; hand nothing on.
    if (call.cancelled()) throw CALL_CANCELLED;
    return { samples, close: () => controller.abort(STREAM_CLOSED) };
  });
}
