import pino, { type Logger } from 'pino';

export type { Logger };

/** A logger that writes nothing: the library's default, so embedding taskpulse never prints unasked. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Rate-limits repeated `error` lines of one cause (spec rule 10), and `warn` lines the same way: at
 * most one line per `windowMs` per key; the next line that gets through carries how many were
 * suppressed in between.
 */
export class ErrorRateLimiter {
  private readonly lastAt = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();

  constructor(
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns undefined when the line must be suppressed, else the count suppressed before it. */
  admit(key: string): { suppressed: number } | undefined {
    const now = this.now();
    const last = this.lastAt.get(key);
    if (last !== undefined && now - last < this.windowMs) {
      this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1);
      return undefined;
    }
    this.lastAt.set(key, now);
    const suppressed = this.suppressed.get(key) ?? 0;
    this.suppressed.delete(key);
    return { suppressed };
  }
}
