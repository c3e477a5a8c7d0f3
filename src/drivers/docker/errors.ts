/**
 * How the docker driver reads Docker Engine failures. dockerode rejects with plain `Error`s that carry
 * the HTTP `statusCode` (and the engine's `json` body) or a Node socket `code`; everything here keys on
 * those fields, never on message text.
 */
import { retryDelayMs } from '../../../machines/backoff.js';
import { RecoverableError } from '../errors.js';

/** Nomad's docker driver: stats errors back off min(5 s × 2^n, 2 min). */
export const DEFAULT_ENGINE_BACKOFF = { baseMs: 5000, capMs: 120_000 } as const;

export interface EngineBackoff {
  baseMs: number;
  capMs: number;
}

/** Delay before the retry after the n-th consecutive engine error (n from 0). */
export function engineRetryDelayMs(n: number, backoff: EngineBackoff): number {
  return retryDelayMs(n, backoff);
}

function field(error: unknown, name: string): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[name] : undefined;
}

/** The HTTP status the engine answered with, when the failure is an HTTP answer. */
export function statusCodeOf(error: unknown): number | undefined {
  const status = field(error, 'statusCode');
  return typeof status === 'number' ? status : undefined;
}

/** 404: no such container (or image, on create). */
export function isNotFound(error: unknown): boolean {
  return statusCodeOf(error) === 404;
}

/** 304 on stop: the container was not running. */
export function isNotModified(error: unknown): boolean {
  return statusCodeOf(error) === 304;
}

/** The engine itself failed (socket refused or reset, 5xx, a timeout, bad JSON): worth retrying. */
export function isEngineFailure(error: unknown): boolean {
  const status = statusCodeOf(error);
  if (status !== undefined) return status >= 500;
  return true;
}

/** Stats of a container that is stopped or removed: the hook must stop quietly (Nomad's wording). */
export function containerStopped(cause?: unknown): RecoverableError {
  return new RecoverableError('container stopped', false, cause === undefined ? undefined : { cause });
}

/** Start failures: engine trouble may pass, a bad request (unknown image, bad config) will not. */
export function startError(error: unknown): RecoverableError {
  return new RecoverableError(`docker: ${describe(error)}`, isEngineFailure(error), { cause: error });
}

/** The stream went silent longer than the stall timeout. */
export class StreamStalledError extends Error {
  override readonly name = 'StreamStalledError';
  readonly code = 'TASKPULSE_DOCKER_STALLED';
  constructor(readonly silentMs: number) {
    super(`docker stats stream silent for ${silentMs} ms`);
  }
}

/** A short description for logs: the engine's own message when it sent one. */
export function describe(error: unknown): string {
  const json = field(error, 'json');
  const engineMessage = field(json, 'message');
  const status = statusCodeOf(error);
  if (typeof engineMessage === 'string') return `${status ?? ''} ${engineMessage}`.trim();
  if (error instanceof Error) {
    const code = field(error, 'code');
    return typeof code === 'string' && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}
