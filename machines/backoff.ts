/** Retry delays (spec rule 5). Pure, so the machine and the benchmarks share one definition. */

export type Jitter = 'none' | 'full' | 'equal';

export interface BackoffOptions {
  /** First delay after an open error. Default 1000 ms. */
  baseMs: number;
  /** Largest delay. Default 5000 ms. */
  capMs: number;
  /** Spread of each delay: `none` (default), `full` (0..d), `equal` (d/2..d). */
  jitter: Jitter;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 5000, jitter: 'none' };

/**
 * min(base × 2^n, cap) for the n-th consecutive error (n from 0). The exponent is clamped so the
 * figure stays finite for any n, however many errors a hook has seen.
 */
export function retryDelayMs(
  errorsSoFar: number,
  { baseMs, capMs }: Pick<BackoffOptions, 'baseMs' | 'capMs'>,
): number {
  const exponent = Math.min(Math.max(errorsSoFar, 0), 62);
  return Math.min(baseMs * 2 ** exponent, capMs);
}

/** Spreads a delay so that many hooks failing together do not retry in the same instant. */
export function applyJitter(delayMs: number, jitter: Jitter, random: () => number): number {
  switch (jitter) {
    case 'none':
      return delayMs;
    case 'full':
      return random() * delayMs;
    case 'equal':
      return delayMs / 2 + (random() * delayMs) / 2;
  }
}
