/** Small pieces the model and property tests share: fake time, log capture, samples. */
import pino from 'pino';
import { vi } from 'vitest';
import { emptyMemoryStats, type TaskResourceUsage } from '../../src/drivers/usage.js';
import type { Logger } from '../../src/runtime/logger.js';

/**
 * Fakes only the timer functions and Date: `setImmediate` stays real, so `flush()` can let every
 * pending promise chain run without moving the fake clock.
 */
export function useFakeTime(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
}

/** Lets the runtime react to what the test just did (promise chains, actor mailboxes). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Moves fake time, then lets the runtime react. */
export async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await flush();
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  [field: string]: unknown;
}

const LEVELS: Record<number, LogLine['level']> = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' };

/** A real pino logger at `debug` whose lines land, parsed, in `lines`. */
export function captureLogs(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        const parsed = JSON.parse(line) as { level: number; msg: string };
        lines.push({ ...parsed, level: LEVELS[parsed.level] ?? 'error' });
      },
    },
  );
  return { logger, lines };
}

/** A valid sample; `n` makes it recognisable and its timestamp increasing. */
export function validSample(n: number): TaskResourceUsage {
  return {
    timestamp: 1_000_000 + n,
    resourceUsage: { memory: { ...emptyMemoryStats(), rss: 1024 * n, measured: ['RSS'] } },
  };
}

/** A sample the hook must drop, for the given cause. */
export function invalidSample(cause: string, n: number): unknown {
  switch (cause) {
    case 'negative':
      return {
        ...validSample(n),
        resourceUsage: { memory: { ...emptyMemoryStats(), rss: -1, measured: [] } },
      };
    case 'not-finite':
      return {
        ...validSample(n),
        resourceUsage: { memory: { ...emptyMemoryStats(), rss: Number.NaN, measured: [] } },
      };
    default:
      return 'not a sample';
  }
}
