/**
 * The CLI's logger: pino to stderr (stdout is for the table and JSON lines). `pretty` uses
 * pino-pretty only when stderr is a terminal; piped, it stays JSON so log shippers can read it.
 * pino-pretty is an optional peer dependency, imported only for a terminal: asked for with
 * `--log-format pretty` it must be installed; as the default, its absence means JSON logs.
 * pino itself is imported here too, so commands that log nothing (`--version`, `validate`) skip it.
 * Writes are synchronous, so lines written just before exit are not lost; a closed stderr (EPIPE, a
 * hung-up terminal) only stops the log lines, never the process (see closed-output.ts).
 */
import type { DestinationStream, Logger } from 'pino';
import { importOptional, MissingPackageError } from '../runtime/optional-package.js';
import { watchOutput } from './closed-output.js';

export type LogFormat = 'pretty' | 'json';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export async function createCliLogger(level: string, format: LogFormat | undefined): Promise<Logger> {
  const { default: pino } = await import('pino');
  /** Fd 2, written synchronously; once a write fails, every later line is dropped. */
  const stderrDestination = (formatLine: (line: string) => string): DestinationStream => {
    const sonic = pino.destination({ fd: 2, sync: true });
    const output = watchOutput(sonic);
    return {
      write(line: string) {
        if (output.closedBy === undefined) sonic.write(formatLine(line));
      },
    };
  };
  let missing: MissingPackageError | undefined;
  if ((format ?? 'pretty') === 'pretty' && process.stderr.isTTY === true) {
    try {
      const { prettyFactory } = await importOptional(
        'pino-pretty',
        '--log-format pretty',
        () => import('pino-pretty'),
      );
      const prettify = prettyFactory({ colorize: true, ignore: 'pid,hostname' });
      return pino(
        { level },
        stderrDestination((line) => prettify(line)),
      );
    } catch (error) {
      if (format === 'pretty' || !(error instanceof MissingPackageError)) throw error;
      missing = error;
    }
  }
  const logger = pino(
    { level, base: null },
    stderrDestination((line) => line),
  );
  if (missing) logger.info(`${missing.message}; logging JSON`);
  return logger;
}
