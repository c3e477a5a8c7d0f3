/**
 * The agent's HTTP API (node:http, 127.0.0.1 by default): allocations and task states with events,
 * Nomad-shaped allocation stats, metrics as JSON or Prometheus text, and a health check. Read-only:
 * every route is GET (405 otherwise); unknown paths and ids answer 404; all errors are JSON.
 *
 * Hardening: a non-loopback address needs a bearer token (compared in constant time); paths are
 * matched as sent, never normalised or decoded, so `..` or `%2F` can only miss a route; bodies,
 * headers and slow clients are bounded (`HttpLimits`); a request with a body never keeps its connection.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { sumResourceUsage, type TaskResourceUsage } from '../drivers/usage.js';
import type { Logger } from '../runtime/logger.js';
import type { Agent, AgentTask, Allocation } from './create-agent.js';
import type { MetricsSink } from './metrics.js';
import { msToNs, nomadResourceUsage, nomadTaskEvent, nomadTaskResourceUsage, toJson } from './nomad-json.js';

export const DEFAULT_HTTP_PORT = 4646;

export interface HttpApiOptions {
  agent: Pick<Agent, 'allocations' | 'allocation'>;
  metrics: MetricsSink;
  logger: Logger;
  /** Default 4646; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. Any other (non-loopback) address requires `token`. */
  host?: string;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string;
  limits?: Partial<HttpLimits>;
}

export interface HttpLimits {
  /** Largest request body (the API reads none; this bounds what a client may send). Default 16 KiB. */
  maxBodyBytes: number;
  /** Largest request line plus headers (a longer URL or header answers 431). Default 16 KiB. */
  maxHeaderBytes: number;
  /** Time to receive the headers, and the whole request. Defaults 10 s and 30 s. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Idle keep-alive connections close after this. Default 5 s. */
  keepAliveTimeoutMs: number;
  /** How often node checks the two request timeouts (its own default, 30 s, would triple them). */
  timeoutCheckMs: number;
  /** Open connections at most. Default 256. */
  maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxBodyBytes: 16 * 1024,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  timeoutCheckMs: 1_000,
  maxConnections: 256,
};

/** The HTTP API cannot be served as configured (a non-loopback address without a token). */
export class HttpConfigError extends Error {
  override readonly name = 'HttpConfigError';
}

/** `127.0.0.0/8`, `::1`, `::ffff:127.x.y.z` or `localhost`: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === 'localhost') return true;
  if (isIP(lower) === 4) return lower.startsWith('127.');
  if (isIP(lower) === 6) return lower === '::1' || /^::ffff:127\./.test(lower);
  return false;
}

/** Throws `HttpConfigError` unless the API may listen on `host` with this token. */
export function checkHttpBinding(host: string, token: string | undefined): void {
  if (token !== undefined && token.trim() === '') throw new HttpConfigError('the API token is empty');
  if (token === undefined && !isLoopback(host)) {
    throw new HttpConfigError(
      `refusing to serve the HTTP API on ${JSON.stringify(host)} (not loopback) without a token: ` +
        'set --token or TASKPULSE_TOKEN, or listen on 127.0.0.1',
    );
  }
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Constant time: equal-length digests, so neither the content nor the length leaks through timing. */
function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  const given = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1] ?? '';
  return timingSafeEqual(digest(given), expected);
}

/** Echoed values (paths, ids) are cut: a 10 KiB id is not worth sending back. */
const cut = (text: string) => (text.length > 80 ? `${text.slice(0, 77)}…` : text);

export interface HttpApi {
  /** Resolves with the base URL, e.g. `http://127.0.0.1:4646`. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Nomad's task state: pending, running or dead. */
function nomadTaskState(runnerState: string): 'pending' | 'running' | 'dead' {
  if (runnerState === 'running' || runnerState === 'killing') return 'running';
  if (runnerState === 'dead' || runnerState === 'detached') return 'dead';
  return 'pending';
}

function taskStateJson(task: AgentTask) {
  const { context } = task.runner.actor.getSnapshot();
  const started = task.runner.events.findLast((event) => event.type === 'Started');
  const state = nomadTaskState(task.runner.state);
  const latest = task.runner.latestResourceUsage();
  return {
    State: state,
    /** taskpulse's finer state: pending, starting, running, killing, exited, restarting, dead, detached. */
    RunnerState: task.runner.state,
    Failed: task.output?.failed ?? context.failed,
    Restarts: task.output?.restarts ?? context.restarts,
    StartedAt: started ? new Date(started.time).toISOString() : null,
    Driver: task.config.driver,
    LatestStats: latest ? { Timestamp: msToNs(latest.sample.timestamp), Exited: latest.exited } : null,
    Events: task.runner.events.map(nomadTaskEvent),
  };
}

function clientStatus(alloc: Allocation): 'pending' | 'running' | 'complete' | 'failed' {
  const tasks = [...alloc.tasks.values()];
  const states = tasks.map((task) => nomadTaskState(task.runner.state));
  if (tasks.length > 0 && states.every((state) => state === 'dead')) {
    return tasks.some((task) => task.output?.failed ?? task.runner.actor.getSnapshot().context.failed)
      ? 'failed'
      : 'complete';
  }
  return states.includes('running') ? 'running' : 'pending';
}

function allocationJson(alloc: Allocation) {
  return {
    ID: alloc.id,
    Name: alloc.name,
    Namespace: alloc.job.namespace,
    JobID: alloc.job.name,
    JobType: alloc.job.type,
    TaskGroup: alloc.group.name,
    ClientStatus: clientStatus(alloc),
    TaskStates: Object.fromEntries([...alloc.tasks.values()].map((task) => [task.name, taskStateJson(task)])),
  };
}

/** Nomad's `AllocResourceUsage`: per-task latest samples, their sum, the newest timestamp. */
function allocationStatsJson(alloc: Allocation) {
  const samples: [string, TaskResourceUsage][] = [];
  for (const task of alloc.tasks.values()) {
    const latest = task.runner.latestResourceUsage();
    if (latest) samples.push([task.name, latest.sample]);
  }
  const newest = Math.max(0, ...samples.map(([, sample]) => sample.timestamp));
  return {
    ResourceUsage: nomadResourceUsage(sumResourceUsage(samples.map(([, sample]) => sample.resourceUsage))),
    Tasks: Object.fromEntries(samples.map(([name, sample]) => [name, nomadTaskResourceUsage(sample)])),
    Timestamp: msToNs(newest || Date.now()),
  };
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = toJson(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

export function createHttpApi(options: HttpApiOptions): HttpApi {
  const { agent, metrics, logger } = options;
  const host = options.host ?? '127.0.0.1';
  checkHttpBinding(host, options.token);
  const expectedToken = options.token === undefined ? undefined : digest(options.token);
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const tooLarge = `request body too large (at most ${limits.maxBodyBytes} bytes)`;

  const findAllocation = (id: string) => {
    // Ids are looked up as sent (never decoded): only the agent's own allocations can match.
    const alloc = agent.allocation(id);
    if (!alloc) throw new HttpError(404, `unknown allocation id: ${cut(id)}`);
    return alloc;
  };

  /** Routes: path pattern → GET handler. */
  const routes: [
    RegExp,
    (match: RegExpMatchArray, url: URL, response: ServerResponse) => Promise<void> | void,
  ][] = [
    [/^\/v1\/health$/, (_m, _u, response) => sendJson(response, 200, { status: 'ok' })],
    [
      /^\/v1\/allocations$/,
      (_m, _u, response) => sendJson(response, 200, agent.allocations.map(allocationJson)),
    ],
    [
      /^\/v1\/allocation\/([^/]+)$/,
      ([, id], _u, response) => sendJson(response, 200, allocationJson(findAllocation(id ?? ''))),
    ],
    [
      /^\/v1\/client\/allocation\/([^/]+)\/stats$/,
      ([, id], _u, response) => sendJson(response, 200, allocationStatsJson(findAllocation(id ?? ''))),
    ],
    [
      /^\/v1\/metrics$/,
      async (_m, url, response) => {
        const format = url.searchParams.get('format');
        if (format === 'prometheus') {
          const text = await metrics.prometheus();
          response.writeHead(200, { 'content-type': metrics.contentType });
          response.end(text);
        } else if (format === null || format === 'json') {
          sendJson(response, 200, await metrics.json());
        } else {
          throw new HttpError(400, `unknown format: ${cut(format)} (use json or prometheus)`);
        }
      },
    ],
  ];

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const target = request.url ?? '';
    // Origin-form only (`/path?query`): an absolute URL or `*` names no route of ours.
    if (!target.startsWith('/')) throw new HttpError(400, `bad request target: ${cut(target)}`);
    const declared = Number(request.headers['content-length'] ?? 0);
    if (!(declared <= limits.maxBodyBytes)) {
      throw new HttpError(413, tooLarge);
    }
    if (expectedToken && !tokenMatches(request.headers.authorization, expectedToken)) {
      throw new HttpError(401, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' });
    }
    // The path as sent: the URL parser would resolve `..` and `%2e%2e`, so it only reads the query.
    const query = target.indexOf('?');
    const pathname = query < 0 ? target : target.slice(0, query);
    const url = new URL(`http://localhost/${query < 0 ? '' : target.slice(query)}`);
    for (const [pattern, handler] of routes) {
      const match = pathname.match(pattern);
      if (!match) continue;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        throw new HttpError(405, `method ${request.method ?? '?'} not allowed on ${cut(pathname)}`, {
          allow: 'GET, HEAD',
        });
      }
      return handler(match, url, response);
    }
    throw new HttpError(404, `no such endpoint: ${cut(pathname)}`);
  };

  const serverOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    connectionsCheckingInterval: limits.timeoutCheckMs,
  };
  const server = createServer(serverOptions, (request, response) => {
    // The API reads no body: one that is sent is bounded, and its connection is not reused.
    const hasBody =
      request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length']) > 0;
    if (hasBody) {
      response.setHeader('connection', 'close');
      let received = 0;
      request.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received <= limits.maxBodyBytes) return;
        if (!response.headersSent) {
          sendJson(response, 413, { error: tooLarge, status: 413 });
        }
        request.destroy();
      });
    }
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent) return; // answered already (an oversized body)
      if (error instanceof HttpError) {
        sendJson(response, error.status, { error: error.message, status: error.status }, error.headers);
        return;
      }
      logger.error({ error: String(error), url: request.url }, 'HTTP request failed');
      if (!response.headersSent) sendJson(response, 500, { error: 'internal error', status: 500 });
      else response.destroy();
    });
  });

  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // Malformed requests, oversized headers and slow clients get a JSON answer too, then the socket closes.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const [status, message] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'request headers too large']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'request timeout']
          : [400, 'bad request'];
    const body = toJson({ error: message, status });
    socket.end(
      `HTTP/1.1 ${status} ${message}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? DEFAULT_HTTP_PORT, host, () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          resolve(`http://${host.includes(':') ? `[${host}]` : host}:${port}`);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        // Keep-alive connections would hold `close` open until they time out.
        server.closeAllConnections();
      }),
  };
}
