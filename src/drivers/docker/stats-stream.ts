/**
 * The docker stats stream: `GET /containers/{id}/stats?stream=true` read as NDJSON, one frame a second
 * from the engine, turned into samples at the caller's interval.
 *
 * - Framing: the body is chunked with no `Content-Type`; each frame is one JSON line. Lines are split
 *   here (dockerode hands back the raw response).
 * - A zeroed frame (`read` = Go's zero time) means the container stopped: the stream ends there and
 *   the frame is never parsed, so its stale `precpu_stats` cannot produce a negative delta.
 * - A clean end of the body means the container was removed: the stream ends.
 * - Engine failures (socket refused or reset, 5xx, a line that is not JSON, a stream silent longer
 *   than the stall timeout) are retried here with backoff min(5 s × 2^n, 2 min), n counted per task
 *   and reset by the next good frame. When `maxRetries` retries in a row failed, it waits one more backoff
 *   and then throws a recoverable `RecoverableError`, so a dead engine costs the hook one `warn` line
 *   per 2 minutes, never a storm.
 * - 404: the container is gone → `RecoverableError('container stopped', false)`.
 * - Aborting the signal closes the HTTP response at once.
 */
import { addAbortSignal, type Readable } from 'node:stream';
import type { Logger } from '../../runtime/logger.js';
import { abortableSleep } from '../abortable-sleep.js';
import { RecoverableError } from '../errors.js';
import type { TaskResourceUsage } from '../usage.js';
import {
  containerStopped,
  describe,
  type EngineBackoff,
  engineRetryDelayMs,
  isNotFound,
  StreamStalledError,
} from './errors.js';
import { type DockerStatsFrame, isZeroedFrame } from './parse-frame.js';

/** Opens one stats HTTP stream; rejects with dockerode's error (carrying `statusCode`) on failure. */
export type ConnectStats = (signal: AbortSignal) => Promise<Readable>;

/** Consecutive engine errors of one task, shared by all its streams so a reopen does not reset it. */
export interface ErrorCounter {
  count: number;
}

export interface EngineStatsOptions {
  connect: ConnectStats;
  /** Frame → sample; called only for real (non-zeroed) frames. */
  parse: (frame: DockerStatsFrame) => TaskResourceUsage;
  intervalMs: number;
  signal: AbortSignal;
  /** No byte for this long (headers included) counts as an engine failure. */
  stallTimeoutMs: number;
  backoff: EngineBackoff;
  maxRetries: number;
  errors: ErrorCounter;
  /** The engine said the container stopped (zeroed frame or 404). */
  onStopped: () => void;
  logger: Logger;
  now?: () => number;
}

/** Splits a byte stream into trimmed, non-empty lines. A partial last line at the end is dropped. */
export async function* ndjsonLines(body: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let buffered = '';
  for await (const chunk of body) {
    buffered += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let newline = buffered.indexOf('\n');
    while (newline !== -1) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line !== '') yield line;
      newline = buffered.indexOf('\n');
    }
  }
}

/** A line that is not JSON: the engine (or something between) sent garbage. */
export class BadFrameError extends Error {
  override readonly name = 'BadFrameError';
  constructor(line: string, options: { cause: unknown }) {
    super(`docker stats line is not JSON: ${line.slice(0, 80)}`, options);
  }
}

interface Connection {
  body: Readable;
  controller: AbortController;
  stall: StallTimer;
}
type Attempt = Connection | { error: unknown };

/** Aborts a connection when no byte arrived for `ms`; `touch()` on every chunk. */
class StallTimer {
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly ms: number,
    private readonly controller: AbortController,
  ) {
    this.touch();
  }
  touch() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(new StreamStalledError(this.ms)), this.ms);
  }
  clear() {
    clearTimeout(this.timer);
  }
}

async function connectOnce(options: EngineStatsOptions, signal: AbortSignal): Promise<Attempt> {
  const controller = new AbortController();
  const stopWithCaller = () => controller.abort(signal.reason);
  if (signal.aborted) stopWithCaller();
  signal.addEventListener('abort', stopWithCaller, { once: true });
  // Waiting for the headers counts towards the stall timeout too: a hung engine must not hang us.
  const stall = new StallTimer(options.stallTimeoutMs, controller);
  try {
    const body = await options.connect(controller.signal);
    // dockerode only ties the signal to the request; tie it to the response so abort closes it.
    addAbortSignal(controller.signal, body);
    return { body, controller, stall };
  } catch (error) {
    stall.clear();
    controller.abort();
    return {
      error: controller.signal.reason instanceof StreamStalledError ? controller.signal.reason : error,
    };
  } finally {
    signal.removeEventListener('abort', stopWithCaller);
  }
}

/** Reads frames across reconnects; ends when the container stops or is removed. */
async function* engineSamples(
  options: EngineStatsOptions,
  signal: AbortSignal,
  first: Attempt | undefined,
): AsyncGenerator<TaskResourceUsage> {
  const { errors, logger } = options;
  let attempt = first ?? (await connectOnce(options, signal));
  for (;;) {
    let failure: unknown;
    if ('error' in attempt) {
      failure = attempt.error;
    } else {
      const { body, controller, stall } = attempt;
      const close = () => controller.abort(signal.reason);
      if (signal.aborted) close();
      signal.addEventListener('abort', close, { once: true });
      try {
        for await (const line of ndjsonLines(body)) {
          stall.touch();
          let frame: DockerStatsFrame;
          try {
            frame = JSON.parse(line) as DockerStatsFrame;
          } catch (error) {
            throw new BadFrameError(line, { cause: error });
          }
          if (isZeroedFrame(frame)) {
            options.onStopped();
            return;
          }
          const sample = options.parse(frame);
          errors.count = 0;
          yield sample;
        }
        // The engine ends a stats body only when the container is removed.
        return;
      } catch (error) {
        failure = controller.signal.reason instanceof StreamStalledError ? controller.signal.reason : error;
      } finally {
        stall.clear();
        signal.removeEventListener('abort', close);
        controller.abort(); // closes the response if we leave early (return, or the caller stopped)
      }
    }
    if (signal.aborted) return;
    if (isNotFound(failure)) {
      options.onStopped();
      throw containerStopped(failure);
    }
    const n = errors.count;
    errors.count = n + 1;
    const delayMs = engineRetryDelayMs(n, options.backoff);
    const giveUp = n >= options.maxRetries;
    const fields = { op: 'stats', attempt: n + 1, delayMs, error: describe(failure) };
    if (n === 0) logger.warn(fields, 'docker stats failed, retrying with backoff');
    else logger.debug(fields, giveUp ? 'docker stats failed again, ending the stream' : 'docker stats retry');
    // Even when giving up, wait the backoff first: the hook reopens at once and must not spin.
    if (!(await abortableSleep(delayMs, signal))) return;
    if (giveUp) {
      throw new RecoverableError(`docker engine unavailable for stats: ${describe(failure)}`, true, {
        cause: failure,
      });
    }
    attempt = await connectOnce(options, signal);
  }
}

/**
 * Emits the newest item of `source` at most once per `intervalMs` (never the same item twice, never
 * a made-up one): an item that arrives early waits for its slot and is replaced by any newer one.
 * `makeSource` gets a signal that aborts when the consumer stops, so the source never outlives it.
 */
export async function* latestPerInterval<T>(
  makeSource: (signal: AbortSignal) => AsyncIterable<T>,
  intervalMs: number,
  signal: AbortSignal,
  now: () => number = Date.now,
): AsyncGenerator<T> {
  const inner = new AbortController();
  const stop = AbortSignal.any([signal, inner.signal]);
  let latest: { value: T } | undefined;
  let finished: { error?: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  void (async () => {
    try {
      for await (const value of makeSource(stop)) {
        latest = { value };
        notify();
      }
      finished = {};
    } catch (error) {
      finished = { error };
    }
    notify();
  })();
  stop.addEventListener('abort', notify, { once: true });
  let lastEmitAt = Number.NEGATIVE_INFINITY;
  try {
    for (;;) {
      if (!latest && !finished && !stop.aborted) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      if (stop.aborted) return;
      if (!latest) {
        if (finished?.error !== undefined) throw finished.error;
        if (finished) return;
        continue;
      }
      const waitMs = lastEmitAt + intervalMs - now();
      if (waitMs > 0 && !(await abortableSleep(waitMs, stop))) return;
      const { value } = latest;
      latest = undefined;
      lastEmitAt = now();
      yield value;
    }
  } finally {
    // The source sees `inner` abort and closes its connection; not awaited, so a source stuck in
    // a wait of its own can never hold up the caller's `return()`.
    inner.abort();
    stop.removeEventListener('abort', notify);
  }
}

/**
 * Opens the stats stream of one container. Rejects only with `RecoverableError('container stopped',
 * false)` (404); an engine failure on this first connect is retried inside the returned stream.
 */
export async function openEngineStats(
  options: EngineStatsOptions,
): Promise<AsyncIterable<TaskResourceUsage>> {
  const first = await connectOnce(options, options.signal);
  if ('error' in first && isNotFound(first.error)) {
    options.onStopped();
    throw containerStopped(first.error);
  }
  let unused: Attempt | undefined = first;
  return latestPerInterval(
    (signal) => {
      // The connection made here serves the first iteration; any later one connects afresh.
      const attempt = unused;
      unused = undefined;
      return engineSamples(options, signal, attempt);
    },
    options.intervalMs,
    options.signal,
    options.now,
  );
}
