/**
 * HTTP API hardening (issue 8), against a real server on 127.0.0.1: loopback by default, a token
 * for anything else, bounded bodies, headers and slow clients, JSON 404/405/4xx for everything, and
 * no path (traversal, encoded, absolute, huge) reaching beyond the agent's own allocations. Requests
 * go through node:http and raw sockets, which send paths as written (fetch would normalise `..`).
 */
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type Agent, createAgent } from '../../src/agent/create-agent.js';
import {
  checkHttpBinding,
  createHttpApi,
  HttpConfigError,
  type HttpLimits,
  isLoopback,
} from '../../src/agent/http-api.js';
import { parseJob } from '../../src/agent/load-job.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { useLeakCheck } from '../support/leak-check.js';
import { jsonOf, raw, statusOf } from '../support/raw-http.js';

const job = parseJob({
  name: 'hard',
  groups: [{ name: 'g', count: 2, tasks: [{ name: 't', driver: 'mock', stats_interval: 50 }] }],
});

const leaks = useLeakCheck();
let agent: Agent | undefined;
// Registered after the leak check, so it runs first: the agent is stopped before the check looks.
afterEach(async () => {
  await agent?.stop({ deadlineMs: 2000 });
  agent = undefined;
});

async function startAgent(
  http: { host?: string; token?: string; limits?: Partial<HttpLimits> } = {},
): Promise<{ agent: Agent; port: number }> {
  const started = createAgent({ jobs: [job], http: { port: 0, ...http } });
  agent = started;
  await started.start();
  for (const task of started.allocations.flatMap((alloc) => [...alloc.tasks.values()])) {
    leaks.track(task.runner.actor);
  }
  return { agent: started, port: Number(new URL(started.url!).port) };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: { error?: string; status?: number } | undefined;
}

/** One request with the path exactly as given; `body` as a Buffer, or chunks to stream (chunked). */
function send(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: Buffer | Buffer[] } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => {
          let json: Reply['json'];
          try {
            json = JSON.parse(body) as Reply['json'];
          } catch {}
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body, json });
        });
      },
    );
    // A server that answers early and closes may reset a streaming upload: the answer still counts.
    request.on('error', reject);
    if (Array.isArray(options.body)) {
      for (const chunk of options.body) request.write(chunk);
      request.end();
    } else request.end(options.body);
  });
}

describe('HTTP API: where it listens and who may ask', () => {
  it('listens on 127.0.0.1 unless told otherwise', async () => {
    const { agent } = await startAgent();
    expect(agent.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('knows loopback addresses from the others', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) {
      expect(isLoopback(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '', '10.0.0.1', '192.168.1.1', 'example.com', '::ffff:10.0.0.1']) {
      expect(isLoopback(host), host).toBe(false);
    }
  });

  it('refuses to start on 0.0.0.0 without a token, with a clear error, before any task starts', async () => {
    expect(() => checkHttpBinding('0.0.0.0', undefined)).toThrow(HttpConfigError);
    expect(() =>
      createHttpApi({
        agent: { allocations: [], allocation: () => undefined },
        metrics: {} as never,
        logger: silentLogger(),
        host: '0.0.0.0',
      }),
    ).toThrow('refusing to serve the HTTP API on "0.0.0.0" (not loopback) without a token');
    expect(() => checkHttpBinding('0.0.0.0', '')).toThrow('the API token is empty');
    const refused = createAgent({ jobs: [job], http: { port: 0, host: '0.0.0.0' } });
    agent = refused;
    await expect(refused.start()).rejects.toThrow(/without a token: set --token or TASKPULSE_TOKEN/);
    const states = refused.allocations.flatMap((alloc) => [...alloc.tasks.values()]);
    expect(states).toEqual([]); // no runner was even created
    expect(refused.url).toBeUndefined();
  });

  it('on 0.0.0.0 with a token, every request needs the bearer (any other token, or none, is 401 JSON)', async () => {
    const token = 's3cret-token-of-some-length';
    const { port } = await startAgent({ host: '0.0.0.0', token });
    for (const authorization of [
      undefined,
      '',
      'Bearer',
      'Bearer wrong',
      `Bearer ${token}x`,
      `Bearer ${token.slice(0, -1)}`,
      `Basic ${Buffer.from(`user:${token}`).toString('base64')}`,
      token,
    ]) {
      const reply = await send(port, '/v1/allocations', {
        headers: authorization === undefined ? {} : { authorization },
      });
      expect(reply.status, String(authorization)).toBe(401);
      expect(reply.json).toEqual({ error: 'missing or wrong token', status: 401 });
      expect(reply.headers['www-authenticate']).toBe('Bearer');
    }
    // Unknown routes too: without the token nothing is revealed, not even what exists.
    expect((await send(port, '/nope')).status).toBe(401);
    const ok = await send(port, '/v1/allocations', { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toHaveLength(2);
  });
});

describe('HTTP API: browsers on the same machine', () => {
  it('on loopback without a token, answers only requests for a loopback name (DNS rebinding reads nothing)', async () => {
    const { port, agent } = await startAgent();
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST:${port}`,
      `[::1]:${port}`,
      '127.0.0.1',
    ]) {
      expect((await send(port, '/v1/allocations', { headers: { host } })).status, host).toBe(200);
    }
    for (const host of [
      `evil.example:${port}`,
      'evil.example',
      `127.0.0.1.evil.example:${port}`,
      '[::2]',
      '%%',
    ]) {
      const reply = await send(port, '/v1/allocations', { headers: { host } });
      expect(reply.status, host).toBe(403);
      expect(reply.json?.error).toContain('is not a loopback name: without a token');
    }
    // A write by another name does nothing: the allocation is not stopped.
    const [alloc] = agent.allocations;
    const stop = await send(port, `/v1/allocation/${alloc?.id}/stop`, {
      method: 'POST',
      headers: { host: `evil.example:${port}` },
    });
    expect(stop.status).toBe(403);
    expect((await send(port, `/v1/allocation/${alloc?.id}`)).json).toMatchObject({ ClientStatus: 'running' });
  });

  it('with a token, any Host is answered (the token is what guards it)', async () => {
    const token = 's3cret-token-of-some-length';
    const { port } = await startAgent({ host: '0.0.0.0', token });
    const reply = await send(port, '/v1/allocations', {
      headers: { host: 'agent.example:4646', authorization: `Bearer ${token}` },
    });
    expect(reply.status).toBe(200);
  });

  it('refuses a write whose Origin is another site, token or not; its own origin and no origin pass', async () => {
    const { port, agent } = await startAgent();
    const [first, second] = agent.allocations;
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${port + 1}`, 'garbage']) {
      const reply = await send(port, `/v1/allocation/${first?.id}/stop`, {
        method: 'POST',
        headers: { origin },
      });
      expect(reply.status, origin).toBe(403);
      expect(reply.json?.error).toBe(
        `cross-site request refused: Origin ${JSON.stringify(origin)} is not this agent`,
      );
    }
    expect((await send(port, `/v1/allocation/${first?.id}`)).json).toMatchObject({ ClientStatus: 'running' });
    // A read from another origin is the browser's to withhold (no CORS header is ever sent).
    expect((await send(port, '/v1/allocations', { headers: { origin: 'http://evil.example' } })).status).toBe(
      200,
    );
    const own = await send(port, `/v1/allocation/${first?.id}/stop`, {
      method: 'POST',
      headers: { origin: `http://127.0.0.1:${port}` },
    });
    expect(own.status).toBe(200);
    expect((await send(port, `/v1/allocation/${second?.id}/stop`, { method: 'POST' })).status).toBe(200);
  });
});

describe('HTTP API: limits', () => {
  it('answers 413 to a declared body over 16 KiB, before the method or route is looked at', async () => {
    const { port } = await startAgent();
    const reply = await send(port, '/v1/allocations', {
      method: 'POST',
      headers: { 'content-length': 20_000 },
      body: Buffer.alloc(20_000, 'a'),
    }).catch((error: NodeJS.ErrnoException) => ({ status: error.code, json: undefined }) as never);
    expect(reply.status).toBe(413);
    expect(reply.json).toEqual({ error: 'request body too large (at most 16384 bytes)', status: 413 });
  });

  it('never keeps the connection of a request with a body, and cuts a streamed one over the limit', async () => {
    const { port } = await startAgent({ limits: { maxBodyBytes: 1024 } });
    const small = await send(port, '/v1/health', {
      body: Buffer.from('{}'),
      headers: { 'content-length': 2 },
    });
    expect(small.status).toBe(200);
    expect(small.headers.connection).toBe('close');
    // Chunked, no length: 64 KiB streamed. The server answers (405) and closes; the upload is cut.
    const streamed = raw(
      port,
      `POST /v1/allocations HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\r\n${'400\r\n'.concat('a'.repeat(1024), '\r\n').repeat(64)}`,
      { end: false },
    );
    const answer = await streamed;
    expect(statusOf(answer)).toBe(405);
    expect(answer.toLowerCase()).toContain('connection: close');
  });

  it('answers 431 JSON to a request line or headers over 16 KiB', async () => {
    const { port } = await startAgent();
    const longUrl = await raw(
      port,
      `GET /v1/allocation/${'x'.repeat(20_000)} HTTP/1.1\r\nhost: localhost\r\n\r\n`,
    );
    expect(statusOf(longUrl)).toBe(431);
    expect(jsonOf(longUrl)).toEqual({ error: 'request headers too large', status: 431 });
    const bigHeader = await raw(
      port,
      `GET /v1/health HTTP/1.1\r\nhost: localhost\r\nx-big: ${'y'.repeat(20_000)}\r\n\r\n`,
    );
    expect(statusOf(bigHeader)).toBe(431);
  });

  it('closes a slow client (headers never finished) with 408 JSON after the headers timeout', async () => {
    const { port } = await startAgent({
      limits: { headersTimeoutMs: 200, requestTimeoutMs: 300, timeoutCheckMs: 50 },
    });
    const started = Date.now();
    const answer = await raw(port, 'GET /v1/health HTTP/1.1\r\nhost: localhost\r\n', { end: false });
    expect(statusOf(answer)).toBe(408);
    expect(jsonOf(answer)).toEqual({ error: 'request timeout', status: 408 });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('answers 400 JSON to a malformed request', async () => {
    const { port } = await startAgent();
    const answer = await raw(port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(statusOf(answer)).toBe(400);
    expect(jsonOf(answer)).toEqual({ error: 'bad request', status: 400 });
  });
});

describe('HTTP API: routes, methods and paths', () => {
  it('answers JSON 404 to unknown routes and JSON 405 (with Allow) to every other method on a route', async () => {
    const { agent, port } = await startAgent();
    const id = agent.allocations[0]!.id;
    for (const path of [
      '/',
      '/v1',
      '/v1/',
      '/v2/allocations',
      '/v1/allocations/',
      '/V1/health',
      '/v1/jobs',
    ]) {
      const reply = await send(port, path);
      expect(reply.status, path).toBe(404);
      expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(reply.json?.status).toBe(404);
    }
    const routes = [
      '/v1/health',
      '/v1/allocations',
      `/v1/allocation/${id}`,
      `/v1/client/allocation/${id}/stats`,
    ];
    for (const path of routes) {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        const reply = await send(port, path, { method });
        expect(reply.status, `${method} ${path}`).toBe(405);
        expect(reply.json?.error).toBe(`method ${method} not allowed on ${path}`);
        expect(reply.headers.allow).toBe('GET, HEAD');
      }
      expect((await send(port, path)).status, path).toBe(200);
    }
    // No request changed anything: every task still runs.
    const states = agent.allocations.flatMap((alloc) => [...alloc.tasks.values()].map((t) => t.runner.state));
    expect(states).toEqual(['running', 'running']);
  });

  it('reads nothing outside its own allocations: traversal, encoded, absolute and huge ids all miss', async () => {
    const { agent, port } = await startAgent();
    const [first, second] = agent.allocations.map((alloc) => alloc.id);
    const encodedFirst = `%${first!.charCodeAt(0).toString(16)}${first!.slice(1)}`;
    const misses = [
      '/v1/client/allocation/../../etc/passwd',
      '/v1/client/allocation/..%2F..%2Fetc%2Fpasswd/stats',
      '/v1/allocation/%2e%2e/%2e%2e/etc/passwd',
      '/v1/allocation/%2e%2e/allocations',
      '/v1/allocations/../allocations',
      '/v1/allocations/./',
      `/v1/allocation/${first}/../${second}`,
      `/v1/allocation/${first}%2F..%2F${second}`,
      `/v1/allocation/${encodedFirst}`,
      `/v1/allocation/${first!.toUpperCase()}`,
      `//v1/allocation/${first}`,
      `/v1/allocation/${first}\\..\\${second}`,
      `/v1/client/allocation/${first}/stats/../../../../etc/passwd`,
      `/v1/allocation/${'a'.repeat(10_000)}`,
    ];
    for (const path of misses) {
      const reply = await send(port, path);
      expect(reply.status, path).toBe(404);
      expect(reply.body).not.toContain('root:');
      // Echoed paths and ids are cut short: a 10 KiB id does not come back.
      expect(reply.body.length, path).toBeLessThan(200);
    }
    for (const target of [`http://127.0.0.1:${port}/v1/allocations`, '*', 'v1/allocations']) {
      const answer = await raw(
        port,
        `GET ${target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n`,
      );
      expect(statusOf(answer), target).toBe(400);
    }
    // Control: the real ids, as sent, do answer.
    for (const id of [first, second]) expect((await send(port, `/v1/allocation/${id}`)).status).toBe(200);
  });

  it('serves HEAD without a body and keeps query strings out of route matching', async () => {
    const { port } = await startAgent();
    const head = await send(port, '/v1/health', { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
    expect((await send(port, '/v1/health?x=/../../etc/passwd')).status).toBe(200);
    expect((await send(port, '/v1/metrics?format=prometheus')).status).toBe(200);
    const bad = await send(port, `/v1/metrics?format=${'x'.repeat(500)}`);
    expect(bad.status).toBe(400);
    expect(bad.body.length).toBeLessThan(200);
  });
});
