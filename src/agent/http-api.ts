/**
 * The agent's HTTP API (node:http, 127.0.0.1 by default): allocations and task states with events,
 * Nomad-shaped allocation stats, metrics as JSON or Prometheus text, and a health check. Read-only:
 * every route is GET (405 otherwise); unknown paths and ids answer 404; all errors are JSON.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sumResourceUsage, type TaskResourceUsage } from '../drivers/usage.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Agent, AgentTask, Allocation } from './create-agent.ts';
import type { MetricsSink } from './metrics.ts';
import { msToNs, nomadResourceUsage, nomadTaskEvent, nomadTaskResourceUsage, toJson } from './nomad-json.ts';

export const DEFAULT_HTTP_PORT = 4646;

export interface HttpApiOptions {
  agent: Pick<Agent, 'allocations' | 'allocation'>;
  metrics: MetricsSink;
  logger: Logger;
  /** Default 4646; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: the API has no authentication, so it stays on loopback unless asked. */
  host?: string;
}

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

  const findAllocation = (id: string) => {
    const alloc = agent.allocation(id);
    if (!alloc) throw new HttpError(404, `unknown allocation id: ${id}`);
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
          throw new HttpError(400, `unknown format: ${format} (use json or prometheus)`);
        }
      },
    ],
  ];

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    for (const [pattern, handler] of routes) {
      const match = url.pathname.match(pattern);
      if (!match) continue;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        throw new HttpError(405, `method ${request.method ?? '?'} not allowed on ${url.pathname}`, {
          allow: 'GET, HEAD',
        });
      }
      return handler(match, url, response);
    }
    throw new HttpError(404, `no such endpoint: ${url.pathname}`);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (error instanceof HttpError) {
        sendJson(response, error.status, { error: error.message, status: error.status }, error.headers);
        return;
      }
      logger.error({ error: String(error), url: request.url }, 'HTTP request failed');
      if (!response.headersSent) sendJson(response, 500, { error: 'internal error', status: 500 });
      else response.destroy();
    });
  });

  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        const host = options.host ?? '127.0.0.1';
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
