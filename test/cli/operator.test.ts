/**
 * The commands against a running agent (`status`, `stats`, `logs`, `restart`, `stop`), end to end: a
 * real agent process with real tasks, asked from other CLI processes over its HTTP API, with a
 * token; its task logs rotated and retained as the job says, and removed when the agent ends.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, pidAlive, runCli, startCli, waitFor, writeJob } from './cli.js';

const TOKEN = 'operator-e2e-token';
const JOB = `
name: ops
type: service
groups:
  - name: procs
    restart: { attempts: 2, delay: 30s, interval: 10m, mode: fail }
    tasks:
      - name: ticker
        driver: exec
        stats_interval: 200ms
        kill_timeout: 2s
        resources: { memory: 256 }
        config:
          command: node
          args: ['-e', 'setInterval(() => {}, 1000)']
      - name: holder
        driver: exec
        stats_interval: 200ms
        kill_timeout: 2s
        config:
          command: node
          args: ['-e', 'setInterval(() => {}, 1000)']
  - name: chatty
    tasks:
      - name: talker
        driver: exec
        kill_timeout: 2s
        logs: { max_files: 2, max_file_size: 1 }
        config:
          command: node
          args:
            - '-e'
            - >-
              process.stderr.write('warming up\\n');
              for (let i = 0; i < 3000; i++) process.stdout.write('bulk ' + i + ' ' + 'x'.repeat(500) + '\\n');
              let n = 0; setInterval(() => console.log('tick ' + n++), 100);
  - name: many
    count: 17
    tasks:
      - name: m
        driver: mock
        stats_interval: 200ms
        config: { stats: [{ notImplemented: true }] }
`;

interface AllocJson {
  ID: string;
  TaskGroup: string;
  TaskStates: Record<string, { RunnerState: string; Restarts: number }>;
}

let agent: CliProcess;
let base: string;
let procs: AllocJson;
let allocs: AllocJson[];
const logDir = mkdtempSync(join(tmpdir(), 'taskpulse-operator-logs-'));
/** Tasks of the job: 2 + 1 + 17. */
const TASKS = 20;
const env = () => ({ TASKPULSE_ADDR: base, TASKPULSE_TOKEN: TOKEN });
const api = async <T>(path: string): Promise<T> =>
  (await (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as T;
const statsOf = (alloc: string) =>
  api<{ Tasks: Record<string, { Pids: Record<string, unknown> | null }> }>(
    `/v1/client/allocation/${alloc}/stats`,
  );

beforeAll(async () => {
  agent = startCli(
    [
      '--log-format',
      'json',
      'agent',
      '--port',
      '0',
      '--output',
      'none',
      '--exec-log-dir',
      logDir,
      writeJob('ops.yaml', JOB),
    ],
    {
      TASKPULSE_TOKEN: TOKEN,
    },
  );
  base = await waitFor('the API URL', () => agent.stderr().match(/HTTP API: (http:\/\/\S+)/)?.[1]);
  // Both processes measured (a pid in their stats) before anything is asked.
  procs = await waitFor(
    'both exec tasks measured',
    async () => {
      const list = await api<AllocJson[]>('/v1/allocations');
      const alloc = list.find((candidate) => candidate.TaskGroup === 'procs');
      if (!alloc) return undefined;
      const stats = await statsOf(alloc.ID);
      allocs = list;
      return stats.Tasks.ticker?.Pids && stats.Tasks.holder?.Pids ? alloc : undefined;
    },
    20_000,
  );
}, 30_000);

afterAll(async () => {
  if (agent.child.exitCode === null) {
    agent.child.kill('SIGTERM');
    await agent.exited;
  }
  rmSync(logDir, { recursive: true, force: true });
});

describe('taskpulse status', () => {
  it('lists every task with state, exit, restarts, uptime, CPU, memory against its limit and pids', async () => {
    const result = await runCli(['status'], env());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [header, ...rows] = result.stdout.trimEnd().split('\n');
    expect(header).toMatch(
      /^ALLOC\s+TASK\s+STATE\s+EXIT\s+RESTARTS\s+UPTIME\s+CPU %\s+CPU MHZ\s+MEMORY\s+PIDS$/,
    );
    expect(rows).toHaveLength(TASKS);
    const ticker = rows.find((row) => row.includes('procs/ticker'))!;
    // 8-character id, running, no exit yet, 0 restarts, an uptime, figures, RSS of its 256 MiB limit, 1 pid.
    expect(ticker).toMatch(
      new RegExp(
        `^${procs.ID.slice(0, 8)}  procs/ticker\\s+running\\s+-\\s+0\\s+\\d+s\\s+\\d+\\.\\d\\s+\\d+\\s+[\\d.]+ MiB / 256 MiB \\([\\d.]+%\\)\\s+1$`,
      ),
    );
    // A driver without stats: every figure is "-", not 0.
    expect(rows.find((row) => row.includes('many/m'))).toMatch(/running\s+-\s+0\s+\d+s\s+-\s+-\s+-\s+-$/);
  });

  it('shows one task or one allocation by id prefix, with its recent events and times', async () => {
    const task = await runCli(['status', 'ticker'], env());
    expect(task.code).toBe(0);
    expect(task.stdout).toContain(`ID            = ${procs.ID}`);
    expect(task.stdout).toContain('Name          = ops.procs[0]');
    expect(task.stdout).toContain('Task "ticker" is "running"');
    expect(task.stdout).not.toContain('Task "holder"');
    expect(task.stdout).toMatch(
      /Recent Events:\nTime\s+Type\s+Description\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s+Started\s+Task started by client/,
    );
    const alloc = await runCli(['status', procs.ID.slice(0, 8)], env());
    expect(alloc.code).toBe(0);
    expect(alloc.stdout).toContain('Task "ticker" is "running"');
    expect(alloc.stdout).toContain('Task "holder" is "running"');
    const both = await runCli(['status', `${procs.ID.slice(0, 6)}/holder`], env());
    expect(both.stdout).toContain('Task "holder" is "running"');
    expect(both.stdout).not.toContain('Task "ticker"');
  });

  it('refuses an ambiguous prefix or task name, and an unknown one, naming the candidates', async () => {
    // 19 allocations over 16 hex digits: some first digit is shared.
    const first = allocs.map((alloc) => alloc.ID[0]!);
    const shared = first.find((digit, index) => first.indexOf(digit) !== index)!;
    const ambiguous = await runCli(['status', shared], env());
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(
      new RegExp(`^taskpulse: id prefix "${shared}" is ambiguous: it matches ${shared}\\w{7} \\(`),
    );
    expect(ambiguous.stderr).toContain('give more of the id');
    const name = await runCli(['restart', 'm'], env());
    expect(name.code).toBe(1);
    expect(name.stderr).toContain('task "m" is ambiguous: it matches ');
    expect(name.stderr).toContain('write <alloc>/<task>');
    const unknown = await runCli(['status', 'nope'], env());
    expect(unknown).toMatchObject({
      code: 1,
      stderr: 'taskpulse: no allocation id or task matches "nope"\n',
    });
  });

  it('needs the token: without it, a one-line error saying how to give it', async () => {
    const result = await runCli(['status'], { TASKPULSE_ADDR: base, TASKPULSE_TOKEN: undefined });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'taskpulse: the agent refused the request (missing or wrong token): set TASKPULSE_TOKEN or --token\n',
    );
    const flag = await runCli(['status', '--address', base, '--token', TOKEN], {
      TASKPULSE_TOKEN: undefined,
    });
    expect(flag.code).toBe(0);
  });

  it('says so when no agent answers', async () => {
    const result = await runCli(['status', '--address', '127.0.0.1:2']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^taskpulse: cannot reach the agent at http:\/\/127\.0\.0\.1:2 \(ECONNREFUSED\)/,
    );
  });
});

describe('taskpulse stats', () => {
  it('prints one table with --no-stream, one JSON line per task piped (null where unmeasured)', async () => {
    const table = await runCli(['stats', '--no-stream', '--format', 'table'], env());
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ALLOC\s+TASK\s+STATE\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+PIDS$/);
    expect(rows.find((row) => row.includes('procs/ticker'))).toMatch(
      /running\s+\d+\.\d\d%\s+[\d.]+ MiB \/ 256 MiB\s+\d+\.\d\d%\s+1$/,
    );
    const json = await runCli(['stats'], env());
    expect(json.code).toBe(0);
    const lines = json.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(TASKS);
    const ticker = lines.find((line) => line.task === 'ticker')!;
    expect(ticker).toMatchObject({
      alloc_id: procs.ID,
      group: 'procs',
      state: 'running',
      pids: 1,
      memory_limit_bytes: 256 * 2 ** 20,
    });
    expect(ticker.rss_bytes).toBeGreaterThan(1_000_000);
    const mock = lines.find((line) => line.task === 'm')!;
    expect(mock).toMatchObject({
      cpu_percent: null,
      rss_bytes: null,
      memory_limit_bytes: null,
      pids: null,
    });
  });

  it('-f keeps refreshing when piped', async () => {
    const follow = startCli(['stats', '-f', '--interval', '200ms', '--format', 'json'], env());
    await waitFor('three refreshes', () =>
      follow.stdout().trimEnd().split('\n').length >= 3 * TASKS ? true : undefined,
    );
    follow.child.kill('SIGTERM');
    await follow.exited;
    const times = new Set(
      follow
        .stdout()
        .trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as { time: string }).time),
    );
    expect(times.size).toBeGreaterThanOrEqual(3);
  });
});

describe('taskpulse restart and stop', () => {
  it("restart: a new process at once (not after the policy's 30 s delay), counted as a restart", async () => {
    const before = Object.keys((await statsOf(procs.ID)).Tasks.ticker!.Pids!).map(Number);
    const result = await runCli(['restart', 'ticker'], env());
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`restarting ops.procs[0] ticker (${procs.ID.slice(0, 8)})\n`);
    const after = await waitFor(
      'a new ticker process',
      async () => {
        const pids = Object.keys((await statsOf(procs.ID)).Tasks.ticker?.Pids ?? {}).map(Number);
        return pids.length > 0 && !pids.some((pid) => before.includes(pid)) ? pids : undefined;
      },
      15_000,
    );
    expect(after.every(pidAlive)).toBe(true);
    expect(before.some(pidAlive)).toBe(false);
    const status = await runCli(['status', 'ticker'], env());
    expect(status.stdout).toMatch(/Restart Signaled\s+User requested task to restart/);
    expect(status.stdout).toMatch(/\s1\s+\d+s\s+1\s+SIGTERM\n/); // pids, uptime, 1 restart, exit
  });

  it('stop: kills one task and waits until it is dead; the others run on', async () => {
    const pids = Object.keys((await statsOf(procs.ID)).Tasks.holder!.Pids!).map(Number);
    const result = await runCli(['stop', `${procs.ID.slice(0, 8)}/holder`], env());
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`stopped ops.procs[0] holder (${procs.ID.slice(0, 8)}): signal SIGTERM\n`);
    expect(pids.some(pidAlive)).toBe(false);
    const states = (await api<AllocJson>(`/v1/allocation/${procs.ID}`)).TaskStates;
    expect(states.holder?.RunnerState).toBe('dead');
    expect(states.ticker?.RunnerState).toBe('running');
    const again = await runCli(['restart', 'holder'], env());
    expect(again).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('cannot restart holder (dead): not running'),
    });
  });
});

describe('taskpulse logs', () => {
  const chatty = () => allocs.find((alloc) => alloc.TaskGroup === 'chatty')!;

  it('prints stdout or stderr, the last N lines, across the rotated files (max_files, max_file_size)', async () => {
    const dir = join(logDir, chatty().ID);
    // 1.5 MB of bulk past a 1 MB limit: rotated once a second, one copy kept (max_files: 2).
    await waitFor(
      'a rotation',
      () => (readdirSync(dir).includes('talker.stdout.0') ? true : undefined),
      10_000,
    );
    expect(readdirSync(dir).sort()).toEqual(['talker.stderr', 'talker.stdout', 'talker.stdout.0']);
    const stderr = await runCli(['logs', '--stderr', 'talker'], env());
    expect(stderr).toMatchObject({ code: 0, stdout: 'warming up\n', stderr: '' });
    await waitFor('some ticks', async () =>
      (await runCli(['logs', 'talker', '--tail', '3'], env())).stdout.startsWith('tick') ? true : undefined,
    );
    const tail = await runCli(['logs', '--tail', '3', 'talker'], env());
    const ticks = tail.stdout.trimEnd().split('\n');
    expect(ticks).toHaveLength(3);
    const numbers = ticks.map((line) => Number(line.match(/^tick (\d+)$/)?.[1]));
    expect(numbers).toEqual([numbers[0], numbers[0]! + 1, numbers[0]! + 2]);
    // The whole output: the bulk from the copy, then the live file, in order.
    const all = await runCli(['logs', 'talker'], env());
    const lines = all.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^bulk 0 x+$/);
    expect(lines[2999]).toMatch(/^bulk 2999 x+$/);
    expect(lines[3]).toMatch(/^bulk 3 /);
    expect(lines.slice(3000).every((line) => /^tick \d+$/.test(line))).toBe(true);
  });

  it('-f follows the output as the task writes it', async () => {
    const follow = startCli(['logs', '-f', '--tail', '1', `${chatty().ID.slice(0, 8)}/talker`], env());
    const seen = await waitFor('three new ticks', () => {
      const ticks = follow
        .stdout()
        .trimEnd()
        .split('\n')
        .filter((line) => line.startsWith('tick'));
      return ticks.length >= 4 ? ticks : undefined;
    });
    follow.child.kill('SIGTERM');
    await follow.exited;
    const numbers = seen.map((line) => Number(line.slice(5)));
    expect(numbers.slice(0, 4)).toEqual([numbers[0], numbers[0]! + 1, numbers[0]! + 2, numbers[0]! + 3]);
  });

  it('names what it cannot show: a task without log files, an allocation of several tasks', async () => {
    const mock = await runCli(
      ['logs', `${allocs.find((alloc) => alloc.TaskGroup === 'many')!.ID.slice(0, 8)}`],
      env(),
    );
    expect(mock.code).toBe(1);
    expect(mock.stderr).toBe(
      'taskpulse: task m runs on the mock driver: taskpulse keeps the output of exec tasks only\n',
    );
    const several = await runCli(['logs', procs.ID.slice(0, 8)], env());
    expect(several.code).toBe(1);
    expect(several.stderr).toContain(`has 2 tasks (ticker, holder): write ${procs.ID.slice(0, 8)}/<task>`);
  });
});

describe('task logs go with their allocation', () => {
  it("an agent removes its allocations' logs when it ends, unless --keep-logs", async () => {
    const job = writeJob(
      'short.yaml',
      `name: short
type: batch
groups:
  - name: g
    tasks:
      - name: say
        driver: exec
        config: { command: node, args: ['-e', 'console.log("said")'] }
`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'taskpulse-keep-logs-'));
    try {
      const gone = await runCli(['agent', '--no-http', '--output', 'json', '--exec-log-dir', dir, job]);
      expect(gone.code).toBe(0);
      expect(readdirSync(dir)).toEqual([]);
      const kept = await runCli([
        'agent',
        '--no-http',
        '--output',
        'json',
        '--keep-logs',
        '--exec-log-dir',
        dir,
        job,
      ]);
      expect(kept.code).toBe(0);
      const summary = JSON.parse(kept.stdout.trimEnd().split('\n').at(-1)!) as {
        tasks: { alloc_id: string }[];
      };
      const allocId = summary.tasks[0]!.alloc_id;
      expect(readdirSync(join(dir, allocId)).sort()).toEqual(['say.stderr', 'say.stdout']);
      expect(kept.stderr).toContain(`Task logs kept in ${dir}`);
      expect(existsSync(join(dir, allocId, 'say.stdout'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
