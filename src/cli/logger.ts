/**
 * The CLI's logger: pino to stderr (stdout is for the table and JSON lines). `pretty` uses
 * pino-pretty only when stderr is a terminal; piped, it stays JSON so log shippers can read it.
 * Writes are synchronous, so lines written just before exit are not lost; a closed stderr (EPIPE, a
 * hung-up terminal) only stops the log lines, never the process (see closed-output.ts).
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { watchOutput } from './closed-output.js';

export type LogFormat = 'pretty' | 'json';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Fd 2, written synchronously; once a write fails, every later line is dropped. */
function stderrDestination(format: (line: string) => string): DestinationStream {
  const sonic = pino.destination({ fd: 2, sync: true });
  const output = watchOutput(sonic);
  return {
    write(line: string) {
      if (output.closedBy === undefined) sonic.write(format(line));
    },
  };
}

export function createCliLogger(level: string, format: LogFormat | undefined): Logger {
  const usePretty = (format ?? 'pretty') === 'pretty' && process.stderr.isTTY === true;
  if (usePretty) {
    const prettify = prettyFactory({ colorize: true, ignore: 'pid,hostname' });
    return pino(
      { level },
      stderrDestination((line) => prettify(line)),
    );
  }
  return pino(
    { level, base: null },
    stderrDestination((line) => line),
  );
}
