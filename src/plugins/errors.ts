/**
 * Driver errors across the RPC, both ways, by gRPC status code and a trailer, never by message
 * text (the table is at the top of proto/taskpulse/driver/v1/driver.proto).
 */
import type { Metadata, ServiceError, status } from '@grpc/grpc-js';
import { DRIVER_ERROR_CODES } from '../../machines/open-error.js';
import {
  PluginShutdownError,
  RecoverableError,
  StatsNotImplementedError,
  TaskNotFoundError,
} from '../drivers/errors.js';
import { grpc } from './grpc.js';

/** The trailer that carries a RecoverableError's flag ("true" / "false"). */
export const RECOVERABLE_TRAILER = 'taskpulse-recoverable';

/** The driver (or the plugin) does not implement a call other than TaskStats. */
export class NotImplementedError extends Error {
  readonly code = 'TASKPULSE_NOT_IMPLEMENTED';
  override readonly name = 'NotImplementedError';
  constructor(
    readonly method: string,
    options?: { cause?: unknown },
  ) {
    super(`${method} not implemented by the driver`, options);
  }
}

/** A plugin that cannot be launched or does not complete the handshake; the message names it. */
export class PluginLaunchError extends Error {
  readonly code = 'TASKPULSE_PLUGIN_LAUNCH';
  override readonly name = 'PluginLaunchError';
}

export interface StatusError {
  code: status;
  details: string;
  metadata: Metadata;
}

function codeOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

/** A driver's error as the status the plugin answers with. */
export function toStatusError(error: unknown): StatusError {
  const metadata = new grpc.Metadata();
  const details = error instanceof Error ? error.message : String(error);
  switch (codeOf(error)) {
    case DRIVER_ERROR_CODES.taskNotFound:
      return { code: grpc.status.NOT_FOUND, details, metadata };
    case DRIVER_ERROR_CODES.statsNotImplemented:
    case 'TASKPULSE_NOT_IMPLEMENTED':
      return { code: grpc.status.UNIMPLEMENTED, details, metadata };
    case DRIVER_ERROR_CODES.recoverable:
      metadata.set(RECOVERABLE_TRAILER, String((error as RecoverableError).recoverable === true));
      return { code: grpc.status.FAILED_PRECONDITION, details, metadata };
    case DRIVER_ERROR_CODES.pluginShutdown:
      return { code: grpc.status.UNAVAILABLE, details, metadata };
    default:
      return { code: grpc.status.UNKNOWN, details, metadata };
  }
}

/** The status a call ended with as the driver error the host's caller sees. */
export function fromStatusError(error: ServiceError, call: { method: string; taskId?: string }): Error {
  const options = { cause: error };
  switch (error.code) {
    case grpc.status.NOT_FOUND: {
      // The plugin's own words after "task not found: <id>: " (why a re-attach failed), for people.
      const prefix = `task not found: ${call.taskId ?? ''}: `;
      const why = error.details?.startsWith(prefix) ? error.details.slice(prefix.length) : undefined;
      return new TaskNotFoundError(call.taskId ?? '', why ? { ...options, why } : options);
    }
    case grpc.status.UNIMPLEMENTED:
      return call.method === 'TaskStats'
        ? new StatsNotImplementedError(options)
        : new NotImplementedError(call.method, options);
    case grpc.status.FAILED_PRECONDITION: {
      const flag = error.metadata?.get(RECOVERABLE_TRAILER)[0];
      if (flag === 'true' || flag === 'false')
        return new RecoverableError(error.details, flag === 'true', options);
      return new Error(error.details, options);
    }
    // The plugin is gone or going (a dropped connection, a refused one, a shutdown).
    case grpc.status.UNAVAILABLE:
    case grpc.status.CANCELLED:
      return new PluginShutdownError(options);
    default:
      return new Error(error.details || error.message, options);
  }
}
