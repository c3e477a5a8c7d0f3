/**
 * The stats hook: one per running task. It asks the driver for a stream of resource-usage samples
 * and hands each one to the task runner's updater, following `docs/stats-hook.md`.
 *
 *   retrying ──opened──▶ streaming ──ended / threw / stalled──▶ backoff ──timer──▶ retrying
 *      │ open error (retryable) ───────────────────────────────▶ backoff
 *      └─ not implemented / unrecoverable ──▶ terminal ◀── exited / shutdown (from any state)
 *
 * Pure: the driver call (`openStats`), the stream reader (`readStats`), publishing and logging are
 * named effects that `src/stats-hook/` provides with `machine.provide(...)`.
 */
import { type ActorRefFrom, assign, type DoneActorEvent, fromCallback, fromPromise, setup } from 'xstate';
import { applyJitter, type BackoffOptions, DEFAULT_BACKOFF, retryDelayMs } from './backoff.js';
import { classifyOpenError, describeError, isFinalError } from './open-error.js';

/** Why the hook stopped; the final state's output. */
export type StatsHookStopReason = 'exited' | 'shutdown' | 'not-implemented' | 'unrecoverable';

/** An opened stats stream as `openStats` hands it to `readStats`. */
export interface OpenedStream {
  readonly samples: AsyncIterable<unknown>;
  /** Ends the stream and aborts the driver call behind it. */
  close(): void;
}

export interface StatsHookInput {
  taskId: string;
  /** Interval passed to every driver call and waited after a stream ends. Default 1000 ms. */
  intervalMs?: number;
  backoff?: Partial<BackoffOptions>;
  /** An open call not settled by then is aborted and retried. Default 10 s. */
  openTimeoutMs?: number;
  /** A stream silent this long is closed and treated as ended. Default: off. */
  stallTimeoutMs?: number;
}

export interface StatsHookCounts {
  /** Driver calls (stream opens) made. */
  calls: number;
  /** Samples handed to the updater. */
  samples: number;
  /** Invalid samples dropped. */
  dropped: number;
  /** Open errors, time-outs included. */
  openErrors: number;
  /** Streams that ended, threw or stalled. */
  streamEnds: number;
}

export interface StatsHookContext {
  taskId: string;
  intervalMs: number;
  backoff: BackoffOptions;
  openTimeoutMs: number;
  stallTimeoutMs: number | undefined;
  /** Consecutive open errors since the last stream opened: the n of the retry delay. */
  failedOpens: number;
  /** The delay of the current (or next) `backoff` state, before jitter. */
  retryDelayMs: number;
  /** Timestamp of the last published sample, so a new stream cannot go back in time. */
  lastTimestamp: number | undefined;
  /** Causes of dropped samples already logged: one `warn` per cause per hook. */
  warnedDropCauses: string[];
  reason: StatsHookStopReason | undefined;
  counts: StatsHookCounts;
}

export interface StatsHookOutput extends StatsHookCounts {
  taskId: string;
  reason: StatsHookStopReason;
}

export type StatsHookEvent =
  | { type: 'poststart' }
  | { type: 'exited' }
  | { type: 'shutdown' }
  | { type: 'stats.sample'; sample: unknown; timestamp: number }
  | { type: 'stats.dropped'; cause: string; path: string; value: unknown }
  | { type: 'stats.ended' }
  | { type: 'stats.stalled' }
  | { type: 'stats.failed'; error: unknown };

export interface LogParams {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  /** `error` lines are rate-limited by `msg`: one cause, one text (rule 10). */
  error?: string;
}

export interface ReadStatsInput {
  stream: OpenedStream;
  lastTimestamp: number | undefined;
  stallTimeoutMs: number | undefined;
}

/**
 * The hook's log texts, in one place. They are not behaviour, so mutation testing leaves them alone
 * (the level of each line is behaviour, rule 10, and is mutated where it is used).
 */
// Stryker disable StringLiteral: log texts
const LOG_TEXT = {
  notImplemented: 'driver does not implement stats',
  unavailable: 'stats unavailable for good, stopping',
  exited: 'task exited, stats collection stopped',
  shutdown: 'shutting down, stats collection stopped',
  replacing: 'poststart again, replacing the stats collector',
  pluginShutdown: 'driver plugin shut down, retrying stats',
  openFailed: 'failed to start stats collection',
  openTimedOut: 'stats call timed out, retrying',
  streamEnded: 'stats stream ended',
  streamStalled: 'stats stream stalled',
  streamFailed: 'stats stream failed',
} as const;
// Stryker restore StringLiteral

/** A final error ends the hook quietly: one `debug` line, never `warn` or `error` (spec rule 4). */
const finalErrorLog = (error: unknown): LogParams =>
  classifyOpenError(error) === 'not-implemented'
    ? { level: 'debug', msg: LOG_TEXT.notImplemented }
    : { level: 'debug', msg: LOG_TEXT.unavailable, error: describeError(error) };

/**
 * The `backoff` state's delay. After an open error: the retry delay, jittered (rule 5). After a
 * stream ended, threw or stalled: exactly one interval, never jittered (rule 3), or `full` jitter
 * would let a driver that closes its streams at once make calls ~0 ms apart. `failedOpens` is reset
 * when a stream opens, so 0 here means the backoff follows a stream.
 */
export function backoffDelayMs(context: StatsHookContext, random: () => number): number {
  if (context.failedOpens === 0) return context.retryDelayMs;
  return applyJitter(context.retryDelayMs, context.backoff.jitter, random);
}

const openedStream = (event: { type: string }): OpenedStream =>
  (event as DoneActorEvent<OpenedStream>).output;

export const statsHookMachine = setup({
  // Stryker disable next-line ObjectLiteral: `types` exists for the compiler only (equivalent at run time)
  types: {
    input: {} as StatsHookInput,
    context: {} as StatsHookContext,
    events: {} as StatsHookEvent,
    output: {} as StatsHookOutput,
  },
  actors: {
    /** Effect: one `taskStats(taskId, intervalMs, signal)` call. */
    openStats: fromPromise<OpenedStream, { taskId: string; intervalMs: number }>(async () => {
      throw new Error('openStats is provided by src/stats-hook');
    }),
    /** Effect: reads the opened stream, sending `stats.*` events back. */
    readStats: fromCallback<StatsHookEvent, ReadStatsInput>(() => {
      throw new Error('readStats is provided by src/stats-hook');
    }),
  },
  actions: {
    /** Effect: hand a valid sample to the updater. */
    publishSample: (_, _params: { sample: unknown }) => {},
    /** Effect: one structured log line. */
    log: (_, _params: LogParams) => {},
    countCall: assign({ counts: ({ context }) => ({ ...context.counts, calls: context.counts.calls + 1 }) }),
    recordOpenError: assign(({ context }) => ({
      retryDelayMs: retryDelayMs(context.failedOpens, context.backoff),
      failedOpens: context.failedOpens + 1,
      counts: { ...context.counts, openErrors: context.counts.openErrors + 1 },
    })),
    resetFailedOpens: assign({ failedOpens: 0 }),
    recordStreamEnd: assign(({ context }) => ({
      retryDelayMs: context.intervalMs,
      counts: { ...context.counts, streamEnds: context.counts.streamEnds + 1 },
    })),
    recordSample: assign(({ context }, params: { timestamp: number }) => ({
      lastTimestamp: params.timestamp,
      counts: { ...context.counts, samples: context.counts.samples + 1 },
    })),
    recordDrop: assign(({ context }, params: { cause: string }) => ({
      warnedDropCauses: context.warnedDropCauses.includes(params.cause)
        ? context.warnedDropCauses
        : [...context.warnedDropCauses, params.cause],
      counts: { ...context.counts, dropped: context.counts.dropped + 1 },
    })),
    stopBecause: assign((_, params: { reason: StatsHookStopReason }) => ({ reason: params.reason })),
    stopOnFinalError: assign((_, params: { error: unknown }) => ({
      reason: classifyOpenError(params.error) === 'not-implemented' ? 'not-implemented' : 'unrecoverable',
    })),
  },
  guards: {
    /** Not implemented, or unrecoverable: the hook stops for good (spec rule 4). */
    isFinalError: (_, params: { error: unknown }) => isFinalError(params.error),
    isPluginShutdown: (_, params: { error: unknown }) =>
      classifyOpenError(params.error) === 'plugin-shutdown',
    isNewDropCause: ({ context }, params: { cause: string }) =>
      !context.warnedDropCauses.includes(params.cause),
  },
  delays: {
    openTimeout: ({ context }) => context.openTimeoutMs,
    /** `src` provides this again with an injected random source; the default uses Math.random. */
    retryDelay: ({ context }) => backoffDelayMs(context, Math.random),
  },
}).createMachine({
  id: 'statsHook',
  context: ({ input }) => ({
    taskId: input.taskId,
    intervalMs: input.intervalMs ?? 1000,
    backoff: { ...DEFAULT_BACKOFF, ...input.backoff },
    openTimeoutMs: input.openTimeoutMs ?? 10_000,
    stallTimeoutMs: input.stallTimeoutMs,
    failedOpens: 0,
    retryDelayMs: 0,
    lastTimestamp: undefined,
    warnedDropCauses: [],
    reason: undefined,
    counts: { calls: 0, samples: 0, dropped: 0, openErrors: 0, streamEnds: 0 },
  }),
  initial: 'retrying',
  on: {
    exited: {
      target: '.terminal',
      actions: [
        { type: 'stopBecause', params: { reason: 'exited' } },
        { type: 'log', params: { level: 'debug', msg: LOG_TEXT.exited } },
      ],
    },
    shutdown: {
      target: '.terminal',
      actions: [
        { type: 'stopBecause', params: { reason: 'shutdown' } },
        { type: 'log', params: { level: 'debug', msg: LOG_TEXT.shutdown } },
      ],
    },
    poststart: {
      // A second poststart replaces the collector: a transition of the root to a child exits the
      // active child first (so the call, stream or timer stops), then enters `retrying` afresh,
      // `retrying` itself included; `reenter` would change nothing here.
      target: '.retrying',
      actions: {
        type: 'log',
        params: { level: 'debug', msg: LOG_TEXT.replacing },
      },
    },
  },
  states: {
    retrying: {
      entry: 'countCall',
      invoke: {
        src: 'openStats',
        input: ({ context }) => ({ taskId: context.taskId, intervalMs: context.intervalMs }),
        onDone: { target: 'streaming', actions: 'resetFailedOpens' },
        onError: [
          {
            guard: { type: 'isFinalError', params: ({ event }) => ({ error: event.error }) },
            target: 'terminal',
            actions: [
              { type: 'stopOnFinalError', params: ({ event }) => ({ error: event.error }) },
              { type: 'log', params: ({ event }) => finalErrorLog(event.error) },
            ],
          },
          {
            guard: { type: 'isPluginShutdown', params: ({ event }) => ({ error: event.error }) },
            target: 'backoff',
            actions: [
              'recordOpenError',
              { type: 'log', params: { level: 'debug', msg: LOG_TEXT.pluginShutdown } },
            ],
          },
          {
            target: 'backoff',
            actions: [
              'recordOpenError',
              {
                type: 'log',
                params: ({ event }) => ({
                  level: 'error',
                  msg: LOG_TEXT.openFailed,
                  error: describeError(event.error),
                }),
              },
            ],
          },
        ],
      },
      after: {
        openTimeout: {
          target: 'backoff',
          actions: [
            'recordOpenError',
            {
              type: 'log',
              params: { level: 'error', msg: LOG_TEXT.openTimedOut },
            },
          ],
        },
      },
    },
    streaming: {
      invoke: {
        src: 'readStats',
        input: ({ context, event }) => ({
          stream: openedStream(event),
          lastTimestamp: context.lastTimestamp,
          stallTimeoutMs: context.stallTimeoutMs,
        }),
      },
      on: {
        'stats.sample': {
          actions: [
            { type: 'publishSample', params: ({ event }) => ({ sample: event.sample }) },
            { type: 'recordSample', params: ({ event }) => ({ timestamp: event.timestamp }) },
          ],
        },
        'stats.dropped': [
          {
            guard: { type: 'isNewDropCause', params: ({ event }) => ({ cause: event.cause }) },
            actions: [
              { type: 'recordDrop', params: ({ event }) => ({ cause: event.cause }) },
              {
                type: 'log',
                params: ({ event }) => ({
                  level: 'warn',
                  // Stryker disable next-line StringLiteral: log text
                  msg: `dropped invalid stats sample (${event.cause} at ${event.path || 'sample'}: ${String(event.value)}); further ones of this cause are dropped silently`,
                }),
              },
            ],
          },
          { actions: { type: 'recordDrop', params: ({ event }) => ({ cause: event.cause }) } },
        ],
        'stats.ended': {
          // Always through the backoff timer: a driver that closes its stream at once must not spin.
          target: 'backoff',
          actions: [
            'recordStreamEnd',
            { type: 'log', params: { level: 'debug', msg: LOG_TEXT.streamEnded } },
          ],
        },
        'stats.stalled': {
          target: 'backoff',
          actions: [
            'recordStreamEnd',
            { type: 'log', params: { level: 'warn', msg: LOG_TEXT.streamStalled } },
          ],
        },
        'stats.failed': [
          {
            guard: { type: 'isFinalError', params: ({ event }) => ({ error: event.error }) },
            target: 'terminal',
            actions: [
              { type: 'stopOnFinalError', params: ({ event }) => ({ error: event.error }) },
              { type: 'log', params: ({ event }) => finalErrorLog(event.error) },
            ],
          },
          {
            target: 'backoff',
            actions: [
              'recordStreamEnd',
              {
                type: 'log',
                params: ({ event }) => ({
                  level: 'warn',
                  msg: LOG_TEXT.streamFailed,
                  error: describeError(event.error),
                }),
              },
            ],
          },
        ],
      },
    },
    backoff: {
      after: { retryDelay: 'retrying' },
    },
    terminal: {
      type: 'final',
    },
  },
  output: ({ context }) => ({
    taskId: context.taskId,
    // Every way into `terminal` says why (stopBecause, stopOnFinalError).
    reason: context.reason as StatsHookStopReason,
    ...context.counts,
  }),
});

export type StatsHookActor = ActorRefFrom<typeof statsHookMachine>;
