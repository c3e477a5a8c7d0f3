/**
 * The plugin's own logger: pino writing hclog-style JSON lines on stderr (`@level`, `@message`,
 * `@timestamp` with 6 fractional digits), the format go-plugin's Go host parses; the taskpulse
 * host reads the same fields (see `relay-log.ts`).
 */
import pino from 'pino';
import type { Logger } from '../runtime/logger.js';

function hclogTime(ms: number): string {
  // 2006-01-02T15:04:05.000000Z07:00
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function createPluginLogger(level: string, fd = 2): Logger {
  return pino(
    {
      level,
      base: null,
      messageKey: '@message',
      formatters: { level: (label) => ({ '@level': label }) },
      timestamp: () => `,"@timestamp":"${hclogTime(Date.now())}"`,
    },
    pino.destination({ fd, sync: true }),
  );
}
