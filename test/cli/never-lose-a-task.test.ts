/**
 * Issue 11, "never lose a task": every way out of the real `taskpulse agent` and `run` stops what it
 * started. Each case runs the real CLI with real exec tasks, then checks /proc (no live process of the
 * case's marker: a unique `sleep` duration) and the cgroup tree (no directory of its allocations).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/errors.js';
import { TEST_CGROUP_PARENT } from '../support/cli-cgroups.js';
import { cgroupDirsOf, killProcessesWith, processesWith } from '../support/leftovers.js';
import { type CliProcess, jsonLines, ROOT, runCli, startCli, waitFor, writeJob } from './cli.js';

const clis: CliProcess[] = [];
const markers: string[] = [];
afterEach(async () => {
  for (const cli of clis) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  await Promise.all(clis.map((cli) => cli.exited));
  for (const marker of markers) killProcessesWith(marker);
  clis.length = 0;
  markers.length = 0;
});

let nextMarker = 4100 + (process.pid % 500) * 10;
/** A `sleep` duration no other test uses: how the case's processes are found in /proc. */
function marker(): string {
  nextMarker += 1;
  const value = String(nextMarker);
  markers.push(value);
  return value;
}

const shQuote = (text: string) => JSON.stringify(text);

function jobFile(command: string, { killTimeout = '2s', name = 'j' } = {}): string {
  return writeJob(
    `${name}.yaml`,
    `
name: ${name}
type: service
groups:
  - name: g
    tasks:
      - name: a
        driver: exec
        kill_timeout: ${killTimeout}
        stats_interval: 200ms
        config: { command: sh, args: ['-c', ${shQuote(command)}] }
`,
  );
}

function start(args: string[]): CliProcess {
  const cli = startCli(['--log-format', 'json', ...args]);
  clis.push(cli);
  return cli;
}

const startedAllocs = (cli: CliProcess) =>
  jsonLines(cli.stdout())
    .filter((line) => line.event === 'Started')
    .map((line) => String(line.alloc_id));

/** Waits until `count` tasks started and `marker` shows `processes` live processes. */
async function untilRunning(cli: CliProcess, sleepMarker: string, processes: number, count = 1) {
  await waitFor('the tasks to start', () => (startedAllocs(cli).length >= count ? true : undefined), 15_000);
  await waitFor(`${processes} processes of sleep ${sleepMarker}`, () =>
    processesWith(sleepMarker).length === processes ? true : undefined,
  );
  return startedAllocs(cli);
}

/** Nothing of the case is left: no process, no cgroup. */
async function expectNothingLeft(sleepMarker: string, allocIds: string[]) {
  await waitFor(`no process of sleep ${sleepMarker}`, () =>
    processesWith(sleepMarker).length === 0 ? true : undefined,
  );
  expect(cgroupDirsOf(allocIds)).toEqual([]);
}

const logLines = (cli: CliProcess) => jsonLines(cli.stderr());

describe('case 1: SIGHUP and SIGQUIT stop like SIGTERM; SIGUSR2 is ignored', () => {
  it('agent: USR2 changes nothing, HUP stops every task; QUIT the same; exit 0, nothing left', async () => {
    const [hup, quit] = [marker(), marker()];
    const hupAgent = start(['agent', '--no-http', '--output', 'json', jobFile(`sleep ${hup}`)]);
    const quitAgent = start(['agent', '--no-http', '--output', 'json', jobFile(`sleep ${quit}`)]);
    const hupAllocs = await untilRunning(hupAgent, hup, 1);
    const quitAllocs = await untilRunning(quitAgent, quit, 1);

    hupAgent.child.kill('SIGUSR2');
    await waitFor('the ignored-signal line', () =>
      logLines(hupAgent).some((line) => line.signal === 'SIGUSR2') ? true : undefined,
    );
    expect(hupAgent.child.exitCode).toBeNull();
    expect(processesWith(hup)).toHaveLength(1);

    hupAgent.child.kill('SIGHUP');
    quitAgent.child.kill('SIGQUIT');
    expect(await hupAgent.exited).toBe(0);
    expect(await quitAgent.exited).toBe(0);
    for (const cli of [hupAgent, quitAgent]) {
      expect(jsonLines(cli.stdout()).at(-1)).toMatchObject({ type: 'summary', reason: 'stopped' });
    }
    await expectNothingLeft(hup, hupAllocs);
    await expectNothingLeft(quit, quitAllocs);
  });

  it('run: SIGHUP stops the command (killed by its SIGTERM: exit 143), nothing left', async () => {
    const sleep = marker();
    const run = start(['run', '--output', 'json', '--', 'sleep', sleep]);
    const allocs = await untilRunning(run, sleep, 1);
    run.child.kill('SIGHUP');
    expect(await run.exited).toBe(143);
    await expectNothingLeft(sleep, allocs);
  });
});

describe('case 2: a closed stdout or stderr never crashes the process', () => {
  it('run | head -1: the command is stopped, exit 141, no stack trace, nothing left', async () => {
    const sleep = marker();
    const run = start(['run', '--output', 'json', '--interval', '100ms', '--', 'sleep', sleep]);
    const allocs = await untilRunning(run, sleep, 1);
    // The reader goes away, as `head -1` does after its line.
    run.child.stdout?.destroy();
    expect(await run.exited).toBe(141);
    expect(run.stderr()).not.toMatch(/EPIPE.*\n\s+at /);
    expect(
      logLines(run).some((line) => line.msg === 'stdout closed: stopping the command, as a pipeline would'),
    ).toBe(true);
    await expectNothingLeft(sleep, allocs);
  });

  it('agent with stderr and then stdout closed: goes on supervising, stops cleanly on SIGTERM', async () => {
    const sleep = marker();
    const agent = start([
      '--log-level',
      'debug',
      'agent',
      '--no-http',
      '--output',
      'json',
      jobFile(`sleep ${sleep}`),
    ]);
    const allocs = await untilRunning(agent, sleep, 1);
    agent.child.stderr?.destroy();
    // Debug lines come with every sample (every 200 ms): the next one hits the closed pipe.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(agent.child.exitCode).toBeNull();
    agent.child.stdout?.destroy();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(agent.child.exitCode).toBeNull();
    expect(processesWith(sleep)).toHaveLength(1);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    await expectNothingLeft(sleep, allocs);
  });
});

describe('case 3: a shutdown deadline shorter than kill_timeout', () => {
  it('at the deadline every remaining task is force-killed: exit 1 (timed out) in about 2 s, nothing left', async () => {
    const sleep = marker();
    const agent = start([
      'agent',
      '--no-http',
      '--output',
      'json',
      '--shutdown-deadline',
      '2s',
      jobFile(`trap '' TERM; sleep ${sleep} & sleep ${sleep} & wait`, { killTimeout: '1h' }),
    ]);
    const allocs = await untilRunning(agent, sleep, 2);
    const stopAt = Date.now();
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(1);
    expect(Date.now() - stopAt).toBeLessThan(8000);
    expect(logLines(agent).map((line) => line.msg)).toContain(
      'shutdown deadline passed with tasks still alive: killing them',
    );
    await expectNothingLeft(sleep, allocs);
  });
});

describe('case 4: the forced kill reaches processes that left the process group', () => {
  it('second SIGTERM: setsid children deaf to TERM are SIGKILLed with the rest (cgroup), exit 130, cgroup removed', async () => {
    const sleep = marker();
    const escapee = `setsid sh -c "trap '' TERM; exec sleep ${sleep}"`;
    const agent = start([
      'agent',
      '--no-http',
      '--output',
      'json',
      jobFile(`trap '' TERM; ${escapee} & ${escapee} & sleep ${sleep} & wait`, { killTimeout: '1h' }),
    ]);
    const allocs = await untilRunning(agent, sleep, 3);
    agent.child.kill('SIGTERM');
    await waitFor('the task in killing', () =>
      jsonLines(agent.stdout()).some((line) => line.event === 'Killing') ? true : undefined,
    );
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(130);
    await expectNothingLeft(sleep, allocs);
  });
});

describe('case 5 and 6: output paths are checked before anything starts', () => {
  it('--record-inspection into a missing directory: exit 2, one line, no task started', async () => {
    const sleep = marker();
    const { code, stdout, stderr } = await runCli([
      'agent',
      '--no-http',
      '--record-inspection',
      '/no/such/dir/f.jsonl',
      jobFile(`sleep ${sleep}`),
    ]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      'taskpulse: --record-inspection /no/such/dir/f.jsonl: cannot open for writing (ENOENT)',
    );
    expect(jsonLines(stdout).some((line) => line.event === 'Started')).toBe(false);
    expect(processesWith(sleep)).toEqual([]);
  });

  it('--exec-log-dir under /proc, a file, or below /dev/null: exit 2 at once with one message, no task started', async () => {
    const sleep = marker();
    const cases: [string, string][] = [
      ['/proc/x', 'cannot create /proc/x (ENOENT)'],
      ['/etc/passwd', '/etc/passwd is not a directory'],
      ['/dev/null/x', '/dev/null is not a directory'],
    ];
    const job = writeJob(
      'many.yaml',
      `
name: many
groups:
  - name: g
    count: 5
    tasks:
      - name: a
        driver: exec
        config: { command: sleep, args: ['${sleep}'] }
`,
    );
    const results = await Promise.all(
      cases.map(async ([dir]) => {
        const cli = start(['agent', '--no-http', '--exec-log-dir', dir, job]);
        // /proc/x used to hang at 100 % CPU in a recursive mkdirSync, deaf to signals.
        const timer = setTimeout(() => cli.child.kill('SIGKILL'), 8000);
        const code = await cli.exited;
        clearTimeout(timer);
        return { code, stderr: cli.stderr() };
      }),
    );
    for (const [index, [dir, message]] of cases.entries()) {
      expect(results[index]).toEqual({ code: 2, stderr: `taskpulse: --exec-log-dir ${dir}: ${message}\n` });
    }
    expect(processesWith(sleep)).toEqual([]);
  });
});

describe('case 8: --cgroup-parent is validated', () => {
  it('refuses "..", absolute paths and empty segments with exit 2 naming the flag and value', async () => {
    const job = jobFile('true');
    for (const bad of ['..', '/abs', 'a//b', 'a/../b', 'x y']) {
      const { code, stderr } = await runCli(['agent', '--no-http', '--cgroup-parent', bad, job]);
      expect(code).toBe(2);
      expect(stderr).toContain(`option '--cgroup-parent <name>' argument '${bad}' is invalid`);
    }
    const fromEnv = await runCli(['run', '--', 'true'], { TASKPULSE_CGROUP_PARENT: '..' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain("value '..' from env 'TASKPULSE_CGROUP_PARENT' is invalid");
  });

  it('a nested parent works: the task cgroup is made under it, and all of it removed afterwards', async () => {
    const sleep = marker();
    const parent = `${TEST_CGROUP_PARENT}/nested`;
    const agent = start([
      'agent',
      '--no-http',
      '--output',
      'json',
      '--cgroup-parent',
      parent,
      jobFile(`sleep ${sleep}`),
    ]);
    const allocs = await untilRunning(agent, sleep, 1);
    // Root on a cgroup host (CI): the task's cgroup sits under the nested parent.
    if (process.getuid?.() === 0) expect(cgroupDirsOf(allocs, parent).length).toBeGreaterThan(0);
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    await expectNothingLeft(sleep, allocs);
    expect(cgroupDirsOf(allocs, parent)).toEqual([]);
  });
});

describe('case 10 and the exit codes: documented in --help and docs/cli.md', () => {
  it('agent and run --help list their exit codes and signals, and say what SIGKILL of the agent leaves', async () => {
    const agent = await runCli(['agent', '--help']);
    expect(agent.stdout).toContain('INT, TERM, HUP, QUIT');
    expect(agent.stdout).toContain('SIGKILL of the agent leaves the tasks running');
    expect(agent.stdout).toMatch(/130 +a second SIGINT\/SIGTERM forced the exit/);
    expect(agent.stdout).toContain('a second\none SIGKILLs every task process and exits 130');
    const run = await runCli(['run', '--help']);
    expect(run.stdout).toMatch(/141 +stdout was closed/);
    // The one exit-code table (getting started) has every code; docs/cli.md tells what SIGKILL leaves.
    const table = readFileSync(join(ROOT, 'docs/getting-started.md'), 'utf8');
    for (const code of Object.values(EXIT)) expect(table).toMatch(new RegExp(`\\| ${code} `));
    expect(readFileSync(join(ROOT, 'docs/cli.md'), 'utf8')).toContain(
      'SIGKILL of the agent leaves every task running',
    );
  });
});
