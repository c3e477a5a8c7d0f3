/**
 * The stats hook's behaviour as a table, written from `shared/spec/stats-hook.md` (rules 3–11) and not
 * from the machine: (state, event) → the target state and every effect that must be seen. Nothing
 * here imports `machines/`, so a broken machine cannot bend its own expectation. `stepHook` applies
 * one row to the oracle's own record of the hook (counters, error count, causes already warned).
 */

export type HookState = 'retrying' | 'streaming' | 'backoff' | 'terminal';
export type HookStopReason = 'exited' | 'shutdown' | 'not-implemented' | 'unrecoverable';
export type Level = 'debug' | 'info' | 'warn' | 'error';

/** How a log line names an error: its message, or the value itself. */
export function errorText(error: ErrorVariant): string {
  const value: unknown = ERROR_VARIANTS[error];
  return typeof value === 'string' ? value : String((value as { message: string }).message);
}

/** The error classes of rule 4, each with the wire form a driver (or a plugin across a process) sends. */
export const ERROR_VARIANTS = {
  'not-implemented': { code: 'TASKPULSE_STATS_NOT_IMPLEMENTED', message: 'stats not implemented' },
  unrecoverable: { code: 'TASKPULSE_RECOVERABLE', recoverable: false, message: 'container stopped' },
  'plugin-shutdown': { code: 'TASKPULSE_PLUGIN_SHUTDOWN', message: 'plugin is shut down' },
  'task-not-found': { code: 'TASKPULSE_TASK_NOT_FOUND', message: 'task not found: t1' },
  recoverable: { code: 'TASKPULSE_RECOVERABLE', recoverable: true, message: 'try again' },
  'recoverable-unflagged': { code: 'TASKPULSE_RECOVERABLE', message: 'no flag' },
  other: { message: 'boom' },
  'not-an-object': 'a bare string',
} as const;
export type ErrorVariant = keyof typeof ERROR_VARIANTS;
const FINAL: Partial<Record<ErrorVariant, HookStopReason>> = {
  'not-implemented': 'not-implemented',
  unrecoverable: 'unrecoverable',
};

export type HookEventKey =
  | 'poststart'
  | 'exited'
  | 'shutdown'
  | 'done:openStats'
  | 'error:openStats'
  | 'after:openTimeout'
  | 'after:retryDelay'
  | 'stats.sample'
  | 'stats.dropped'
  | 'stats.ended'
  | 'stats.stalled'
  | 'stats.failed';

/** One event as the oracle sees it: a key, and the variant (error class, drop cause) where it matters. */
export interface HookEvent {
  key: HookEventKey;
  error?: ErrorVariant;
  cause?: string;
  timestamp?: number;
}

export type Counter = 'calls' | 'samples' | 'dropped' | 'openErrors' | 'streamEnds';

/** A row: what the spec says happens. */
export interface HookRow {
  from: HookState;
  key: HookEventKey;
  /** Which events of the key the row is about (by error class or drop cause); all when absent. */
  when?: (event: HookEvent, record: HookRecord) => boolean;
  label: string;
  to: HookState;
  /** Log levels of the lines the step writes, in order. */
  logs: Level[];
  /** The line names the error (its message), so an operator sees which one. */
  namesError?: true;
  /** Counters the step raises by one (entering `retrying` also counts a call). */
  counts?: Counter[];
  /** The sample goes to the updater. */
  publish?: true;
  /** The backoff timer: one interval (after a stream), or the retry delay (after an open error). */
  backoff?: 'interval' | 'retry';
  /** The open-error count n of rule 5: raised by a retryable open error, reset by an open. */
  failedOpens?: 'raise' | 'reset';
  reason?: HookStopReason;
  /** A second `poststart`: the collector is replaced even when the state does not change. */
  replaces?: true;
  /** The drop cause is remembered (its first `warn` was written). */
  warnsCause?: true;
}

const isFinal = (e: HookEvent) => e.error !== undefined && FINAL[e.error] !== undefined;
const isPluginShutdown = (e: HookEvent) => e.error === 'plugin-shutdown';
const newCause = (e: HookEvent, r: HookRecord) => !r.warned.includes(e.cause ?? '');

const LIVE: HookState[] = ['retrying', 'streaming', 'backoff'];

/** Rules 7 and 11, from every live state. */
const lifecycleRows: HookRow[] = LIVE.flatMap((from): HookRow[] => [
  { from, key: 'exited', label: 'exited', to: 'terminal', logs: ['debug'], reason: 'exited' },
  { from, key: 'shutdown', label: 'shutdown', to: 'terminal', logs: ['debug'], reason: 'shutdown' },
  { from, key: 'poststart', label: 'poststart again', to: 'retrying', logs: ['debug'], replaces: true },
]);

export const HOOK_TABLE: readonly HookRow[] = [
  // retrying: one taskStats call in flight (rules 4, 5, 9)
  {
    from: 'retrying',
    key: 'done:openStats',
    label: 'opened',
    to: 'streaming',
    logs: [],
    failedOpens: 'reset',
  },
  ...(['not-implemented', 'unrecoverable'] as const).map(
    (error): HookRow => ({
      from: 'retrying',
      key: 'error:openStats',
      when: (e) => e.error === error,
      label: `open error ${error}`,
      to: 'terminal',
      logs: ['debug'],
      ...(error === 'unrecoverable' ? { namesError: true as const } : {}),
      reason: FINAL[error],
    }),
  ),
  {
    from: 'retrying',
    key: 'error:openStats',
    when: isPluginShutdown,
    label: 'open error plugin-shutdown',
    to: 'backoff',
    logs: ['debug'],
    counts: ['openErrors'],
    failedOpens: 'raise',
    backoff: 'retry',
  },
  {
    from: 'retrying',
    key: 'error:openStats',
    when: (e) => !isFinal(e) && !isPluginShutdown(e),
    label: 'open error, anything else',
    to: 'backoff',
    logs: ['error'],
    namesError: true,
    counts: ['openErrors'],
    failedOpens: 'raise',
    backoff: 'retry',
  },
  {
    from: 'retrying',
    key: 'after:openTimeout',
    label: 'open timed out',
    to: 'backoff',
    logs: ['error'],
    counts: ['openErrors'],
    failedOpens: 'raise',
    backoff: 'retry',
  },
  // streaming: samples in order; ended / threw / stalled → one interval (rules 2, 3, 6, 9)
  {
    from: 'streaming',
    key: 'stats.sample',
    label: 'sample',
    to: 'streaming',
    logs: [],
    counts: ['samples'],
    publish: true,
  },
  {
    from: 'streaming',
    key: 'stats.dropped',
    when: newCause,
    label: 'invalid sample, new cause',
    to: 'streaming',
    logs: ['warn'],
    counts: ['dropped'],
    warnsCause: true,
  },
  {
    from: 'streaming',
    key: 'stats.dropped',
    when: (e, r) => !newCause(e, r),
    label: 'invalid sample, cause seen',
    to: 'streaming',
    logs: [],
    counts: ['dropped'],
  },
  {
    from: 'streaming',
    key: 'stats.ended',
    label: 'stream ended',
    to: 'backoff',
    logs: ['debug'],
    counts: ['streamEnds'],
    backoff: 'interval',
  },
  {
    from: 'streaming',
    key: 'stats.stalled',
    label: 'stream stalled',
    to: 'backoff',
    logs: ['warn'],
    counts: ['streamEnds'],
    backoff: 'interval',
  },
  ...(['not-implemented', 'unrecoverable'] as const).map(
    (error): HookRow => ({
      from: 'streaming',
      key: 'stats.failed',
      when: (e) => e.error === error,
      label: `stream threw ${error}`,
      to: 'terminal',
      logs: ['debug'],
      ...(error === 'unrecoverable' ? { namesError: true as const } : {}),
      reason: FINAL[error],
    }),
  ),
  {
    from: 'streaming',
    key: 'stats.failed',
    when: (e) => !isFinal(e),
    label: 'stream threw',
    to: 'backoff',
    logs: ['warn'],
    namesError: true,
    counts: ['streamEnds'],
    backoff: 'interval',
  },
  // backoff: one timer, nothing else (rules 3, 5, 7)
  { from: 'backoff', key: 'after:retryDelay', label: 'timer fired', to: 'retrying', logs: [] },
  ...lifecycleRows,
];

/** The oracle's own record of one hook, kept by `stepHook` alone. */
export interface HookRecord {
  state: HookState;
  counts: Record<Counter, number>;
  /** n of rule 5: open errors since the last successful open. */
  failedOpens: number;
  warned: string[];
  lastTimestamp: number | undefined;
  reason: HookStopReason | undefined;
  /** The delay of the current backoff, before jitter; how it was chosen. */
  backoff: { kind: 'interval' | 'retry'; delayMs: number } | undefined;
}

export interface HookConfig {
  intervalMs: number;
  baseMs: number;
  capMs: number;
  openTimeoutMs: number;
}

/** The defaults of rules 1, 5 and 9. */
export const SPEC_DEFAULTS: HookConfig = {
  intervalMs: 1000,
  baseMs: 1000,
  capMs: 5000,
  openTimeoutMs: 10_000,
};

/** Rule 5 as plain arithmetic: double from base n times, never past cap (no power, no overflow). */
export function referenceRetryDelay(n: number, baseMs: number, capMs: number): number {
  let delay = baseMs;
  for (let i = 0; i < n && delay < capMs; i++) delay *= 2;
  return Math.min(delay, capMs);
}

export const initialRecord = (): HookRecord => ({
  state: 'retrying',
  counts: { calls: 1, samples: 0, dropped: 0, openErrors: 0, streamEnds: 0 },
  failedOpens: 0,
  warned: [],
  lastTimestamp: undefined,
  reason: undefined,
  backoff: undefined,
});

export function findRow(record: HookRecord, event: HookEvent): HookRow | undefined {
  return HOOK_TABLE.find(
    (row) => row.from === record.state && row.key === event.key && (row.when?.(event, record) ?? true),
  );
}

/** What one step must show, besides the record after it. */
export interface HookStep {
  row: HookRow;
  /** A new driver call starts (entering `retrying`, or re-entering it). */
  newCall: boolean;
  /** What ran in the state left is stopped: the call aborted, the stream closed, the timer cancelled. */
  stopsPrevious: boolean;
}

export function stepHook(
  record: HookRecord,
  event: HookEvent,
  config: HookConfig,
): { record: HookRecord; step: HookStep } | undefined {
  const row = findRow(record, event);
  if (!row) return undefined;
  const counts = { ...record.counts };
  for (const counter of row.counts ?? []) counts[counter] += 1;
  const newCall = row.to === 'retrying';
  if (newCall) counts.calls += 1;
  let failedOpens = record.failedOpens;
  let backoff = record.backoff;
  if (row.backoff === 'retry') {
    backoff = { kind: 'retry', delayMs: referenceRetryDelay(failedOpens, config.baseMs, config.capMs) };
  }
  if (row.backoff === 'interval') backoff = { kind: 'interval', delayMs: config.intervalMs };
  if (row.failedOpens === 'raise') failedOpens += 1;
  if (row.failedOpens === 'reset') failedOpens = 0;
  return {
    record: {
      state: row.to,
      counts,
      failedOpens,
      warned: row.warnsCause ? [...record.warned, event.cause ?? ''] : record.warned,
      lastTimestamp: row.publish ? event.timestamp : record.lastTimestamp,
      reason: row.reason ?? record.reason,
      backoff,
    },
    step: { row, newCall, stopsPrevious: row.to !== row.from || row.replaces === true },
  };
}

/** Every event the oracle knows, one of each variant: the alphabet of walks and of "nothing happens". */
export function hookAlphabet(sampleAt: () => number): HookEvent[] {
  const errors = Object.keys(ERROR_VARIANTS) as ErrorVariant[];
  return [
    { key: 'poststart' },
    { key: 'exited' },
    { key: 'shutdown' },
    { key: 'done:openStats' },
    ...errors.map((error) => ({ key: 'error:openStats' as const, error })),
    { key: 'after:openTimeout' },
    { key: 'after:retryDelay' },
    { key: 'stats.sample', timestamp: sampleAt() },
    { key: 'stats.dropped', cause: 'negative' },
    { key: 'stats.dropped', cause: 'not-finite' },
    { key: 'stats.ended' },
    { key: 'stats.stalled' },
    ...errors.map((error) => ({ key: 'stats.failed' as const, error })),
  ];
}
