/**
 * The CLI's logger: pino to stderr (stdout is for the table and JSON lines). `pretty` uses
 * pino-pretty only when stderr is a terminal; piped, it stays JSON so log shippers can read it.
 * pino-pretty is an optional peer dependency, imported only for a terminal: asked for with
 * `--log-format pretty` it must be installed; as the default, its absence means JSON logs.
 * pino itself is imported here too, so commands that log nothing (`--version`, `validate`) skip it.
 */
import type { Logger } from 'pino';
import { importOptional, MissingPackageError } from '../runtime/optional-package.js';

export type LogFormat = 'pretty' | 'json';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export async function createCliLogger(level: string, format: LogFormat | undefined): Promise<Logger> {
  const { default: pino } = await import('pino');
  let missing: MissingPackageError | undefined;
  if ((format ?? 'pretty') === 'pretty' && process.stderr.isTTY === true) {
    try {
      const { default: pretty } = await importOptional(
        'pino-pretty',
        '--log-format pretty',
        () => import('pino-pretty'),
      );
      // Synchronous, so lines written just before exit are not lost.
      return pino({ level }, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
    } catch (error) {
      if (format === 'pretty' || !(error instanceof MissingPackageError)) throw error;
      missing = error;
    }
  }
  const logger = pino({ level, base: null }, pino.destination({ fd: 2, sync: true }));
  if (missing) logger.info(`${missing.message}; logging JSON`);
  return logger;
}
