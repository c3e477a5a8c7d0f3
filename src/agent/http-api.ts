/**
 * The agent's HTTP API (127.0.0.1 by default): allocations and task states with events, Nomad-shaped
 * allocation stats, metrics as JSON or Prometheus text (also at `/metrics`), task logs, task restart
 * and stop, and a health check. Unknown paths and ids answer 404; all errors are JSON. The routes
 * are a table (`apiRoutes`), served by the hardened server of `http-server.ts`.
 */
import { sumResourceUsage, type TaskResourceUsage } from '../drivers/usage.js';
import type { Logger } from '../runtime/logger.js';
import type { Agent, AgentTask, Allocation } from './create-agent.js';
import { DEFAULT_HTTP_PORT } from './defaults.js';
import { createHttpServer, cut, HttpError, type HttpLimits, type Route } from './http-server.js';
import { isLoopback } from './loopback.js';

export { isLoopback };

import type { MetricsSink } from './metrics.js';
import { msToNs, nomadResourceUsage, nomadTaskEvent, nomadTaskResourceUsage } from './nomad-json.js';

export { DEFAULT_HTTP_LIMITS, type HttpLimits, type Route } from './http-server.js';

export { DEFAULT_HTTP_PORT };

export interface HttpApiOptions {
  agent: Pick<Agent, 'allocations' | 'allocation'>;
  metrics: MetricsSink;
  logger: Logger;
  /** Default 4646; 0 picks a free port. */
  port?: number | undefined;
  /** Default 127.0.0.1. Any other (non-loopback) address requires `token`. */
  host?: string | undefined;
  /** When set, every request but the health check needs it (`Authorization: Bearer` or `X-Nomad-Token`). */
  token?: string | undefined;
  limits?: Partial<HttpLimits> | undefined;
  /** More routes (log endpoints, a web UI), tried after the API's own. */
  routes?: readonly Route[] | undefined;
}

/** The HTTP API cannot be served as configured (a non-loopback address without a token). */
export class HttpConfigError extends Error {
  override readonly name = 'HttpConfigError';
}

/** `127.0.0.0/8`, `::1`, `::ffff:127.x.y.z` or `localhost`: reachable from this machine only. */
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

export interface HttpApi {
  /** Resolves with the base URL, e.g. `http://127.0.0.1:4646`. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Nomad's task state: pending, running or dead. */
function nomadTaskState(runnerState: string): 'pending' | 'running' | 'dead' {
  if (runnerState === 'running' || runnerState === 'killing' || runnerState === 'killFailed')
    return 'running';
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
    // Nomad's shape; 0 where the job file sets no limit.
    AllocatedResources: {
      Tasks: Object.fromEntries(
        alloc.group.tasks.map((task) => [
          task.name,
          { Cpu: { CpuShares: task.resources?.cpu ?? 0 }, Memory: { MemoryMB: task.resources?.memory ?? 0 } },
        ]),
      ),
    },
  };
}

/**
 * Nomad's `AllocResourceUsage`: per-task latest samples, the sum and newest timestamp of the live
 * ones. A task that exited keeps its last sample on its own entry, marked `Exited: true` (spec rule
 * 13), and stays out of the totals: an allocation's usage is what its running tasks use now.
 */
function allocationStatsJson(alloc: Allocation) {
  const tasks: [string, TaskResourceUsage, boolean][] = [];
  for (const task of alloc.tasks.values()) {
    const latest = task.runner.latestResourceUsage();
    if (latest) tasks.push([task.name, latest.sample, latest.exited]);
  }
  const live = tasks.filter(([, , exited]) => !exited).map(([, sample]) => sample);
  const newest = Math.max(0, ...live.map((sample) => sample.timestamp));
  return {
    ResourceUsage: nomadResourceUsage(sumResourceUsage(live.map((sample) => sample.resourceUsage))),
    Tasks: Object.fromEntries(
      tasks.map(([name, sample, exited]) => [name, { ...nomadTaskResourceUsage(sample), Exited: exited }]),
    ),
    Timestamp: msToNs(newest || Date.now()),
  };
}

/** The task a request names: `TaskName` in the body, or every task of the allocation when empty. */
function tasksNamed(alloc: Allocation, body: unknown): AgentTask[] {
  const name = (body as { TaskName?: unknown } | undefined)?.TaskName;
  if (name === undefined || name === '') return [...alloc.tasks.values()];
  if (typeof name !== 'string') throw new HttpError(400, 'TaskName must be a string');
  const task = alloc.tasks.get(name);
  if (!task) throw new HttpError(404, `unknown task ${cut(JSON.stringify(name))} in allocation ${alloc.id}`);
  return [task];
}

/** The API's routes: pure data, so other parts (logs, a web UI) add theirs beside them. */
export function apiRoutes(agent: HttpApiOptions['agent'], metrics: MetricsSink): Route[] {
  const findAllocation = (id: string) => {
    // Ids are looked up as sent (never decoded): only the agent's own allocations can match.
    const alloc = agent.allocation(id);
    if (!alloc) throw new HttpError(404, `unknown allocation id: ${cut(id)}`);
    return alloc;
  };
  const prometheus: Route['handler'] = async ({ response }) => {
    const text = await metrics.prometheus();
    response.writeHead(200, { 'content-type': metrics.contentType });
    response.end(text);
  };
  const restart: Route['handler'] = ({ match: [, id], body, json }) => {
    const alloc = findAllocation(id ?? '');
    const tasks = tasksNamed(alloc, body);
    const idle = tasks.filter((task) => !task.runner.restart());
    // Every named task was asked; the ones that could not (not running) are the error.
    if (idle.length === tasks.length) {
      throw new HttpError(
        409,
        `cannot restart ${idle.map((task) => `${task.name} (${task.runner.state})`).join(', ')}: not running`,
      );
    }
    json(200, {});
  };
  const stop: Route['handler'] = ({ match: [, id], body, json }) => {
    const alloc = findAllocation(id ?? '');
    const tasks = tasksNamed(alloc, body);
    for (const task of tasks) {
      if (task.runner.actor.getSnapshot().status === 'active') void task.runner.kill();
    }
    json(200, { EvalID: '', Index: 0, Tasks: tasks.map((task) => task.name) });
  };
  return [
    {
      method: 'GET',
      path: /^\/v1\/health$/,
      public: true,
      handler: ({ json }) => json(200, { status: 'ok' }),
    },
    {
      method: 'GET',
      path: /^\/v1\/allocations$/,
      handler: ({ url, json }) => {
        // As Nomad's `?prefix=`: the ids that start with it (the CLI resolves short ids with it).
        const prefix = url.searchParams.get('prefix') ?? '';
        json(200, agent.allocations.filter((alloc) => alloc.id.startsWith(prefix)).map(allocationJson));
      },
    },
    {
      method: 'GET',
      path: /^\/v1\/allocation\/([^/]+)$/,
      handler: ({ match: [, id], json }) => json(200, allocationJson(findAllocation(id ?? ''))),
    },
    {
      method: 'GET',
      path: /^\/v1\/client\/allocation\/([^/]+)\/stats$/,
      handler: ({ match: [, id], json }) => json(200, allocationStatsJson(findAllocation(id ?? ''))),
    },
    // Nomad's restart: `{"TaskName": "web"}`, or every task of the allocation when empty.
    { method: 'POST', path: /^\/v1\/client\/allocation\/([^/]+)\/restart$/, handler: restart },
    { method: 'PUT', path: /^\/v1\/client\/allocation\/([^/]+)\/restart$/, handler: restart },
    // Nomad's stop ends the allocation; `{"TaskName": "web"}` (taskpulse's addition) ends one task.
    { method: 'POST', path: /^\/v1\/allocation\/([^/]+)\/stop$/, handler: stop },
    { method: 'PUT', path: /^\/v1\/allocation\/([^/]+)\/stop$/, handler: stop },
    {
      method: 'GET',
      path: /^\/v1\/metrics$/,
      handler: async (context) => {
        const format = context.url.searchParams.get('format');
        if (format === 'prometheus') return prometheus(context);
        if (format !== null && format !== 'json') {
          throw new HttpError(400, `unknown format: ${cut(format)} (use json or prometheus)`);
        }
        context.json(200, await metrics.json());
      },
    },
    // Where Prometheus looks by default.
    { method: 'GET', path: /^\/metrics$/, handler: prometheus },
  ];
}

export function createHttpApi(options: HttpApiOptions): HttpApi {
  const host = options.host ?? '127.0.0.1';
  checkHttpBinding(host, options.token);
  return createHttpServer({
    routes: [...apiRoutes(options.agent, options.metrics), ...(options.routes ?? [])],
    logger: options.logger,
    port: options.port ?? DEFAULT_HTTP_PORT,
    host,
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.limits ? { limits: options.limits } : {}),
  });
}
