/**
 * The agent end to end: the real CLI on a job file with real processes, read through its HTTP API
 * and Prometheus text while the tasks run, stopped with SIGTERM, leaving no process behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, jsonLines, pidAlive, startCli, waitFor, writeJob } from './cli.js';

const JOB = `
name: e2e
type: service
groups:
  - name: web
    tasks:
      - name: spin
        driver: exec
        stats_interval: 200ms
        kill_timeout: 2s
        config:
          command: node
          args: ['-e', 'for (;;) {}']
      - name: holder
        driver: exec
        stats_interval: 200ms
        config:
          command: node
          args: ['-e', 'const keep = Buffer.alloc(64 * 2 ** 20, 1); setInterval(() => keep[0]++, 100)']
`;

interface NomadStats {
  ResourceUsage: { CpuStats: { Percent: number }; MemoryStats: { RSS: number } };
  Tasks: Record<string, { Pids: Record<string, unknown> | null; Timestamp: number }>;
  Timestamp: number;
}

let cli: CliProcess | undefined;
afterEach(async () => {
  // A failed test still stops the agent gracefully, so its tasks do not outlive the test run.
  if (cli && cli.child.exitCode === null) {
    const running = cli;
    running.child.kill('SIGTERM');
    const timer = setTimeout(() => running.child.kill('SIGKILL'), 10_000);
    await running.exited;
    clearTimeout(timer);
  }
  cli = undefined;
});

describe('taskpulse agent', () => {
  it('serves allocations, Nomad-shaped stats and Prometheus metrics, then stops cleanly on SIGTERM', {
    timeout: 40_000,
  }, async () => {
    cli = startCli([
      '--log-format',
      'json',
      'agent',
      '--port',
      '0',
      '--output',
      'json',
      writeJob('e2e.yaml', JOB),
    ]);
    const running = cli;
    const base = await waitFor('the API URL', () => running.stderr().match(/HTTP API: (http:\/\/\S+)/)?.[1]);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const allocs = (await (await fetch(`${base}/v1/allocations`)).json()) as {
      ID: string;
      TaskGroup: string;
      TaskStates: Record<string, { State: string; Events: { Type: string }[] }>;
    }[];
    expect(allocs).toHaveLength(1);
    const alloc = allocs[0]!;
    expect(alloc.TaskGroup).toBe('web');
    expect(Object.keys(alloc.TaskStates).sort()).toEqual(['holder', 'spin']);

    // Stats once both tasks have a sample with CPU measured (the first sample's percent is 0).
    type Usage = NomadStats['ResourceUsage'];
    const usageOf = (body: NomadStats, task: string) =>
      (body.Tasks[task] as unknown as { ResourceUsage: Usage } | undefined)?.ResourceUsage;
    // Wait until the spinner's CPU is measured (the first sample's percent is 0) and the holder has
    // touched its 64 MiB. Bounded generously: on a loaded 2-core machine node takes seconds to start.
    const stats = await waitFor(
      'CPU of the spinner and memory of the holder',
      async () => {
        const body = (await (
          await fetch(`${base}/v1/client/allocation/${alloc.ID}/stats`)
        ).json()) as NomadStats;
        const spin = usageOf(body, 'spin');
        const holder = usageOf(body, 'holder');
        return spin && holder && spin.CpuStats.Percent > 0 && holder.MemoryStats.RSS > 60 * 2 ** 20
          ? body
          : undefined;
      },
      20_000,
    );
    const spinUsage = (stats.Tasks.spin as unknown as { ResourceUsage: NomadStats['ResourceUsage'] })
      .ResourceUsage;
    expect(spinUsage.CpuStats.Percent).toBeLessThan(115);
    const holderUsage = usageOf(stats, 'holder')!;
    expect(holderUsage.MemoryStats.RSS).toBeLessThan(200 * 2 ** 20);
    expect(stats.ResourceUsage.MemoryStats.RSS).toBeGreaterThanOrEqual(holderUsage.MemoryStats.RSS);
    // Unix nanoseconds: within a minute of now.
    expect(Math.abs(stats.Timestamp / 1e6 - Date.now())).toBeLessThan(60_000);
    const pids = Object.values(stats.Tasks).flatMap((task) => Object.keys(task.Pids ?? {}).map(Number));
    expect(pids.length).toBeGreaterThanOrEqual(2);
    expect(pids.every(pidAlive)).toBe(true);

    const prometheus = await (await fetch(`${base}/v1/metrics?format=prometheus`)).text();
    const rss = prometheus.match(
      new RegExp(
        `^taskpulse_task_memory_rss\\{job="e2e",task_group="web",alloc_id="${alloc.ID}",task="holder",namespace="default"\\} (\\d+)$`,
        'm',
      ),
    );
    expect(Number(rss?.[1])).toBeGreaterThan(60 * 2 ** 20);
    expect(prometheus).toMatch(/^taskpulse_task_cpu_total_percent\{[^}]*task="spin"[^}]*\} \d/m);

    const json = (await (await fetch(`${base}/v1/metrics`)).json()) as { Gauges: { Name: string }[] };
    expect(json.Gauges.map((gauge) => gauge.Name)).toContain('taskpulse.task.memory.rss');
    expect((await fetch(`${base}/v1/health`)).status).toBe(200);

    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    const lines = jsonLines(running.stdout());
    const summary = lines.at(-1) as {
      type: string;
      reason: string;
      tasks: { task: string; state: string }[];
    };
    expect(summary.type).toBe('summary');
    expect(summary.reason).toBe('stopped');
    expect(summary.tasks.map((task) => task.state)).toEqual(['dead', 'dead']);
    expect(lines.some((line) => line.event === 'Killing')).toBe(true);
    // No orphans: every process the tasks had is gone.
    await waitFor('the task processes to be gone', () => (pids.some(pidAlive) ? undefined : true), 3000);
    // Clean logs: nothing at error level on a normal stop.
    expect(jsonLines(running.stderr()).filter((line) => (line.level as number) >= 50)).toEqual([]);
  });

  it('refuses an invalid job file with every problem listed, exit code 2, nothing started', async () => {
    const bad = writeJob(
      'bad.yaml',
      `name: bad
type: cron
groups:
  - name: g
    restart: { attempts: -1, delay: soon }
    tasks:
      - name: t
        driver: exec
        config: { args: [1] }
        stats_interval: fast
      - name: u
        driver: podman
`,
    );
    cli = startCli(['agent', '--port', '0', bad]);
    const code = await cli.exited;
    expect(code).toBe(2);
    const stderr = cli.stderr();
    expect(stderr).toContain(`${bad}:2:7: type: must be one of "batch" or "service" (got "cron")`);
    expect(stderr).toContain('groups[0].restart.attempts: must be at least 0 (got -1)');
    expect(stderr).toContain('groups[0].restart.delay: expected a duration');
    expect(stderr).toContain('(got "soon")');
    expect(stderr).toContain('groups[0].tasks[0].config.command: missing (a string is required)');
    expect(stderr).toContain('groups[0].tasks[0].config.args[0]: must be a string (got 1)');
    expect(stderr).toContain('groups[0].tasks[0].stats_interval: expected a duration');
    expect(stderr).toContain(
      'groups[0].tasks[1].driver: must be "exec", "docker", "mock" or "plugin" (got "podman")',
    );
    // Nothing in the validator's own words.
    expect(stderr).not.toMatch(/received|Invalid input|Too small/);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(stderr).not.toContain('HTTP API');
    expect(cli.stdout()).toBe('');
  });
});
