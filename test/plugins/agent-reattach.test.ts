/**
 * Issue 13 with `createAgent`: a job file's plugin launched by an agent with a data dir outlives it,
 * and an agent that stops before it took the saved state over (here: its HTTP port is taken) leaves
 * the plugin it attached to as it found it, tasks and all, for the next agent (the CLI tests,
 * test/cli/recovery.test.ts, do the kill -9s).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createAgent } from '../../src/agent/create-agent.js';
import { parseJob } from '../../src/agent/load-job.js';
import { processIdentity } from '../../src/drivers/exec/recover.js';
import { createBus } from '../../src/runtime/bus.js';
import { waitFor } from '../exec/helpers.js';
import { CLI, tempDir } from './targets.js';

const live = (pid: number) => {
  const identity = processIdentity(pid);
  return identity !== undefined && identity.state !== 'Z';
};

const job = parseJob({
  name: 'j',
  type: 'service',
  plugins: { m: { command: process.execPath, args: [CLI, 'plugin', 'mock'] } },
  groups: [{ name: 'g', tasks: [{ name: 't', driver: 'plugin', plugin: 'm', config: {} }] }],
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An agent on `dataDir`; its bus' events by type. */
function agentOn(dataDir: string, http?: { port: number }) {
  const bus = createBus();
  const events: string[] = [];
  bus.on('task:event', ({ event }) => events.push(event.type));
  const agent = createAgent({ jobs: [job], dataDir, bus, ...(http ? { http } : {}) });
  cleanups.push(() => void agent.stop({ mode: 'kill', deadlineMs: 2000 }));
  return { agent, events };
}

it('a stop before the saved state is taken over leaves the attached plugin and its task to the next agent', async () => {
  const dir = tempDir('agent-reattach');
  cleanups.push(() => dir.remove());
  const one = agentOn(dir.path);
  await one.agent.start();
  await waitFor('the task started', () => one.events.includes('Started'), 10_000);
  const saved = () =>
    JSON.parse(readFileSync(join(dir.path, 'state.json'), 'utf8')) as {
      plugins: Record<string, { pid: number }>;
    };
  const plugin = saved().plugins['plugin:m']!.pid;
  cleanups.push(() => {
    if (live(plugin)) process.kill(plugin, 'SIGKILL');
  });
  await one.agent.stop({ mode: 'detach' });
  expect(live(plugin), 'detached, the plugin runs on').toBe(true);

  // The next agent attaches to the plugin, then fails to start (its port is taken) and is stopped
  // in the default kill mode: it took nothing over, so the plugin and the saved state stay.
  const taken: Server = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as { port: number }).port;
  const two = agentOn(dir.path, { port });
  await expect(two.agent.start()).rejects.toThrow(/EADDRINUSE|in use/);
  await two.agent.stop();
  expect(live(plugin), 'the plugin is left as it was found').toBe(true);
  expect(saved().plugins['plugin:m']!.pid).toBe(plugin);

  const three = agentOn(dir.path);
  await three.agent.start();
  await waitFor('the task re-attached', () => three.events.includes('Recovered'), 10_000);
  expect(three.events).toEqual(['Received', 'Recovered']);
  await three.agent.stop({ mode: 'kill' });
  await waitFor('the plugin stopped with the last agent', () => !live(plugin), 5000);
});
