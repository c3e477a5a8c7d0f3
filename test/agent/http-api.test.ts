/** The HTTP API over a real server on 127.0.0.1, with the mock driver (the API, not processes, is under test). */
import { afterEach, describe, expect, it } from 'vitest';
import { type Agent, createAgent } from '../../src/agent/create-agent.js';
import { parseJob } from '../../src/agent/load-job.js';
import { waitFor } from '../cli/cli.js';
import { useLeakCheck } from '../support/leak-check.js';

const job = parseJob({
  name: 'api',
  type: 'service',
  namespace: 'team-a',
  groups: [
    {
      name: 'g',
      tasks: [
        {
          name: 'steady',
          driver: 'mock',
          stats_interval: 50,
          config: { cpuPercent: 25, rssBytes: 1_000_000 },
        },
        { name: 'short', driver: 'mock', stats_interval: 50, config: { runForMs: 300, exitCode: 0 } },
        { name: 'nostats', driver: 'mock', config: { stats: [{ notImplemented: true }] } },
      ],
    },
  ],
});

const leaks = useLeakCheck();
let agent: Agent | undefined;
// Registered after the leak check, so it runs first: the agent is stopped before the check looks.
afterEach(async () => {
  await agent?.stop({ deadlineMs: 2000 });
  for (const alloc of agent?.allocations ?? [])
    for (const task of alloc.tasks.values()) leaks.track(task.runner.actor);
  agent = undefined;
});

async function started(): Promise<{ agent: Agent; base: string; allocId: string }> {
  // A `service` task that exits is restarted after 15 s by default: 'short' stays in `restarting`.
  agent = createAgent({ jobs: [job], http: { port: 0 } });
  await agent.start();
  return { agent, base: agent.url!, allocId: agent.allocations[0]!.id };
}

const get = async (url: string, init?: RequestInit) => {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, body: (await response.json()) as unknown };
};

describe('HTTP API', () => {
  it('lists allocations with Nomad task states and events', async () => {
    const { base, allocId } = await started();
    const { status, body } = await get(`${base}/v1/allocations`);
    expect(status).toBe(200);
    const [alloc] = body as {
      ID: string;
      Name: string;
      Namespace: string;
      TaskStates: Record<string, unknown>;
    }[];
    expect(alloc).toMatchObject({ ID: allocId, Name: 'api.g[0]', Namespace: 'team-a' });
    expect(Object.keys(alloc!.TaskStates)).toEqual(['steady', 'short', 'nostats']);
    const one = await get(`${base}/v1/allocation/${allocId}`);
    const steady = (
      one.body as { TaskStates: Record<string, { State: string; Events: { Type: string; Time: number }[] }> }
    ).TaskStates.steady!;
    expect(steady.State).toBe('running');
    expect(steady.Events.map((event) => event.Type)).toEqual(['Received', 'Task Setup', 'Started']);
    expect(steady.Events[0]!.Time).toBeGreaterThan(1e18); // Unix ns
  });

  it('answers allocation stats in Nomad JSON shape, summed over tasks', async () => {
    const { base, allocId } = await started();
    const stats = await waitFor('a sample', async () => {
      const { body } = await get(`${base}/v1/client/allocation/${allocId}/stats`);
      return (body as { Tasks: Record<string, unknown> }).Tasks.steady ? body : undefined;
    });
    expect(stats).toMatchObject({
      ResourceUsage: {
        CpuStats: { Percent: expect.any(Number), Measured: expect.arrayContaining(['Percent']) },
        MemoryStats: { RSS: expect.any(Number), Measured: expect.arrayContaining(['RSS']) },
      },
      Tasks: {
        steady: {
          Pids: null,
          ResourceUsage: { CpuStats: { Percent: 25 }, MemoryStats: { RSS: 1_000_000 } },
          Timestamp: expect.any(Number),
        },
      },
    });
    expect((stats as { Tasks: Record<string, unknown> }).Tasks.nostats).toBeUndefined();
  });

  it('keeps an exited task readable on its own entry, marked Exited, and out of the totals', async () => {
    const { base, allocId } = await started();
    type Stats = {
      ResourceUsage: { MemoryStats: { RSS?: number } };
      Tasks: Record<string, { Exited: boolean; ResourceUsage: { MemoryStats: { RSS?: number } } }>;
    };
    const stats = await waitFor('short to have exited', async () => {
      const { body } = await get(`${base}/v1/client/allocation/${allocId}/stats`);
      return (body as Stats).Tasks.short?.Exited ? (body as Stats) : undefined;
    });
    expect(stats.Tasks.short!.ResourceUsage.MemoryStats.RSS).toBe(50 * 1024 * 1024);
    expect(stats.Tasks.steady!.Exited).toBe(false);
    // The allocation's usage is its live tasks' only.
    expect(stats.ResourceUsage.MemoryStats.RSS).toBe(1_000_000);
  });

  it('publishes Prometheus gauges with Nomad labels and removes them when a task exits', async () => {
    const { agent, base, allocId } = await started();
    const text = await waitFor('both tasks in the scrape', async () => {
      const body = await (await fetch(`${base}/v1/metrics?format=prometheus`)).text();
      return body.includes('task="short"') && body.includes('task="steady"') ? body : undefined;
    });
    expect(text).toContain(
      `taskpulse_task_memory_rss{job="api",task_group="g",alloc_id="${allocId}",task="steady",namespace="team-a"} 1000000`,
    );
    expect(text).toContain('taskpulse_task_cpu_total_percent{');
    // Unmeasured zeros are not published: the mock measures no swap.
    expect(text).not.toContain('taskpulse_task_memory_swap');
    // 'short' exits after 300 ms: its usage series go, 'steady' stays; its life's series remain.
    const afterExit = await waitFor('the exited task to leave the scrape', async () => {
      const body = await (await fetch(`${base}/v1/metrics?format=prometheus`)).text();
      return /taskpulse_task_(memory|cpu)_\w+\{[^}]*task="short"/.test(body) ? undefined : body;
    });
    expect(afterExit).toContain(
      `taskpulse_task_exit_code{job="api",task_group="g",alloc_id="${allocId}",task="short",namespace="team-a"} 0`,
    );
    expect(await agent.metrics.prometheus()).toContain('task="steady"');
    const json = (await get(`${base}/v1/metrics`)).body as { Gauges: { Name: string; Labels: object }[] };
    expect(json.Gauges.find((gauge) => gauge.Name === 'taskpulse.task.memory.rss')?.Labels).toEqual({
      job: 'api',
      task_group: 'g',
      alloc_id: allocId,
      task: 'steady',
      namespace: 'team-a',
    });
  });

  it('answers JSON errors: 404 for unknown ids and paths, 405 for other methods, 400 for a bad format', async () => {
    const { base } = await started();
    const unknownAlloc = await get(`${base}/v1/client/allocation/no-such-id/stats`);
    expect(unknownAlloc).toMatchObject({ status: 404, body: { error: 'unknown allocation id: no-such-id' } });
    expect((await get(`${base}/v1/allocation/nope`)).status).toBe(404);
    expect((await get(`${base}/v2/anything`)).status).toBe(404);
    const post = await get(`${base}/v1/allocations`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await get(`${base}/v1/metrics?format=xml`)).status).toBe(400);
    expect(await get(`${base}/v1/health`)).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('stops within its deadline, kills the tasks and closes the server', async () => {
    const { agent, base } = await started();
    const summary = await agent.stop({ deadlineMs: 2000 });
    expect(summary).toMatchObject({ reason: 'stopped', timedOut: false, failed: false });
    expect(summary.tasks.map((task) => task.state)).toEqual(['dead', 'dead', 'dead']);
    await expect(fetch(`${base}/v1/health`)).rejects.toThrow();
  });
});
