/**
 * The driver error classes. Each carries a stable `code`; the stats hook and the task runner
 * classify errors by that code (see `machines/open-error.ts`), never by message text.
 */
import { DRIVER_ERROR_CODES, type DriverErrorCode } from '../../machines/open-error.js';

export { DRIVER_ERROR_CODES, type DriverErrorCode };

export abstract class DriverError extends Error {
  abstract readonly code: DriverErrorCode;
}

/** An error the driver says may or may not go away by retrying (Nomad's `structs.RecoverableError`). */
export class RecoverableError extends DriverError {
  readonly code = DRIVER_ERROR_CODES.recoverable;
  override readonly name = 'RecoverableError';
  constructor(
    message: string,
    readonly recoverable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The driver cannot report stats at all. */
export class StatsNotImplementedError extends DriverError {
  readonly code = DRIVER_ERROR_CODES.statsNotImplemented;
  override readonly name = 'StatsNotImplementedError';
  constructor(options?: { cause?: unknown }) {
    super('stats not implemented for driver', options);
  }
}

/** The driver does not know the task (never started, or already destroyed). */
export class TaskNotFoundError extends DriverError {
  readonly code = DRIVER_ERROR_CODES.taskNotFound;
  override readonly name = 'TaskNotFoundError';
  /** `why` says more (a re-attach that found the process gone or its pid reused). */
  constructor(
    readonly taskId: string,
    options?: { cause?: unknown; why?: string },
  ) {
    super(`task not found: ${taskId}${options?.why ? `: ${options.why}` : ''}`, options);
  }
}

/** The driver's process went away (Nomad's `bstructs.ErrPluginShutdown`). */
export class PluginShutdownError extends DriverError {
  readonly code = DRIVER_ERROR_CODES.pluginShutdown;
  override readonly name = 'PluginShutdownError';
  constructor(options?: { cause?: unknown }) {
    super('plugin is shut down', options);
  }
}

/** True for a start/stats error the driver marked as worth retrying. */
export function isRecoverable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, recoverable } = error as { code?: unknown; recoverable?: unknown };
  if (code === DRIVER_ERROR_CODES.recoverable) return recoverable === true;
  return code === DRIVER_ERROR_CODES.pluginShutdown;
}
