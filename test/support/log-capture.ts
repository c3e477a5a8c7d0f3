import pino, { type Logger } from 'pino';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface CapturedLogger {
  logger: Logger;
  lines: LogLine[];
  /** Lines at a pino level name. */
  at(level: 'debug' | 'info' | 'warn' | 'error'): LogLine[];
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** A real pino logger (`level` and up, default debug) whose lines land in an array, parsed. */
export function captureLogs(level: keyof typeof LEVELS = 'debug'): CapturedLogger {
  const lines: LogLine[] = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines, at: (level) => lines.filter((line) => line.level === LEVELS[level]) };
}
