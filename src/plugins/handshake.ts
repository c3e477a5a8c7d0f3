/**
 * go-plugin's handshake: the environment the host gives the plugin, the version the plugin picks,
 * and the one line it prints on stdout (`CORE|APP|NETWORK|ADDR|PROTOCOL|CERT`).
 */
import { CORE_PROTOCOL_VERSION, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from './protocol.js';

export const PROTOCOL_VERSIONS_ENV = 'PLUGIN_PROTOCOL_VERSIONS';
/** Set by a taskpulse host: the plugin shuts down when its stdin closes (the host is gone). */
export const EXIT_WITH_HOST_ENV = 'TASKPULSE_PLUGIN_EXIT_WITH_HOST';

export interface HandshakeLine {
  core: number;
  app: number;
  network: 'unix' | 'tcp';
  address: string;
  protocol: 'grpc';
}

export function formatHandshakeLine(app: number, socketPath: string): string {
  return `${CORE_PROTOCOL_VERSION}|${app}|unix|${socketPath}|grpc|\n`;
}

/** Parses the plugin's line; the error says what is wrong with it, quoting it. */
export function parseHandshakeLine(line: string, supported: readonly number[]): HandshakeLine {
  const quoted = JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}…` : line);
  const parts = line.trim().split('|');
  if (parts.length < 5 || parts.length > 6) {
    throw new Error(`garbled handshake line ${quoted}: expected CORE|APP|NETWORK|ADDR|PROTOCOL|CERT`);
  }
  const [core, app, network, address, protocol] = parts as [string, string, string, string, string];
  if (Number(core) !== CORE_PROTOCOL_VERSION) {
    throw new Error(`handshake line ${quoted}: core protocol ${core}, expected ${CORE_PROTOCOL_VERSION}`);
  }
  const appVersion = Number(app);
  if (!supported.includes(appVersion)) {
    throw new Error(
      `handshake line ${quoted}: protocol version ${app}, this host speaks ${supported.join(',')}`,
    );
  }
  if (network !== 'unix' && network !== 'tcp')
    throw new Error(`handshake line ${quoted}: network ${network}`);
  if (!address) throw new Error(`handshake line ${quoted}: no address`);
  if (protocol !== 'grpc') throw new Error(`handshake line ${quoted}: protocol ${protocol}, expected grpc`);
  return { core: CORE_PROTOCOL_VERSION, app: appVersion, network, address, protocol };
}

/** The plugin's side: checks the cookie and picks the highest version both speak. */
export function negotiate(
  env: NodeJS.ProcessEnv,
  supported: readonly number[],
): { ok: true; version: number } | { ok: false; message: string } {
  if (env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    return {
      ok: false,
      message:
        'This binary is a taskpulse driver plugin. It is not meant to be run directly: ' +
        'a taskpulse agent (or a go-plugin host with its handshake config) launches it.',
    };
  }
  const offered = (env[PROTOCOL_VERSIONS_ENV] ?? '')
    .split(',')
    .map((v) => Number(v.trim()))
    .filter((v) => Number.isInteger(v) && v > 0);
  if (offered.length === 0) return { ok: true, version: Math.max(...supported) };
  const common = offered.filter((v) => supported.includes(v));
  if (common.length === 0) {
    return {
      ok: false,
      message: `plugin speaks protocol versions ${supported.join(',')}, the host offered ${offered.join(',')}`,
    };
  }
  return { ok: true, version: Math.max(...common) };
}

export function hostEnv(versions: readonly number[]): Record<string, string> {
  return {
    [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
    [PROTOCOL_VERSIONS_ENV]: versions.join(','),
    PLUGIN_MIN_PORT: '10000',
    PLUGIN_MAX_PORT: '25000',
    [EXIT_WITH_HOST_ENV]: '1',
  };
}
