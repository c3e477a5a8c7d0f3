/**
 * What operators (and their CLI) need from the API, against a real server on 127.0.0.1 with mock
 * tasks: the health check without a token, both token headers, `?pretty`, id prefixes, task restart
 * and stop, the task-life metrics and process metrics at `/metrics`, and admission control (a 503
 * JSON answer when full, silent sockets closed early and evicted for real requests, JSON for a
 * missing Host and for CONNECT).
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Agent, createAgent } from '../../src/agent/create-agent.js';
import type { HttpLimits, Route } from '../../src/agent/http-api.js';
import { createHttpApi } from '../../src/agent/http-api.js';
import { parseJob } from '../../src/agent/load-job.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { waitFor } from '../cli/cli.js';
import { useLeakCheck } from '../support/leak-check.js';
import { jsonOf, raw, statusOf } from '../support/raw-http.js';

const job = parseJob({
  name: 'ops',
  type: 'service',
  groups: [
    {
      name: 'g',
      restart: { attempts: 3, delay: 60_000, interval: 600_000, mode: 'fail' },
      tasks: [
        { name: 'web', driver: 'mock', stats_interval: 50, config: { cpuPercent: 10, rssBytes: 2_000_000 } },
        { name: 'side', driver: 'mock', stats_interval: 50, config: { rssBytes: 1_000_000 } },
      ],
    },
  ],
});

const leaks = useLeakCheck();
let agent: Agent | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await agent?.stop({ deadlineMs: 2000 });
  for (const alloc of agent?.allocations ?? [])
    for (const task of alloc.tasks.values()) leaks.track(task.runner.actor);
  agent = undefined;
});

async function started(http: { token?: string; limits?: Partial<HttpLimits> } = {}) {
  agent = createAgent({ jobs: [job], http: { port: 0, ...http } });
  await agent.start();
  const alloc = agent.allocations[0]!;
  return { agent, base: agent.url!, port: Number(new URL(agent.url!).port), alloc };
}

/** A socket that connects and sends nothing. */
function silentSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
    sockets.push(socket);
  });
}

describe('HTTP API for operators: tokens, health, pretty, prefixes', () => {
  it('answers the health check without a token, everything else only with one, in either header', async () => {
    const token = 'operator-token-1234';
    const { base, alloc } = await started({ token });
    expect((await fetch(`${base}/v1/health`)).status).toBe(200);
    for (const path of ['/v1/allocations', `/v1/allocation/${alloc.id}`, '/metrics', '/nope']) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(401);
      expect(await response.json()).toEqual({ error: 'missing or wrong token', status: 401 });
    }
    const bearer = await fetch(`${base}/v1/allocations`, { headers: { authorization: `Bearer ${token}` } });
    expect(bearer.status).toBe(200);
    const nomad = await fetch(`${base}/v1/allocations`, { headers: { 'x-nomad-token': token } });
    expect(nomad.status).toBe(200);
    const wrong = await fetch(`${base}/v1/allocations`, { headers: { 'x-nomad-token': `${token}x` } });
    expect(wrong.status).toBe(401);
  });

  it('indents JSON on ?pretty, and filters allocations by id prefix as Nomad does', async () => {
    const { base, alloc } = await started();
    const compact = await (await fetch(`${base}/v1/allocation/${alloc.id}`)).text();
    const pretty = await (await fetch(`${base}/v1/allocation/${alloc.id}?pretty`)).text();
    expect(compact).not.toContain('\n');
    expect(pretty).toContain(`\n  "ID": "${alloc.id}",\n`);
    // The same answer (its stats timestamps move between two requests, its shape does not).
    expect(Object.keys(JSON.parse(pretty) as object)).toEqual(Object.keys(JSON.parse(compact) as object));
    expect(await (await fetch(`${base}/v1/health?pretty=false`)).text()).toBe('{"status":"ok"}');
    const prefixed = (await (
      await fetch(`${base}/v1/allocations?prefix=${alloc.id.slice(0, 8)}`)
    ).json()) as {
      ID: string;
    }[];
    expect(prefixed.map((entry) => entry.ID)).toEqual([alloc.id]);
    const none = (await (await fetch(`${base}/v1/allocations?prefix=zz`)).json()) as unknown[];
    expect(none).toEqual([]);
  });
});

describe('HTTP API for operators: restart and stop', () => {
  type AllocJson = {
    TaskStates: Record<string, { RunnerState: string; Restarts: number; Events: { Type: string }[] }>;
  };

  it('restarts a running task at once (outside its policy), and refuses one that is not running', async () => {
    const { base, alloc } = await started();
    await waitFor('web running', () =>
      alloc.tasks.get('web')?.runner.state === 'running' ? true : undefined,
    );
    const response = await fetch(`${base}/v1/client/allocation/${alloc.id}/restart`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ TaskName: 'web' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({});
    // The policy's delay is 60 s: running again this soon means the restart skipped it.
    const state = await waitFor('web restarted', async () => {
      const body = (await (await fetch(`${base}/v1/allocation/${alloc.id}`)).json()) as AllocJson;
      const web = body.TaskStates.web!;
      return web.Restarts === 1 && web.RunnerState === 'running' ? body : undefined;
    });
    const types = state.TaskStates.web!.Events.map((event) => event.Type);
    expect(types).toEqual(
      expect.arrayContaining(['Restart Signaled', 'Killing', 'Terminated', 'Restarting']),
    );
    expect(state.TaskStates.side!.Restarts).toBe(0);

    const scrape = await (await fetch(`${base}/metrics`)).text();
    expect(scrape).toMatch(/taskpulse_task_restarts_total\{[^}]*task="web"[^}]*\} 1/);
    expect(scrape).toMatch(/taskpulse_task_restarts_total\{[^}]*task="side"[^}]*\} 0/);

    const unknown = await fetch(`${base}/v1/client/allocation/${alloc.id}/restart`, {
      method: 'POST',
      body: JSON.stringify({ TaskName: 'nope' }),
    });
    expect(unknown.status).toBe(404);
    const bad = await fetch(`${base}/v1/client/allocation/${alloc.id}/restart`, {
      method: 'POST',
      body: '{',
    });
    expect(await bad.json()).toEqual({ error: 'request body is not valid JSON', status: 400 });
  });

  it('stops one task and leaves the others; a stopped task cannot be restarted (409)', async () => {
    const { base, alloc } = await started();
    const stop = await fetch(`${base}/v1/allocation/${alloc.id}/stop`, {
      method: 'POST',
      body: JSON.stringify({ TaskName: 'side' }),
    });
    expect(stop.status).toBe(200);
    expect(await stop.json()).toMatchObject({ Tasks: ['side'] });
    await waitFor('side dead', () => (alloc.tasks.get('side')?.runner.state === 'dead' ? true : undefined));
    expect(alloc.tasks.get('web')?.runner.state).toBe('running');
    const scrape = await (await fetch(`${base}/metrics`)).text();
    expect(scrape).toMatch(/taskpulse_task_state\{[^}]*task="side"[^}]*state="dead"\} 1/);
    expect(scrape).toMatch(/taskpulse_task_state\{[^}]*task="side"[^}]*state="running"\} 0/);
    expect(scrape).toMatch(/taskpulse_task_exit_code\{[^}]*task="side"[^}]*\} \d+/);
    expect(scrape).toMatch(/taskpulse_task_oom_kills_total\{[^}]*task="side"[^}]*\} 0/);
    const again = await fetch(`${base}/v1/client/allocation/${alloc.id}/restart`, {
      method: 'PUT',
      body: JSON.stringify({ TaskName: 'side' }),
    });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: string }).error).toBe('cannot restart side (dead): not running');
    // GET on a POST route: 405 naming what is allowed.
    const get = await fetch(`${base}/v1/allocation/${alloc.id}/stop`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST, PUT');
  });
});

describe('HTTP API for operators: /metrics', () => {
  it('serves Prometheus text at /metrics with the task metrics and the process metrics', async () => {
    const { base } = await started();
    const text = await waitFor('usage in the scrape', async () => {
      const body = await (await fetch(`${base}/metrics`)).text();
      return body.includes('taskpulse_task_memory_rss{') ? body : undefined;
    });
    for (const name of [
      'taskpulse_task_state',
      'taskpulse_task_restarts_total',
      'taskpulse_task_oom_kills_total',
      'taskpulse_task_exit_code',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
    expect(text).toMatch(/taskpulse_task_state\{[^}]*task="web"[^}]*state="running"\} 1/);
    const json = (await (await fetch(`${base}/v1/metrics`)).json()) as {
      Counters: { Name: string; Count: number; Labels: Record<string, string> }[];
    };
    expect(json.Counters.some((counter) => counter.Name === 'taskpulse.task.restarts')).toBe(true);
  });
});

describe('HTTP API: routes of other parts', () => {
  it('serves routes given to createAgent beside its own, behind the same token', async () => {
    const token = 'routes-token-1234';
    agent = createAgent({
      jobs: [job],
      http: {
        port: 0,
        token,
        routes: [{ method: 'GET', path: /^\/ui$/, handler: ({ json }) => json(200, { ui: true }) }],
      },
    });
    await agent.start();
    expect((await fetch(`${agent.url}/ui`)).status).toBe(401);
    const ui = await fetch(`${agent.url}/ui?pretty`, { headers: { 'x-nomad-token': token } });
    expect(await ui.text()).toBe('{\n  "ui": true\n}\n');
    expect((await fetch(`${agent.url}/v1/health`)).status).toBe(200);
  });
});

describe('HTTP API for operators: admission', () => {
  /** A route that holds its request open until released: a busy, authenticated connection. */
  function holdingRoute() {
    const held: (() => void)[] = [];
    const route: Route = {
      method: 'GET',
      path: /^\/hold$/,
      handler: ({ json }) =>
        new Promise<void>((resolve) => {
          held.push(() => {
            json(200, { released: true });
            resolve();
          });
        }),
    };
    return { route, held };
  }

  it('answers 503 JSON (not a reset) when every connection is busy', async () => {
    const { route, held } = holdingRoute();
    const api = createHttpApi({
      agent: { allocations: [], allocation: () => undefined },
      metrics: {} as never,
      logger: silentLogger(),
      port: 0,
      limits: { maxConnections: 2 },
      routes: [route],
    });
    const base = await api.listen();
    try {
      const port = Number(new URL(base).port);
      const busy = [fetch(`${base}/hold`), fetch(`${base}/hold`)];
      await waitFor('both held', () => (held.length === 2 ? true : undefined));
      const answer = await raw(port, 'GET /v1/health HTTP/1.1\r\nhost: localhost\r\n\r\n');
      expect(statusOf(answer)).toBe(503);
      expect(jsonOf(answer)).toEqual({ error: 'too many connections (at most 2)', status: 503 });
      expect(answer.toLowerCase()).toContain('retry-after: 1');
      for (const release of held) release();
      expect((await Promise.all(busy)).map((response) => response.status)).toEqual([200, 200]);
    } finally {
      await api.close();
    }
  });

  it('closes a socket that sends nothing after the first-byte timeout, and evicts silent ones for a real request', async () => {
    const { port, base } = await started({ limits: { maxConnections: 3, firstByteTimeoutMs: 300 } });
    const started_ = Date.now();
    const timedOut = await raw(port, '', { end: false });
    expect(statusOf(timedOut)).toBe(408);
    expect(Date.now() - started_).toBeLessThan(2000);
    // Fill every slot with silent sockets: a real request still gets through.
    for (let i = 0; i < 3; i++) await silentSocket(port);
    const response = await fetch(`${base}/v1/health`);
    expect(response.status).toBe(200);
  });

  it('answers JSON to a request without Host and to CONNECT', async () => {
    const { port } = await started();
    const noHost = await raw(port, 'GET /v1/health HTTP/1.1\r\nconnection: close\r\n\r\n', { end: false });
    expect(statusOf(noHost)).toBe(400);
    expect(jsonOf(noHost)).toEqual({ error: 'missing Host header', status: 400 });
    const http10 = await raw(port, 'GET /v1/health HTTP/1.0\r\n\r\n');
    expect(http10).toContain('{"status":"ok"}');
    const tunnel = await raw(port, 'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n');
    expect(statusOf(tunnel)).toBe(405);
    expect(jsonOf(tunnel)).toEqual({ error: 'method CONNECT not allowed on example.com:443', status: 405 });
  });
});
