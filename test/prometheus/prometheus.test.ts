/**
 * The agent's scrape as Prometheus itself reads it (`npm run test:prometheus`; `.ci/run` installs
 * Debian's `prometheus` package first, `npm test` does not need it): the text passes
 * `promtool check metrics`, and a real Prometheus server scraping the agent on 127.0.0.1 answers a
 * query about its tasks.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, startCli, waitFor, writeJob } from '../cli/cli.js';

const JOB = `
name: prom
type: service
groups:
  - name: web
    tasks:
      - name: sleeper
        driver: exec
        stats_interval: 200ms
        kill_timeout: 2s
        config: { command: node, args: ['-e', 'setInterval(() => {}, 1000)'] }
      - name: fake
        driver: mock
        stats_interval: 200ms
        config: { cpuPercent: 25, rssBytes: 5000000 }
`;

let agent: CliProcess;
let base: string;
const dirs: string[] = [];
let prometheus: ChildProcess | undefined;

beforeAll(async () => {
  agent = startCli(['agent', '--port', '0', '--output', 'none', writeJob('prom.yaml', JOB)]);
  base = await waitFor('the API URL', () => agent.stderr().match(/HTTP API: (http:\/\/\S+)/)?.[1]);
  await waitFor('usage of both tasks', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return /taskpulse_task_memory_rss\{[^}]*task="sleeper"/.test(text) && text.includes('task="fake"')
      ? true
      : undefined;
  });
}, 30_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const stopped = new Promise((resolve) => prometheus!.once('exit', resolve));
    prometheus.kill('SIGTERM');
    await stopped;
  }
  if (agent.child.exitCode === null) {
    agent.child.kill('SIGTERM');
    await agent.exited;
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('Prometheus reads the agent', () => {
  it('the scrape passes `promtool check metrics`, task life and process metrics included', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const name of [
      'taskpulse_task_state',
      'taskpulse_task_restarts_total',
      'process_cpu_seconds_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect({ status: check.status, stdout: check.stdout, stderr: check.stderr }).toEqual({
      status: 0,
      stdout: '',
      stderr: '',
    });
  });

  it('a real Prometheus server scraping it on 127.0.0.1 answers a query about its tasks', {
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskpulse-prometheus-'));
    dirs.push(dir);
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: taskpulse',
        `    static_configs: [{ targets: ["${new URL(base).host}"] }]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    prometheus.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    type Result = { metric: Record<string, string>; value: [number, string] }[];
    const query = async (promql: string) => {
      const url = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`;
      const response = await fetch(url).catch(() => undefined);
      if (!response?.ok) return undefined;
      const body = (await response.json()) as { status: string; data: { result: Result } };
      return body.status === 'success' && body.data.result.length > 0 ? body.data.result : undefined;
    };
    const running = await waitFor(
      `Prometheus to have scraped the agent (its log: ${log})`,
      () => query('taskpulse_task_state{state="running"} == 1'),
      45_000,
      250,
    );
    expect(running.map((series) => series.metric.task).sort()).toEqual(['fake', 'sleeper']);
    expect(running[0]!.metric).toMatchObject({ job: 'taskpulse', task_group: 'web', namespace: 'default' });
    const up = await query('up{job="taskpulse"}');
    expect(up?.[0]?.value[1]).toBe('1');
    const rss = await waitFor('the mock task memory', () => query('taskpulse_task_memory_rss{task="fake"}'));
    expect(rss[0]!.value[1]).toBe('5000000');
  });
});
