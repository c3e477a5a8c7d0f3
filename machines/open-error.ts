/**
 * How the stats hook classifies a driver error (spec rule 4). Pure: it reads the error's stable
 * `code` (and `recoverable` flag), never its message, so errors that crossed a process or plugin
 * boundary as plain objects classify the same as the classes in `src/drivers/errors.ts`.
 */

export const DRIVER_ERROR_CODES = {
  recoverable: 'TASKPULSE_RECOVERABLE',
  statsNotImplemented: 'TASKPULSE_STATS_NOT_IMPLEMENTED',
  taskNotFound: 'TASKPULSE_TASK_NOT_FOUND',
  pluginShutdown: 'TASKPULSE_PLUGIN_SHUTDOWN',
} as const;

export type DriverErrorCode = (typeof DRIVER_ERROR_CODES)[keyof typeof DRIVER_ERROR_CODES];

/**
 * - `not-implemented`: the driver has no stats; stop, no retry.
 * - `unrecoverable`: a `RecoverableError` with `recoverable: false` (e.g. "container stopped"); stop quietly.
 * - `plugin-shutdown`: the driver's process went away; retry quietly.
 * - `other`: anything else, "task not found" included; retry and log an error.
 */
export type OpenErrorClass = 'not-implemented' | 'unrecoverable' | 'plugin-shutdown' | 'other';

function field(error: unknown, name: string): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[name] : undefined;
}

export function classifyOpenError(error: unknown): OpenErrorClass {
  switch (field(error, 'code')) {
    case DRIVER_ERROR_CODES.statsNotImplemented:
      return 'not-implemented';
    case DRIVER_ERROR_CODES.recoverable:
      return field(error, 'recoverable') === false ? 'unrecoverable' : 'other';
    case DRIVER_ERROR_CODES.pluginShutdown:
      return 'plugin-shutdown';
    default:
      return 'other';
  }
}

/** Final errors end the hook whether they come from opening a stream or from inside one. */
export function isFinalError(error: unknown): boolean {
  const kind = classifyOpenError(error);
  return kind === 'not-implemented' || kind === 'unrecoverable';
}

/**
 * Any value as a short string for a log line. Never throws: `String()` does for a null-prototype
 * object or a throwing `toString`, and a driver may hand over anything (found by the soak's
 * invalid-sample tests: such a value crashed the hook's log action).
 */
export function describeValue(value: unknown, maxLength = 120): string {
  let text: string;
  try {
    text = String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}

/**
 * A short, log-friendly description of any thrown value. Never throws, and always a string: an
 * `Error` is read like any other value (its `message` may have been replaced by a non-string or a
 * throwing getter, as a plain object's may).
 */
export function describeError(error: unknown): string {
  let message: unknown;
  try {
    message = field(error, 'message');
  } catch {
    // A throwing getter: `message` stays undefined, and the value itself is described.
  }
  return typeof message === 'string' ? message : describeValue(error);
}
