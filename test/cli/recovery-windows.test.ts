/**
 * Issue 13, the windows of a crash: the real CLI agent runs exec tasks on a data dir and is
 * SIGKILLed; the state it left is then set to what a crash at a worse instant leaves (the real
 * processes stay as they are), and a second agent takes over. Whatever the instant, each task runs
 * once afterwards, and a final SIGTERM leaves no task process in /proc and no task cgroup.
 *
 * - after the fork, before the state write that saves the handle (`starting` without a handle,
 *   the process running; or the write of `starting` itself not landed: `restarting` on disk);
 * - after the state write of `starting`, before the fork (no process; its empty cgroup left);
 * - during a restart's stop (`killing`: the main process gone, its child still running);
 * - during the recovery itself (the second agent killed just after it started a task).
 *
 * With cgroups (root) and without (the agent as `nobody`: the task id in the environment and the
 * session mark the processes).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cgroupDirsOf, killProcessesWith, processesWith } from '../support/leftovers.js';
import { type CliProcess, freshDataDir, jsonLines, startCli, waitFor } from './cli.js';

const isRoot = process.getuid?.() === 0;
const INTERVAL_MS = 200;
/** World-writable: `nobody` reads the job files and writes the exec logs (TMPDIR) and data dirs here. */
const shared = mkdtempSync(join(tmpdir(), 'taskpulse-windows-'));
chmodSync(shared, 0o777);
/** Each task sleeps for a duration of its own: its processes are found by it in /proc. */
let markers = 0;
const marker = () => String(61_000 + (process.pid % 500) * 20 + ++markers);
const used: string[] = [];

const clis: CliProcess[] = [];
afterEach(async () => {
  for (const cli of clis.splice(0)) {
    if (cli.child.exitCode !== null || cli.child.signalCode !== null) continue;
    cli.child.kill('SIGTERM');
    const timer = setTimeout(() => cli.child.kill('SIGKILL'), 10_000);
    await cli.exited;
    clearTimeout(timer);
  }
  // A failed test may leave a task between its sh and its sleep: both carry the marker.
  for (const sleep of used.splice(0)) killProcessesWith(sleep, { anyCommand: true });
});
afterAll(() => rmSync(shared, { recursive: true, force: true }));

interface SavedTask {
  name: string;
  state: string;
  handle?: { pid?: number };
}
interface SavedState {
  allocations: { id: string; tasks: SavedTask[] }[];
}
const statePath = (dataDir: string) => join(dataDir, 'state.json');
const readSaved = (dataDir: string): SavedState | undefined =>
  existsSync(statePath(dataDir))
    ? (JSON.parse(readFileSync(statePath(dataDir), 'utf8')) as SavedState)
    : undefined;
/** What a crash at a worse instant would have left: the task's saved state changed in place. */
function rewrite(dataDir: string, changes: Record<string, (task: SavedTask) => void>): void {
  const state = readSaved(dataDir)!;
  for (const task of state.allocations[0]!.tasks) changes[task.name]?.(task);
  // In place: the file keeps its owner (the agent as nobody must still write it).
  writeFileSync(statePath(dataDir), JSON.stringify(state));
}
const noHandle = (state: string) => (task: SavedTask) => {
  task.state = state;
  delete task.handle;
};

type Line = Record<string, unknown>;
const lines = (cli: CliProcess) => jsonLines(cli.stdout());
const eventsOf = (cli: CliProcess, task: string) =>
  lines(cli)
    .filter((line: Line) => line.type === 'event' && line.task === task)
    .map((line) => String(line.event));
const sampled = (cli: CliProcess, task: string) =>
  lines(cli).some((line) => line.type === 'stats' && line.task === task);

describe.skipIf(!isRoot).each([
  ['cgroups', [] as string[]],
  ['no cgroups (the agent as nobody)', ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']],
])('a crash at any instant: each task runs once, nothing is left (%s)', (_mode, wrapper) => {
  // The exec logs' dir, made by the first agent, must be writable by the agents of the same mode.
  const tmp = mkdtempSync(join(shared, 'tmp-'));
  chmodSync(tmp, 0o777);
  const agent = (dataDir: string, job: string, flags: string[] = []) => {
    const cli = startCli(
      [
        '--log-format',
        'json',
        'agent',
        '--no-http',
        '--output',
        'json',
        '--data-dir',
        dataDir,
        ...flags,
        job,
      ],
      { TMPDIR: tmp },
      wrapper,
    );
    clis.push(cli);
    return cli;
  };
  const writeJob = (tasks: Record<string, string>) => {
    const file = join(mkdtempSync(join(shared, 'job-')), 'job.yaml');
    chmodSync(join(file, '..'), 0o755);
    writeFileSync(
      file,
      `name: windows
type: service
groups:
  - name: g
    restart: { attempts: 3, interval: 10m, delay: 100ms, mode: fail }
    tasks:
${Object.entries(tasks)
  .map(
    ([name, command]) => `      - name: ${name}
        driver: exec
        stats_interval: ${INTERVAL_MS}ms
        kill_timeout: 1s
        config: { command: sh, args: ['-c', ${JSON.stringify(command)}] }`,
  )
  .join('\n')}
`,
    );
    chmodSync(file, 0o644);
    return file;
  };
  // Under the tests' state root, which `nobody` may write too.
  const dataDirOf = freshDataDir;

  /** The first agent, until every task runs with its handle saved; then SIGKILLed. Its allocation id. */
  async function runAndCrash(
    dataDir: string,
    job: string,
    names: string[],
    sleeps: string[],
    flags: string[] = [],
  ) {
    const one = agent(dataDir, job, flags);
    const saved = await waitFor(
      'every task running with its pid saved',
      () => {
        const tasks = readSaved(dataDir)?.allocations[0]?.tasks ?? [];
        return tasks.length === names.length &&
          tasks.every((task) => task.state === 'running' && task.handle?.pid)
          ? readSaved(dataDir)
          : undefined;
      },
      20_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; the agent said: ${one.stderr().slice(-2000)}`);
    });
    await waitFor('every sleep running', () =>
      sleeps.every((sleep) => processesWith(sleep).length === 1) ? true : undefined,
    );
    one.child.kill('SIGKILL');
    expect(await one.exited).toBe(128);
    return saved!.allocations[0]!.id;
  }

  /** The next agent has taken over: each task started or re-attached, sampled, and running once. */
  async function settled(cli: CliProcess, names: string[], sleeps: string[]) {
    await waitFor(
      'each task started or re-attached and sampled',
      () =>
        names.every(
          (name) =>
            sampled(cli, name) &&
            eventsOf(cli, name).some((event) => event === 'Started' || event === 'Recovered'),
        )
          ? true
          : undefined,
      20_000,
    );
    // A task's sleep comes a moment after its Started (sh forks or execs it).
    await waitFor('each sleep running', () =>
      sleeps.every((sleep) => processesWith(sleep).length > 0) ? true : undefined,
    );
    for (const sleep of sleeps) expect(processesWith(sleep), `one process of sleep ${sleep}`).toHaveLength(1);
  }

  /** SIGTERM: the agent ends cleanly, and no process or cgroup of its tasks is left. */
  async function stopAndCheck(cli: CliProcess, dataDir: string, allocId: string, sleeps: string[]) {
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    expect(existsSync(statePath(dataDir)), 'the state is cleared').toBe(false);
    expect(jsonLines(cli.stderr()).filter((line) => (line.level as number) >= 50)).toEqual([]);
    // The killed tasks' parent is init (their first agent died): they may stay zombies a moment.
    await waitFor('no task process left', () =>
      sleeps.every((sleep) => processesWith(sleep).length === 0) ? true : undefined,
    );
    expect(cgroupDirsOf([allocId]), 'no task cgroup left').toEqual([]);
  }
  const warnsOf = (cli: CliProcess) =>
    jsonLines(cli.stderr())
      .filter((line) => line.level === 40)
      .map((line) => String(line.msg));

  it('killed after the fork and before the handle was saved (or before `starting` was): the process is killed, the task started once', {
    timeout: 60_000,
  }, async () => {
    const sleeps = [marker(), marker(), marker()];
    used.push(...sleeps);
    const names = ['forked', 'restarted', 'unforked'];
    const job = writeJob(Object.fromEntries(names.map((name, i) => [name, `exec sleep ${sleeps[i]}`])));
    const dataDir = dataDirOf();
    const allocId = await runAndCrash(dataDir, job, names, sleeps);
    const [forked, restarted, unforked] = sleeps.map((sleep) => processesWith(sleep)[0]!.pid);
    // unforked: the state said `starting`, and the agent died before the fork: no process (what the
    // first agent's run left of it, its cgroup, stays, empty).
    process.kill(unforked!, 'SIGKILL');
    await waitFor('unforked gone', () => (processesWith(sleeps[2]!).length === 0 ? true : undefined));
    rewrite(dataDir, {
      forked: noHandle('starting'),
      // A restart forked before the write of `starting` landed: the state still says `restarting`.
      restarted: noHandle('restarting'),
      unforked: noHandle('starting'),
    });

    const two = agent(dataDir, job);
    await settled(two, names, sleeps);
    for (const [sleep, old] of [
      [sleeps[0]!, forked],
      [sleeps[1]!, restarted],
    ] as const) {
      expect(processesWith(sleep)[0]!.pid, `sleep ${sleep} is a new process`).not.toBe(old);
    }
    for (const name of names) {
      expect(eventsOf(two, name)).toEqual(['Received', 'Recovered', 'Task Setup', 'Started']);
    }
    const killedWarns = warnsOf(two).filter((msg) => msg.startsWith('killed processes of the task'));
    expect(killedWarns, 'one warn line for each task whose process was killed').toHaveLength(2);
    await stopAndCheck(two, dataDir, allocId, sleeps);
  });

  it('--exec-plugin, the agent and its plugin killed together after the fork and before the handle was saved: the relaunched plugin does not start a second copy', {
    timeout: 60_000,
  }, async () => {
    const sleep = marker();
    used.push(sleep);
    const job = writeJob({ forked: `exec sleep ${sleep}` });
    const dataDir = dataDirOf();
    const allocId = await runAndCrash(dataDir, job, ['forked'], [sleep], ['--exec-plugin']);
    const [forked] = processesWith(sleep);
    const plugin = (
      JSON.parse(readFileSync(statePath(dataDir), 'utf8')) as { plugins: Record<string, { pid: number }> }
    ).plugins.exec!.pid;
    process.kill(plugin, 'SIGKILL');
    await waitFor('the plugin gone', () =>
      existsSync(`/proc/${plugin}/stat`) &&
      !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${plugin}/stat`, 'latin1'))
        ? undefined
        : true,
    );
    // The task outlives its plugin (a session of its own), and no state names it.
    expect(processesWith(sleep).map((found) => found.pid)).toEqual([forked!.pid]);
    rewrite(dataDir, { forked: noHandle('starting') });

    const two = agent(dataDir, job, ['--exec-plugin']);
    await settled(two, ['forked'], [sleep]);
    expect(processesWith(sleep)[0]!.pid, 'a new process').not.toBe(forked!.pid);
    expect(eventsOf(two, 'forked')).toEqual(['Received', 'Recovered', 'Task Setup', 'Started']);
    const killedWarns = warnsOf(two).filter((msg) => msg.startsWith('killed processes of the task'));
    expect(killedWarns, 'one warn line for the task whose process was killed').toHaveLength(1);
    await stopAndCheck(two, dataDir, allocId, [sleep]);
  });

  it("killed during a restart's stop (the main process gone, its child running): the child is killed, the task started once", {
    timeout: 60_000,
  }, async () => {
    const sleep = marker();
    used.push(sleep);
    // sh stays the main process (no exec): the stop's SIGTERM ends it, its child lives on, in a
    // session of its own (out of the task's process group, which a stop signals too).
    const job = writeJob({ r: `setsid sleep ${sleep} & wait` });
    const dataDir = dataDirOf();
    const allocId = await runAndCrash(dataDir, job, ['r'], [sleep]);
    const main = readSaved(dataDir)!.allocations[0]!.tasks[0]!.handle!.pid!;
    const [child] = processesWith(sleep);
    // The first agent's stop had sent SIGTERM to the main process when it was killed.
    process.kill(main, 'SIGTERM');
    await waitFor('the main process gone', () => {
      try {
        return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${main}/stat`, 'latin1')) ? true : undefined;
      } catch {
        return true;
      }
    });
    expect(processesWith(sleep).map((found) => found.pid)).toEqual([child!.pid]);
    rewrite(dataDir, { r: (task) => Object.assign(task, { state: 'killing' }) });

    const two = agent(dataDir, job);
    await waitFor(
      'r started again',
      () => (eventsOf(two, 'r').includes('Started') ? true : undefined),
      20_000,
    );
    await settled(two, ['r'], [sleep]);
    expect(processesWith(sleep)[0]!.pid, 'the old child is gone').not.toBe(child!.pid);
    // Its main process gone (a failed recovery), or caught a zombie (re-attached, its exit read):
    // either way the restart policy starts it once.
    const events = eventsOf(two, 'r');
    expect([
      ['Received', 'Driver Failure', 'Restarting', 'Task Setup', 'Started'],
      ['Received', 'Recovered', 'Terminated', 'Restarting', 'Task Setup', 'Started'],
    ]).toContainEqual(events);
    await stopAndCheck(two, dataDir, allocId, [sleep]);
  });

  it('killed during the recovery (just after it started a task): the third agent still runs it once', {
    timeout: 60_000,
  }, async () => {
    const sleeps = [marker(), marker()];
    used.push(...sleeps);
    const names = ['kept', 'started'];
    const job = writeJob(Object.fromEntries(names.map((name, i) => [name, `exec sleep ${sleeps[i]}`])));
    const dataDir = dataDirOf();
    const allocId = await runAndCrash(dataDir, job, names, sleeps);
    const kept = processesWith(sleeps[0]!)[0]!.pid;
    rewrite(dataDir, { started: noHandle('starting') });

    const two = agent(dataDir, job);
    await waitFor(
      'the second agent started the task',
      () => (eventsOf(two, 'started').includes('Started') ? true : undefined),
      20_000,
    );
    two.child.kill('SIGKILL');
    expect(await two.exited).toBe(128);
    // The worst the second agent can leave: the process it started, with no handle saved for it.
    rewrite(dataDir, { started: noHandle('starting') });
    await waitFor('the process the second agent started', () =>
      processesWith(sleeps[1]!).length > 0 ? true : undefined,
    );
    expect(processesWith(sleeps[1]!)).toHaveLength(1);

    const three = agent(dataDir, job);
    await settled(three, names, sleeps);
    expect(processesWith(sleeps[0]!)[0]!.pid, 'kept is the same process').toBe(kept);
    expect(eventsOf(three, 'kept')).toEqual(['Received', 'Recovered']);
    expect(eventsOf(three, 'started')).toEqual(['Received', 'Recovered', 'Task Setup', 'Started']);
    await stopAndCheck(three, dataDir, allocId, sleeps);
  });
});
