/**
 * The web UI's server side, against a real agent on 127.0.0.1 with mock tasks: the page and its
 * assets (CSP with no inline script, cache headers, public), the push stream (behind the token, a
 * snapshot then batched updates with samples, task changes and machine transitions), its limits,
 * and an agent that serves no UI when told so. The page itself is tested in Chromium
 * (test/browser/ui.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Agent, createAgent } from '../../src/agent/create-agent.js';
import { createHttpServer } from '../../src/agent/http-server.js';
import { parseJob } from '../../src/agent/load-job.js';
import {
  createLiveState,
  eventLabel,
  type LiveMessage,
  type LiveSnapshot,
} from '../../src/agent/ui/live-state.js';
import { UI_CSP, uiRoutes } from '../../src/agent/ui/ui-routes.js';
import { createBus } from '../../src/runtime/bus.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { waitFor } from '../cli/cli.js';

const job = parseJob({
  name: 'web',
  type: 'batch',
  groups: [
    {
      name: 'g',
      tasks: [
        {
          name: 'ticker',
          driver: 'mock',
          stats_interval: 50,
          resources: { memory: 64 },
          config: { cpuPercent: 25, rssBytes: 3_000_000, runForMs: 1500 },
        },
      ],
    },
  ],
});

let agent: Agent | undefined;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await agent?.stop({ deadlineMs: 2000 });
  agent = undefined;
});

async function started(http: { token?: string; ui?: boolean } = {}) {
  agent = createAgent({ jobs: [job], http: { port: 0, ...http }, keepServing: true });
  await agent.start();
  return agent.url!;
}

/** Reads the SSE stream until `done` says so; returns every event seen. */
async function readStream(
  url: string,
  headers: Record<string, string>,
  done: (events: { event: string; data: unknown }[]) => boolean,
) {
  const controller = new AbortController();
  cleanups.push(() => controller.abort());
  const response = await fetch(url, { headers, signal: controller.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  const events: { event: string; data: unknown }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
    if (done(events)) break;
  }
  controller.abort();
  return events;
}

describe('GET /ui and its assets', () => {
  it('serves the page with a CSP that allows no inline script, and hashed assets cached for good', async () => {
    const base = await started();
    const page = await fetch(`${base}/ui`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toBe(UI_CSP);
    expect(UI_CSP).toContain("script-src 'self'");
    expect(UI_CSP).not.toContain('unsafe-inline');
    const html = await page.text();
    // Every script is a file of the agent's: none inline.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBe(1);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/src="\/ui\/assets\/app-[A-Z0-9]+\.js"/);
      expect(body?.trim()).toBe('');
    }
    const assets = [...html.matchAll(/"\/ui\/assets\/([^"]+)"/g)].map((match) => match[1]);
    expect(assets.map((name) => name?.split('.').pop()).sort()).toEqual(['css', 'js']);
    for (const name of assets) {
      const asset = await fetch(`${base}/ui/assets/${name}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(asset.headers.get('content-type')).toMatch(
        name?.endsWith('.js') ? /^text\/javascript/ : /^text\/css/,
      );
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
    expect((await fetch(`${base}/ui/`)).status).toBe(200);
  });

  it('answers 404 for names the build did not write, traversal included', async () => {
    const base = await started();
    for (const path of ['/ui/assets/nope.js', '/ui/assets/manifest.json', '/ui/assets/..%2Fui-routes.js']) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(404);
      expect(((await response.json()) as { error: string }).error).toMatch(/no such/);
    }
  });

  it('serves the page without the token (it asks for it), the stream only with it', async () => {
    const base = await started({ token: 'ui-secret' });
    expect((await fetch(`${base}/ui`)).status).toBe(200);
    const anonymous = await fetch(`${base}/ui/stream`);
    expect(anonymous.status).toBe(401);
    const wrong = await fetch(`${base}/ui/stream`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const events = await readStream(`${base}/ui/stream`, { authorization: 'Bearer ui-secret' }, (seen) =>
      seen.some((event) => event.event === 'snapshot'),
    );
    expect(events[0]?.event).toBe('snapshot');
  });

  it('is not served when the agent is told so', async () => {
    const base = await started({ ui: false });
    expect((await fetch(`${base}/ui`)).status).toBe(404);
    expect((await fetch(`${base}/ui/stream`)).status).toBe(404);
  });
});

describe('GET /ui/stream', () => {
  it('sends a snapshot, then batched samples, task changes and both machines’ transitions', async () => {
    const base = await started();
    const events = await readStream(`${base}/ui/stream`, {}, (seen) => {
      const updates = seen.flatMap((event) =>
        event.event === 'update' ? (event.data as LiveMessage[]) : [],
      );
      return updates.some(
        (message) =>
          message.kind === 'machine' && message.machine === 'runner' && message.transition.to === 'dead',
      );
    });
    const snapshot = events[0]?.data as LiveSnapshot;
    expect(events[0]?.event).toBe('snapshot');
    expect(snapshot.machines.runner.states.map((state) => state.key)).toContain('running');
    expect(snapshot.machines.hook.states.map((state) => state.key)).toEqual([
      'retrying',
      'streaming',
      'backoff',
      'terminal',
    ]);
    const [alloc] = snapshot.allocations;
    expect(alloc?.name).toBe('web.g[0]');
    expect(alloc?.tasks.map((task) => [task.name, task.driver, task.memoryLimitBytes])).toEqual([
      ['ticker', 'mock', 64 * 2 ** 20],
    ]);
    const updates = events.slice(1).map((event) => event.data as LiveMessage[]);
    // Batched: many samples (every 50 ms) in far fewer pushes (every 500 ms).
    const samples = updates.flat().filter((message) => message.kind === 'sample');
    expect(samples.length).toBeGreaterThan(updates.length);
    expect(samples[0]).toMatchObject({ point: [expect.any(Number), 25, 3_000_000] });
    const hook = updates
      .flat()
      .flatMap((message) =>
        message.kind === 'machine' && message.machine === 'hook' ? [message.transition] : [],
      );
    expect(hook.map((transition) => transition.to)).toContain('terminal');
    const states = updates.flat().flatMap((message) => (message.kind === 'task' ? [message.task.state] : []));
    expect(states).toEqual(expect.arrayContaining(['exited', 'dead']));
    expect(
      updates.flat().some((message) => message.kind === 'event' && message.event.type === 'Terminated'),
    ).toBe(true);
    // A page opened now draws the history: the snapshot holds the samples and the transitions.
    const late = (await readStream(`${base}/ui/stream`, {}, (seen) => seen.length > 0))[0]
      ?.data as LiveSnapshot;
    const task = late.allocations[0]?.tasks[0];
    expect(task?.samples.length).toBeGreaterThan(5);
    expect(task?.machines.hook.state).toBe('terminal');
    expect(task?.machines.hook.transitions.map((transition) => transition.to)).toEqual(
      expect.arrayContaining(['retrying', 'streaming', 'terminal']),
    );
    expect(task?.machines.runner.transitions.map((transition) => transition.to)).toEqual(
      expect.arrayContaining(['starting', 'running', 'dead']),
    );
  });
});

describe('the UI routes on their own', () => {
  async function serve(options: Partial<Parameters<typeof uiRoutes>[0]> = {}) {
    const live = createLiveState({ bus: createBus(), allocations: [] });
    const server = createHttpServer({
      routes: uiRoutes({ live, ...options }),
      logger: silentLogger(),
      port: 0,
      host: '127.0.0.1',
    });
    const base = await server.listen();
    cleanups.push(() => live.close());
    cleanups.push(() => server.close());
    return { base, live };
  }

  it('refuses streams past the limit with a JSON 503, and frees a place when a page leaves', async () => {
    const { base, live } = await serve({ maxStreams: 1 });
    const first = new AbortController();
    const open = await fetch(`${base}/ui/stream`, { signal: first.signal });
    expect(open.status).toBe(200);
    const refused = await fetch(`${base}/ui/stream`);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: string }).error).toBe('too many UI streams (at most 1)');
    expect(live.subscribers).toBe(1);
    first.abort();
    await waitFor('the stream to close', () => (live.subscribers === 0 ? true : undefined));
    const again = new AbortController();
    cleanups.push(() => again.abort());
    expect((await fetch(`${base}/ui/stream`, { signal: again.signal })).status).toBe(200);
  });

  it('says how to build the assets when they are missing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'taskpulse-ui-empty-'));
    cleanups.push(() => rmSync(empty, { recursive: true, force: true }));
    const { base } = await serve({ assetsDir: empty });
    const response = await fetch(`${base}/ui`);
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: string }).error).toBe(
      'the web UI is not built: run npm run build',
    );
  });
});

describe('eventLabel', () => {
  it('names XState’s internal events readably', () => {
    expect(eventLabel('xstate.done.actor.0.taskRunner.starting')).toBe('done starting');
    expect(eventLabel('xstate.error.actor.0.statsHook.retrying')).toBe('error retrying');
    expect(eventLabel('xstate.after.restartDelay.taskRunner.restarting')).toBe('after restartDelay');
    expect(eventLabel('xstate.init')).toBe('init');
    expect(eventLabel('exited')).toBe('exited');
  });
});
