/**
 * The CLI's side of the agent's HTTP API, for the commands that look at or act on a running agent
 * (`status`, `stats`, `logs`, `restart`, `stop`). Address from `--address` or `TASKPULSE_ADDR`
 * (default `http://127.0.0.1:4646`), token from `--token` or `TASKPULSE_TOKEN`, sent as a bearer.
 * Failures become one-line `CliError`s that say what to check.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_HTTP_PORT } from '../agent/http-api.js';
import { CliError } from './errors.js';

export const DEFAULT_ADDRESS = `http://127.0.0.1:${DEFAULT_HTTP_PORT}`;

/** A running agent could not be asked (unreachable, refused the token, answered an error). */
export const EXIT_API = 1;

export interface ApiFlags {
  address: string;
  token?: string;
}

/** `--address` and `--token`, for every command that talks to a running agent. */
export function addApiOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--address <url>', 'the agent HTTP API')
        .env('TASKPULSE_ADDR')
        .default(DEFAULT_ADDRESS)
        .argParser(addressArg),
    )
    .addOption(new Option('--token <token>', 'the API token').env('TASKPULSE_TOKEN'));
}

/** `127.0.0.1:4646` or `http://host:port`: a base URL without a trailing slash. */
export function addressArg(value: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError('expected an address like http://127.0.0.1:4646');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError('expected http:// or https://');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export interface ApiClient {
  readonly address: string;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  /** The raw response of a GET (for streams), after the status was checked. */
  open(path: string, signal?: AbortSignal): Promise<Response>;
}

/** Nothing answers at the address (not started, or ended). */
export class AgentUnreachableError extends CliError {}

function unreachable(address: string, error: unknown): CliError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (error as Error).message;
  return new AgentUnreachableError(
    `cannot reach the agent at ${address} (${why}): is \`taskpulse agent\` running there? ` +
      'Set --address or TASKPULSE_ADDR',
    EXIT_API,
  );
}

async function failure(response: Response): Promise<CliError> {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { error?: unknown };
    if (typeof body.error === 'string') message = body.error;
  } catch {
    // Not JSON: the status line says enough.
  }
  if (response.status === 401) {
    return new CliError(
      `the agent refused the request (${message}): set TASKPULSE_TOKEN or --token`,
      EXIT_API,
    );
  }
  return new CliError(message, EXIT_API);
}

export function createApiClient(flags: ApiFlags): ApiClient {
  const { address } = flags;
  const headers: Record<string, string> = flags.token ? { authorization: `Bearer ${flags.token}` } : {};
  const request = async (path: string, init: RequestInit): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(`${address}${path}`, { ...init, headers: { ...headers, ...init.headers } });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw unreachable(address, error);
    }
    if (!response.ok) throw await failure(response);
    return response;
  };
  return {
    address,
    get: async <T>(path: string) => (await (await request(path, {})).json()) as T,
    post: async <T>(path: string, body: unknown) =>
      (await (
        await request(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json()) as T,
    open: (path, signal) => request(path, signal ? { signal } : {}),
  };
}
