/**
 * Re-logs a plugin's stderr through the host's pino logger. The plugin writes to a file, not a pipe
 * (a plugin meant to outlive its host would die of SIGPIPE on a pipe to a dead host), and the host
 * reads what was appended. hclog lines (`@level`, `@message`) and pino lines (`level`, `msg`) keep
 * their level; anything else is logged raw at debug.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { Logger } from '../runtime/logger.js';

const PINO_LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** One stderr line as (level, fields, message). */
export function parsePluginLogLine(line: string): {
  level: Level;
  fields: Record<string, unknown>;
  message: string;
} {
  if (line.startsWith('{')) {
    try {
      const record = JSON.parse(line) as Record<string, unknown>;
      const raw =
        record['@level'] ?? (typeof record.level === 'number' ? PINO_LEVELS[record.level] : record.level);
      const level = typeof raw === 'string' && LEVELS.has(raw) ? (raw as Level) : 'debug';
      const message = String(record['@message'] ?? record.msg ?? '');
      const fields: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(record)) {
        if (!['@level', '@message', '@timestamp', 'level', 'msg', 'time', 'pid', 'hostname'].includes(key)) {
          fields[key] = value;
        }
      }
      return { level, fields, message };
    } catch {
      // not JSON after all: raw
    }
  }
  return { level: 'debug', fields: {}, message: line };
}

export interface LogRelay {
  /** Reads what is left and stops. */
  close(): void;
  /** The last lines read (for error messages about a plugin that died at once). */
  tail(): string[];
}

/** Relays what is appended to `path` from byte `from` on (earlier launches' lines are not repeated). */
export function relayPluginLog(path: string, from: number, logger: Logger, pollMs = 200): LogRelay {
  const fd = openSync(path, 'r');
  const buffer = Buffer.alloc(64 * 1024);
  let position = from;
  let partial = '';
  const recent: string[] = [];
  const drain = () => {
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, position);
      if (read === 0) return;
      position += read;
      const lines = (partial + buffer.toString('utf8', 0, read)).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        recent.push(line);
        if (recent.length > 5) recent.shift();
        const { level, fields, message } = parsePluginLogLine(line);
        logger[level](fields, message);
      }
    }
  };
  const timer = setInterval(drain, pollMs);
  timer.unref();
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      drain();
      closeSync(fd);
    },
    tail() {
      if (!closed) drain();
      return [...recent];
    },
  };
}
