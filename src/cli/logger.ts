/**
 * The CLI's logger: pino to stderr (stdout is for the table and JSON lines). `pretty` uses
 * pino-pretty only when stderr is a terminal; piped, it stays JSON so log shippers can read it.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'pretty' | 'json';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export function createCliLogger(level: string, format: LogFormat | undefined): Logger {
  const usePretty = (format ?? 'pretty') === 'pretty' && process.stderr.isTTY === true;
  if (usePretty) {
    // Synchronous, so lines written just before exit are not lost.
    return pino({ level }, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  return pino({ level, base: null }, pino.destination({ fd: 2, sync: true }));
}
