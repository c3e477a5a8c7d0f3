/**
 * Issue 13 end to end: the real CLI agent on a data dir, SIGKILLed, and a second agent on the same
 * dir that takes up its tasks. Docker tasks against the recorded engine (the fake replays it; it
 * runs in this process, so its containers outlive the agent as a real engine's do); plugins, which
 * outlive the agent (a job file's, and exec run out of process with `--exec-plugin`: Nomad's
 * executor) and are attached to again, or relaunched when they died with it. A final SIGTERM leaves
 * no container, plugin, task, cgroup, state or lock behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processIdentity } from '../../src/drivers/exec/recover.js';
import { type FakeDockerEngine, startFakeDockerEngine } from '../support/fake-docker-engine.js';
import { cgroupDirsOf, processesWith } from '../support/leftovers.js';
import {
  type CliProcess,
  freshDataDir,
  jsonLines,
  pidAlive,
  ROOT,
  startCli,
  waitFor,
  writeJob,
} from './cli.js';

const INTERVAL_MS = 200;

const clis: CliProcess[] = [];
/** Processes a test saw (plugins, tasks) that outlive their agent: killed after it if a failure left them. */
const outliving: { pid: number; startTime: number }[] = [];
afterEach(async () => {
  for (const cli of clis.splice(0)) {
    if (cli.child.exitCode !== null || cli.child.signalCode !== null) continue;
    cli.child.kill('SIGTERM');
    const timer = setTimeout(() => cli.child.kill('SIGKILL'), 10_000);
    await cli.exited;
    clearTimeout(timer);
  }
  for (const { pid, startTime } of outliving.splice(0)) {
    if (processIdentity(pid)?.startTime === startTime) process.kill(pid, 'SIGKILL');
  }
});
/** Marks `pid` to be killed after the test if it is still that process then. */
function outlives(pid: number): number {
  const startTime = processIdentity(pid)?.startTime;
  if (startTime !== undefined) outliving.push({ pid, startTime });
  return pid;
}

const agent = (dataDir: string, job: string, extra: string[] = []) => {
  const cli = startCli([
    '--log-format',
    'json',
    'agent',
    '--no-http',
    '--output',
    'json',
    '--data-dir',
    dataDir,
    ...extra,
    job,
  ]);
  clis.push(cli);
  return cli;
};

type Line = Record<string, unknown>;
/** A task that exited while no agent watched: re-attached, its exit reported, restarted by policy. */
const EXITED_IN_THE_GAP = ['Received', 'Recovered', 'Terminated', 'Restarting', 'Task Setup', 'Started'];
const lines = (cli: CliProcess) => jsonLines(cli.stdout());
const events = (cli: CliProcess, task?: string) =>
  lines(cli).filter((line) => line.type === 'event' && (task === undefined || line.task === task));
const samples = (cli: CliProcess, task: string) =>
  lines(cli).filter((line) => line.type === 'stats' && line.task === task);
const hasEvent = (cli: CliProcess, task: string, type: string) =>
  events(cli, task).some((line) => line.event === type) ? true : undefined;

interface SavedState {
  allocations: {
    id: string;
    tasks: { name: string; state: string; restarts: number; handle?: { driverId?: string; pid?: number } }[];
  }[];
  plugins: Record<string, { pid: number; address: string; startTime?: number }>;
}
const readSaved = (dataDir: string) =>
  JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8')) as SavedState;
/** The saved state once `ready` says it is what the test waits for. */
const savedWhen = (dataDir: string, what: string, ready: (state: SavedState) => boolean) =>
  waitFor(
    what,
    () => {
      const state = existsSync(join(dataDir, 'state.json')) ? readSaved(dataDir) : undefined;
      return state && ready(state) ? state : undefined;
    },
    20_000,
  );
const pidOf = (state: SavedState, name: string) =>
  state.allocations[0]?.tasks.find((task) => task.name === name)?.handle?.pid;
/** Every task saved running with a pid. */
const allRunning = (count: number) => (state: SavedState) => {
  const tasks = state.allocations[0]?.tasks ?? [];
  return tasks.length === count && tasks.every((task) => task.state === 'running' && task.handle?.pid);
};
/** Stderr log lines of a CLI with this message. */
const logged = (cli: CliProcess, msg: string) => jsonLines(cli.stderr()).filter((line) => line.msg === msg);
const parentOf = (pid: number) =>
  Number(/\) \S+ (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, 'latin1'))?.[1]);

/** `task` re-attached by this agent (nothing started), its stats resumed within two intervals. */
async function reattachedWithStats(cli: CliProcess, task: string) {
  await waitFor(
    `samples of ${task} after the recovery`,
    () => (samples(cli, task).length > 0 ? true : undefined),
    20_000,
  );
  const ofTask = events(cli, task);
  expect(ofTask.map((line) => line.event).slice(0, 2)).toEqual(['Received', 'Recovered']);
  const recoveredAt = Date.parse(String(ofTask[1]!.time));
  const firstSample = Date.parse(String(samples(cli, task)[0]!.time));
  expect(firstSample - recoveredAt, 'stats resume within two intervals').toBeLessThanOrEqual(2 * INTERVAL_MS);
}

async function crash(cli: CliProcess) {
  cli.child.kill('SIGKILL');
  expect(await cli.exited).toBe(128);
}

async function stopCleanly(cli: CliProcess, dataDir: string) {
  cli.child.kill('SIGTERM');
  expect(await cli.exited).toBe(0);
  expect(existsSync(join(dataDir, 'state.json')), 'the state is cleared by a kill-mode stop').toBe(false);
  expect(existsSync(join(dataDir, 'agent.lock')), 'the lock is released').toBe(false);
  const errors = jsonLines(cli.stderr()).filter((line) => (line.level as number) >= 50);
  expect(errors).toEqual([]);
}

/** Alive and not a zombie (a dead process its parent has not reaped yet). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The engine's API over its socket, as `docker kill` would call it. */
function engineCall(socketPath: string, method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path: `/v1.41${path}` }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the agent survives its own restart (issue 13)', () => {
  let fake: FakeDockerEngine;
  beforeEach(async () => {
    fake = await startFakeDockerEngine({ speedup: 50 });
  });
  afterEach(async () => {
    await fake.close();
  });

  it('docker: same containers supervised after kill -9, stats resume, one killed in the gap is restarted by policy', {
    timeout: 60_000,
  }, async () => {
    const dataDir = freshDataDir();
    const job = writeJob(
      'recover-docker.yaml',
      `
name: rec
type: service
groups:
  - name: g
    restart: { attempts: 2, interval: 10m, delay: 100ms, mode: fail }
    tasks:
${['keep', 'lose']
  .map(
    (name) => `      - name: ${name}
        driver: docker
        stats_interval: ${INTERVAL_MS}ms
        kill_timeout: 1s
        config:
          image: busybox:local
          command: ['/bin/sh', '-c', 'while :; do :; done']`,
  )
  .join('\n')}
`,
    );
    const docker = ['--docker-socket', fake.socketPath];
    const one = agent(dataDir, job, docker);
    await waitFor(
      'samples of both tasks from the first agent',
      () => (samples(one, 'keep').length > 0 && samples(one, 'lose').length > 0 ? true : undefined),
      20_000,
    );
    const saved = await waitFor('both handles saved', () => {
      const state = existsSync(join(dataDir, 'state.json')) ? readSaved(dataDir) : undefined;
      const tasks = state?.allocations[0]?.tasks ?? [];
      return tasks.length === 2 && tasks.every((task) => task.state === 'running' && task.handle?.driverId)
        ? state
        : undefined;
    });
    const containerOf = (name: string) =>
      saved.allocations[0]!.tasks.find((task) => task.name === name)!.handle!.driverId!;
    expect(fake.created).toHaveLength(2);

    await crash(one);
    // The agent is gone, its containers are not; one of them dies while nobody watches.
    expect(fake.containers().filter((c) => c.state === 'running')).toHaveLength(2);
    expect(
      await engineCall(fake.socketPath, 'POST', `/containers/${containerOf('lose')}/kill?signal=SIGKILL`),
    ).toBe(204);

    const two = agent(dataDir, job, docker);
    await waitFor('lose restarted by its policy', () => hasEvent(two, 'lose', 'Started'), 20_000);
    await waitFor('samples of keep from the second agent', () =>
      samples(two, 'keep').length > 0 ? true : undefined,
    );
    // keep: re-attached, the same container, nothing started for it.
    expect(events(two, 'keep').map((line) => line.event)).toEqual(['Received', 'Recovered']);
    expect(fake.containers().find((c) => c.id === containerOf('keep'))?.state).toBe('running');
    // lose: its exit in the gap reported with its code (137: SIGKILL), then one restart.
    const ofLose = events(two, 'lose');
    expect(ofLose.map((line) => line.event).slice(0, 6)).toEqual(EXITED_IN_THE_GAP);
    expect(ofLose.find((line) => line.event === 'Terminated')?.exit_code).toBe(137);
    expect(fake.created, 'one new container: the restart of lose').toHaveLength(3);
    // The allocation keeps its id.
    expect(lines(two).find((line) => line.type === 'stats')?.alloc_id).toBe(saved.allocations[0]!.id);

    await stopCleanly(two, dataDir);
    const summary = lines(two).at(-1) as { tasks: { task: string; restarts: number }[] };
    expect(summary.tasks.map((task) => [task.task, task.restarts])).toEqual([
      ['keep', 0],
      ['lose', 1],
    ]);
    await waitFor('every container removed', () => (fake.containers().length === 0 ? true : undefined));
  });

  it('exec: the same pids supervised after kill -9, stats resume, one killed in the gap is restarted by policy; SIGTERM leaves nothing', {
    timeout: 60_000,
  }, async () => {
    const dataDir = freshDataDir();
    const job = writeJob(
      'recover-exec.yaml',
      `
name: rece
type: service
groups:
  - name: g
    restart: { attempts: 2, interval: 10m, delay: 100ms, mode: fail }
    tasks:
${['keep', 'lose']
  .map(
    (name) => `      - name: ${name}
        driver: exec
        stats_interval: ${INTERVAL_MS}ms
        kill_timeout: 2s
        config:
          command: ${JSON.stringify(process.execPath)}
          args: ['-e', 'setInterval(() => {}, 1000)']`,
  )
  .join('\n')}
`,
    );
    const one = agent(dataDir, job);
    const saved = await waitFor(
      'both tasks running, their pids saved',
      () => {
        const state = existsSync(join(dataDir, 'state.json')) ? readSaved(dataDir) : undefined;
        const tasks = state?.allocations[0]?.tasks ?? [];
        return tasks.length === 2 && tasks.every((task) => task.state === 'running' && task.handle?.pid)
          ? state
          : undefined;
      },
      20_000,
    );
    await waitFor(
      'samples of both tasks',
      () => (samples(one, 'keep').length > 0 && samples(one, 'lose').length > 0 ? true : undefined),
      20_000,
    );
    const allocId = saved.allocations[0]!.id;
    const keepPid = pidOf(saved, 'keep')!;
    const losePid = pidOf(saved, 'lose')!;

    await crash(one);
    expect(pidAlive(keepPid) && pidAlive(losePid), 'the tasks outlive their agent').toBe(true);
    process.kill(losePid, 'SIGKILL');
    await waitFor('lose gone', () => (pidAlive(losePid) ? undefined : true));

    const two = agent(dataDir, job);
    await waitFor('lose restarted by its policy', () => hasEvent(two, 'lose', 'Started'), 20_000);
    await waitFor('samples of keep from the second agent', () =>
      samples(two, 'keep').length > 0 ? true : undefined,
    );
    expect(events(two, 'keep').map((line) => line.event)).toEqual(['Received', 'Recovered']);
    // lose: its process is gone (init reaped it: no exit code to read), so its handle cannot be
    // re-attached: a failed recovery, one warn line, and the restart policy starts it again.
    const ofLose = events(two, 'lose');
    expect(ofLose.map((line) => line.event).slice(0, 5)).toEqual([
      'Received',
      'Driver Failure',
      'Restarting',
      'Task Setup',
      'Started',
    ]);
    expect(String(ofLose[1]!.message)).toMatch(/could not be recovered: .*task not found/);
    const warns = jsonLines(two.stderr()).filter((line) => line.level === 40 && line.task === 'lose');
    expect(warns.map((line) => line.msg)).toEqual([expect.stringMatching(/could not be recovered/)]);
    const after = await waitFor('the new run of lose saved', () => {
      const state = readSaved(dataDir);
      const pid = pidOf(state, 'lose');
      return pid && pid !== losePid ? state : undefined;
    });
    expect(pidOf(after, 'keep'), 'keep is the same process').toBe(keepPid);
    expect(pidAlive(keepPid)).toBe(true);
    const newLose = pidOf(after, 'lose')!;

    await stopCleanly(two, dataDir);
    // keep's parent is init now (its agent died): once killed, it may stay a zombie a moment.
    await waitFor('no task process left', () => ([keepPid, newLose].some(running) ? undefined : true), 5000);
    expect(cgroupDirsOf([allocId]), 'no task cgroup left').toEqual([]);
  });

  it("a job file's plugin outlives a kill -9 of the agent and is attached to; one killed with the agent is relaunched; its task re-attached both times, stats within two intervals", {
    timeout: 60_000,
  }, async () => {
    const dataDir = freshDataDir();
    const job = writeJob(
      'recover-plugin.yaml',
      `
name: recp
type: service
plugins:
  m: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(join(ROOT, 'bin', 'taskpulse.js'))}, plugin, mock] }
groups:
  - name: g
    tasks:
      - name: t
        driver: plugin
        plugin: m
        stats_interval: ${INTERVAL_MS}ms
        config: {}
`,
    );
    const one = agent(dataDir, job);
    await waitFor(
      'samples from the first agent',
      () => (samples(one, 't').length > 0 ? true : undefined),
      20_000,
    );
    const before = await savedWhen(
      dataDir,
      'the plugin and the task saved',
      (state) =>
        state.plugins['plugin:m'] !== undefined && state.allocations[0]?.tasks[0]?.state === 'running',
    );
    const firstPlugin = outlives(before.plugins['plugin:m']!.pid);
    expect(before.plugins['plugin:m']!.startTime).toBe(processIdentity(firstPlugin)?.startTime);

    await crash(one);
    expect(running(firstPlugin), 'the plugin outlives its agent').toBe(true);

    // The next agent attaches to it: the same process, nothing launched, the task re-attached.
    const two = agent(dataDir, job);
    await reattachedWithStats(two, 't');
    expect(events(two, 't')).toHaveLength(2);
    expect(logged(two, 'attached to a running plugin').map((line) => line.pid)).toEqual([firstPlugin]);
    expect(logged(two, 'plugin serving'), 'no plugin launched').toEqual([]);

    // Killed together with its agent: the next one launches it again and re-attaches the task.
    await crash(two);
    process.kill(firstPlugin, 'SIGKILL');
    await waitFor('the plugin gone', () => (running(firstPlugin) ? undefined : true));
    const three = agent(dataDir, job);
    await reattachedWithStats(three, 't');
    expect(events(three, 't')).toHaveLength(2);
    const after = await waitFor('the new plugin saved', () => {
      const pid = readSaved(dataDir).plugins['plugin:m']?.pid;
      return pid && pid !== firstPlugin ? outlives(pid) : undefined;
    });
    expect(running(after)).toBe(true);

    await stopCleanly(three, dataDir);
    await waitFor('the new plugin gone', () => (running(after) ? undefined : true));
  });

  it('a second agent on the same data dir refuses to start, naming the first; exit 2', {
    timeout: 30_000,
  }, async () => {
    const dataDir = freshDataDir();
    const job = writeJob(
      'recover-lock.yaml',
      `
name: lock
groups:
  - name: g
    tasks:
      - { name: t, driver: mock, config: {} }
`,
    );
    const one = agent(dataDir, job);
    await waitFor('the first agent running', () => hasEvent(one, 't', 'Started'), 20_000);
    const two = agent(dataDir, job);
    expect(await two.exited).toBe(2);
    expect(two.stderr()).toContain(`data dir ${dataDir} is in use by another agent (pid ${one.child.pid}`);
    expect(events(two)).toEqual([]);
    await stopCleanly(one, dataDir);
  });

  it('a corrupt state is exit 2 naming the file, and nothing starts', { timeout: 30_000 }, async () => {
    const dataDir = freshDataDir();
    const job = writeJob(
      'recover-corrupt.yaml',
      `name: c\ngroups:\n  - name: g\n    tasks:\n      - { name: t, driver: mock }\n`,
    );
    const one = agent(dataDir, job);
    await waitFor('running', () => hasEvent(one, 't', 'Started'), 20_000);
    await crash(one);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dataDir, 'state.json'), '{"version": 1, "allocations": [');
    const two = agent(dataDir, job);
    expect(await two.exited).toBe(2);
    expect(two.stderr()).toContain(`the agent state ${join(dataDir, 'state.json')} is corrupt`);
    expect(events(two)).toEqual([] as Line[]);
  });
});

/**
 * Exec out of process (`--exec-plugin`, Nomad's executor): the tasks are the plugin's children, and
 * the plugin outlives the agent, keeping their exit statuses for the next one.
 */
describe('the exec plugin outlives its agent (issue 13)', () => {
  /** A unique `sleep` argument, so the test can tell its own task processes in /proc. */
  const marker = (n: number) => `3600.${process.pid}${n}`;
  const execJob = (file: string, sleep: string, names: readonly string[]) =>
    writeJob(
      file,
      `
name: ep
type: service
groups:
  - name: g
    restart: { attempts: 2, interval: 10m, delay: 100ms, mode: fail }
    tasks:
${names
  .map(
    (name) => `      - name: ${name}
        driver: exec
        stats_interval: ${INTERVAL_MS}ms
        kill_timeout: 2s
        config: { command: sleep, args: ['${sleep}'] }`,
  )
  .join('\n')}
`,
    );
  const execPlugin = ['--exec-plugin'];

  /** A final SIGTERM: the plugin, every task process and every task cgroup are gone. */
  async function leavesNothing(
    cli: CliProcess,
    dataDir: string,
    sleep: string,
    pids: number[],
    allocId: string,
  ) {
    await stopCleanly(cli, dataDir);
    // Tasks the plugin did not start (re-parented to init) may stay zombies a moment.
    await waitFor('no plugin, no task process left', () => (pids.some(running) ? undefined : true), 5000);
    expect(processesWith(sleep), 'no task process').toEqual([]);
    expect(cgroupDirsOf([allocId]), 'no task cgroup').toEqual([]);
  }

  it('kill -9 of the agent: the next one attaches to the same plugin, supervises the same pids, gets the exit code of a task killed in the gap and restarts it; SIGTERM leaves nothing', {
    timeout: 60_000,
  }, async () => {
    const dataDir = freshDataDir();
    const sleep = marker(1);
    const job = execJob('recover-exec-plugin.yaml', sleep, ['keep', 'lose']);
    const one = agent(dataDir, job, execPlugin);
    const saved = await savedWhen(
      dataDir,
      'both tasks running, the plugin saved',
      (state) => state.plugins.exec !== undefined && allRunning(2)(state),
    );
    const plugin = saved.plugins.exec!;
    outlives(plugin.pid);
    const keepPid = outlives(pidOf(saved, 'keep')!);
    const losePid = outlives(pidOf(saved, 'lose')!);
    expect(plugin.startTime, 'saved with its start time').toBe(processIdentity(plugin.pid)?.startTime);
    expect([parentOf(keepPid), parentOf(losePid)], "the tasks are the plugin's").toEqual([
      plugin.pid,
      plugin.pid,
    ]);
    await waitFor('samples of keep', () => (samples(one, 'keep').length > 0 ? true : undefined), 20_000);

    await crash(one);
    expect([plugin.pid, keepPid, losePid].every(running), 'the plugin and its tasks outlive the agent').toBe(
      true,
    );
    process.kill(losePid, 'SIGKILL');
    // The plugin is its parent: it reaps it, and keeps the status for the next agent.
    await waitFor('lose gone', () => (running(losePid) ? undefined : true));

    const two = agent(dataDir, job, execPlugin);
    await waitFor('lose restarted by its policy', () => hasEvent(two, 'lose', 'Started'), 20_000);
    await reattachedWithStats(two, 'keep');
    expect(events(two, 'keep')).toHaveLength(2);
    expect(logged(two, 'attached to a running plugin').map((line) => line.pid)).toEqual([plugin.pid]);
    expect(logged(two, 'plugin serving'), 'no plugin launched').toEqual([]);
    const ofLose = events(two, 'lose');
    expect(ofLose.map((line) => line.event).slice(0, 6)).toEqual(EXITED_IN_THE_GAP);
    // Its real wait status, kept by the plugin that reaped it (in process, init would have).
    expect(ofLose.find((line) => line.event === 'Terminated')).toMatchObject({
      exit_code: null,
      message: 'Exit Code: none, Signal: SIGKILL',
    });
    const after = await savedWhen(dataDir, 'the new run of lose saved', (state) => {
      const pid = pidOf(state, 'lose');
      return pid !== undefined && pid !== losePid;
    });
    expect(after.plugins.exec, 'the same plugin saved').toEqual(plugin);
    expect(pidOf(after, 'keep'), 'keep is the same process').toBe(keepPid);
    const newLose = outlives(pidOf(after, 'lose')!);
    expect(parentOf(newLose), 'the restart runs in the same plugin').toBe(plugin.pid);
    // A task starts as a `sh` wrapper that joins its cgroup, then execs `sleep` (spawn-task.ts).
    await waitFor('the new run of lose in sleep', () =>
      processesWith(sleep).some((found) => found.pid === newLose) ? true : undefined,
    );
    expect(
      processesWith(sleep)
        .map((found) => found.pid)
        .sort(),
      'no second copy',
    ).toEqual([keepPid, newLose].sort());

    await leavesNothing(two, dataDir, sleep, [plugin.pid, keepPid, newLose], saved.allocations[0]!.id);
    expect(existsSync(plugin.address.slice('unix:'.length)), 'its socket removed').toBe(false);
  });

  it('--on-signal detach: the plugin and its tasks live on, the state is kept; the next agent attaches to them', {
    timeout: 60_000,
  }, async () => {
    const dataDir = freshDataDir();
    const sleep = marker(2);
    const job = execJob('detach-exec-plugin.yaml', sleep, ['t']);
    const one = agent(dataDir, job, [...execPlugin, '--on-signal', 'detach']);
    const saved = await savedWhen(
      dataDir,
      'the task running, the plugin saved',
      (state) => state.plugins.exec !== undefined && allRunning(1)(state),
    );
    const plugin = outlives(saved.plugins.exec!.pid);
    const task = outlives(pidOf(saved, 't')!);
    one.child.kill('SIGTERM');
    expect(await one.exited).toBe(0);
    expect(logged(one, 'detached from the plugin: it runs on').map((line) => line.pid)).toEqual([plugin]);
    expect([plugin, task].every(running), 'the plugin and its task live on').toBe(true);
    expect(existsSync(join(dataDir, 'agent.lock')), 'the lock is released').toBe(false);
    expect(readSaved(dataDir).allocations, 'the state is kept').toEqual(saved.allocations);

    // The next agent, in the default (kill) mode, attaches to them.
    const two = agent(dataDir, job, execPlugin);
    await reattachedWithStats(two, 't');
    expect(events(two, 't')).toHaveLength(2);
    expect(logged(two, 'attached to a running plugin').map((line) => line.pid)).toEqual([plugin]);
    expect(processesWith(sleep).map((found) => found.pid)).toEqual([task]);
    await leavesNothing(two, dataDir, sleep, [plugin, task], saved.allocations[0]!.id);
  });

  it('a plugin killed with the agent, its pid then another process: that one is neither attached to nor killed; a new plugin re-attaches the task', {
    timeout: 60_000,
  }, async () => {
    const dataDir = freshDataDir();
    const sleep = marker(3);
    const job = execJob('relaunch-exec-plugin.yaml', sleep, ['t']);
    const one = agent(dataDir, job, execPlugin);
    const saved = await savedWhen(
      dataDir,
      'the task running, the plugin saved',
      (state) => state.plugins.exec !== undefined && allRunning(1)(state),
    );
    const plugin = saved.plugins.exec!;
    const task = outlives(pidOf(saved, 't')!);
    await crash(one);
    process.kill(plugin.pid, 'SIGKILL');
    await waitFor('the plugin gone', () => (running(plugin.pid) ? undefined : true));
    expect(running(task), 'its task lives on').toBe(true);
    // The pid is reused by another process: the saved config names it, with the plugin's start time.
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    outlives(stranger.pid!);
    const state = readSaved(dataDir);
    state.plugins.exec = { ...plugin, pid: stranger.pid! };
    writeFileSync(join(dataDir, 'state.json'), JSON.stringify(state));

    const two = agent(dataDir, job, execPlugin);
    await reattachedWithStats(two, 't');
    expect(events(two, 't')).toHaveLength(2);
    expect(logged(two, 'attached to a running plugin')).toEqual([]);
    const launched = logged(two, 'plugin serving').map((line) => line.pid as number);
    expect(launched).toHaveLength(1);
    const relaunched = outlives(launched[0]!);
    expect(running(stranger.pid!), 'the stranger is not killed').toBe(true);
    expect(readSaved(dataDir).plugins.exec?.pid).toBe(relaunched);
    expect(
      processesWith(sleep).map((found) => found.pid),
      'the same task process',
    ).toEqual([task]);
    await leavesNothing(two, dataDir, sleep, [relaunched, task], saved.allocations[0]!.id);
    expect(running(stranger.pid!)).toBe(true);
    stranger.kill('SIGKILL');
  });

  it('without a data dir nothing could attach to the plugin again: it exits with its agent and takes its tasks along', {
    timeout: 30_000,
  }, async () => {
    const sleep = marker(4);
    const job = execJob('no-data-dir-exec-plugin.yaml', sleep, ['t']);
    const one = agent(freshDataDir(), job, [...execPlugin, '--no-data-dir']);
    const plugin = await waitFor(
      'the plugin serving',
      () => logged(one, 'plugin serving')[0]?.pid as number | undefined,
      20_000,
    );
    outlives(plugin);
    const task = await waitFor('the task in sleep', () => processesWith(sleep)[0]?.pid, 20_000);
    outlives(task);
    expect(parentOf(task)).toBe(plugin);
    const allocId = String(events(one, 't')[0]?.alloc_id);

    await crash(one);
    await waitFor(
      'the plugin and its task gone',
      () => ([plugin, task].some(running) ? undefined : true),
      5000,
    );
    expect(cgroupDirsOf([allocId]), 'no task cgroup').toEqual([]);
  });

  it('the plugin killed under a running agent: the relaunched one is saved at once, and the next agent attaches to it', {
    timeout: 60_000,
  }, async () => {
    const dataDir = freshDataDir();
    const sleep = marker(5);
    const job = execJob('relaunched-exec-plugin.yaml', sleep, ['t']);
    const one = agent(dataDir, job, execPlugin);
    const saved = await savedWhen(
      dataDir,
      'the task running, the plugin saved',
      (state) => state.plugins.exec !== undefined && allRunning(1)(state),
    );
    const first = saved.plugins.exec!.pid;
    const task = outlives(pidOf(saved, 't')!);
    process.kill(first, 'SIGKILL');
    // No task changed state: the plugin's own move is what makes the write.
    const moved = await savedWhen(dataDir, 'the relaunched plugin saved', (state) => {
      const pid = state.plugins.exec?.pid;
      return pid !== undefined && pid !== first;
    });
    const relaunched = outlives(moved.plugins.exec!.pid);
    expect(moved.plugins.exec!.startTime).toBe(processIdentity(relaunched)?.startTime);

    await crash(one);
    const two = agent(dataDir, job, execPlugin);
    await reattachedWithStats(two, 't');
    expect(logged(two, 'attached to a running plugin').map((line) => line.pid)).toEqual([relaunched]);
    expect(processesWith(sleep).map((found) => found.pid)).toEqual([task]);
    await leavesNothing(two, dataDir, sleep, [relaunched, task], saved.allocations[0]!.id);
  });
});
