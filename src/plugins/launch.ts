/**
 * Launching a plugin process the go-plugin way: its own session, the handshake env, stderr to a
 * log file, and one line on stdout that says where it serves. Every failure names the plugin and
 * says what went wrong (wrong cookie, no line in time, a garbled line, an exit before the line).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { PluginEndpoint } from '../../machines/plugin-supervisor.machine.js';
import { processIdentity } from '../drivers/exec/recover.js';
import type { Logger } from '../runtime/logger.js';
import { PluginLaunchError } from './errors.js';
import { EXIT_WITH_HOST_ENV, hostEnv, parseHandshakeLine } from './handshake.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';
import { type LogRelay, relayPluginLog } from './relay-log.js';

export interface LaunchOptions {
  name: string;
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  logDir: string;
  handshakeTimeoutMs: number;
  logger: Logger;
  signal: AbortSignal;
  /**
   * Whether the plugin shuts down when this host goes away (`TASKPULSE_PLUGIN_EXIT_WITH_HOST`, its
   * stdin a pipe from us). False for a plugin meant to outlive its host: no such variable, stdin
   * not connected. Default true.
   */
  exitWithHost?: boolean;
}

export interface LaunchedPlugin {
  child: ChildProcess;
  endpoint: PluginEndpoint;
  /** The stderr log file. */
  logPath: string;
  relay: LogRelay;
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Kills the plugin's whole session (it runs in its own, pgid = pid). */
export function killPlugin(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

export function describeExit({
  code,
  signal,
}: {
  code: number | null;
  signal: NodeJS.Signals | null;
}): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

/** Where a plugin's stderr goes: the same file for every launch of it (and for a host attaching to it). */
export function pluginLogPath(logDir: string, name: string): string {
  return join(logDir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.stderr.log`);
}

export async function launchPlugin(options: LaunchOptions): Promise<LaunchedPlugin> {
  const { name, logger } = options;
  const exitWithHost = options.exitWithHost ?? true;
  mkdirSync(options.logDir, { recursive: true });
  const logPath = pluginLogPath(options.logDir, name);
  const stderr = openSync(logPath, 'a');
  const from = fstatSync(stderr).size;
  let child: ChildProcess;
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...options.env,
      ...hostEnv(SUPPORTED_PROTOCOL_VERSIONS),
    };
    if (!exitWithHost) delete env[EXIT_WITH_HOST_ENV];
    child = spawn(options.command, [...options.args], {
      detached: true, // own session and process group
      stdio: [exitWithHost ? 'pipe' : 'ignore', 'pipe', stderr],
      env,
    });
  } finally {
    closeSync(stderr);
  }
  const relay = relayPluginLog(logPath, from, logger);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stdin?.on('error', () => {}); // EPIPE once the plugin is gone
  const fail = async (message: string): Promise<never> => {
    killPlugin(child);
    if (child.pid !== undefined) await exited;
    const tail = relay.tail();
    relay.close();
    const last = tail.length > 0 ? `; its stderr ends: ${tail.slice(-2).join(' | ')}` : '';
    throw new PluginLaunchError(`plugin "${name}" (${options.command}): ${message}${last} (log: ${logPath})`);
  };

  const lines = createInterface({ input: child.stdout! });
  const outcome = await new Promise<{ kind: 'line'; line: string } | { kind: 'error'; message: string }>(
    (resolve) => {
      const timer = setTimeout(
        () => resolve({ kind: 'error', message: `no handshake within ${options.handshakeTimeoutMs} ms` }),
        options.handshakeTimeoutMs,
      );
      const done = (value: { kind: 'line'; line: string } | { kind: 'error'; message: string }) => {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onAbort = () => done({ kind: 'error', message: 'launch cancelled' });
      options.signal.addEventListener('abort', onAbort, { once: true });
      lines.once('line', (line) => done({ kind: 'line', line }));
      child.once('error', (error) => done({ kind: 'error', message: `cannot start: ${error.message}` }));
      exited.then((exit) =>
        done({
          kind: 'error',
          message: `${describeExit(exit)} before its handshake (wrong magic cookie or a crash?)`,
        }),
      );
    },
  );
  if (outcome.kind === 'error') return fail(outcome.message);
  let line: ReturnType<typeof parseHandshakeLine>;
  try {
    line = parseHandshakeLine(outcome.line, SUPPORTED_PROTOCOL_VERSIONS);
  } catch (error) {
    return fail((error as Error).message);
  }
  // Anything a plugin prints on stdout after the handshake is kept, at debug.
  lines.on('line', (text) => logger.debug({ stream: 'stdout' }, text));
  return {
    child,
    endpoint: {
      pid: child.pid!,
      startTime: processIdentity(child.pid!)?.startTime,
      address: line.network === 'unix' ? `unix:${line.address}` : line.address,
      protocolVersion: line.app,
    },
    logPath,
    relay,
    exited,
  };
}
