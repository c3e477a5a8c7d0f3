/**
 * Issue 13 end to end: the real CLI agent on a data dir, SIGKILLed, and a second agent on the same
 * dir that takes up its tasks. Docker tasks against the recorded engine (the fake replays it; it
 * runs in this process, so its containers outlive the agent as a real engine's do), and mock tasks
 * of a plugin that died with the agent (relaunched, its tasks re-attached). A final SIGTERM leaves
 * no container, plugin, state or lock behind.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeDockerEngine, startFakeDockerEngine } from '../support/fake-docker-engine.js';
import { cgroupDirsOf } from '../support/leftovers.js';
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
afterEach(async () => {
  for (const cli of clis.splice(0)) {
    if (cli.child.exitCode !== null || cli.child.signalCode !== null) continue;
    cli.child.kill('SIGTERM');
    const timer = setTimeout(() => cli.child.kill('SIGKILL'), 10_000);
    await cli.exited;
    clearTimeout(timer);
  }
});

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
  plugins: Record<string, { pid: number; address: string }>;
}
const readSaved = (dataDir: string) =>
  JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8')) as SavedState;

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
    expect(ofLose.map((line) => line.event).slice(0, 6)).toEqual([
      'Received',
      'Recovered',
      'Terminated',
      'Restarting',
      'Task Setup',
      'Started',
    ]);
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
    const pidOf = (state: SavedState, name: string) =>
      state.allocations[0]?.tasks.find((task) => task.name === name)?.handle?.pid;
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

  it('a plugin that died with the agent is relaunched and its tasks re-attached; stats within two intervals', {
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
    const before = await waitFor('the plugin and the task saved', () => {
      const state = existsSync(join(dataDir, 'state.json')) ? readSaved(dataDir) : undefined;
      return state?.plugins['plugin:m'] && state.allocations[0]?.tasks[0]?.state === 'running'
        ? state
        : undefined;
    });
    const firstPlugin = before.plugins['plugin:m']!.pid;
    expect(pidAlive(firstPlugin)).toBe(true);

    await crash(one);
    // The plugin goes with its host (its stdin closed): the next agent must launch one again.
    await waitFor('the plugin gone with its agent', () => (pidAlive(firstPlugin) ? undefined : true));

    const two = agent(dataDir, job);
    await waitFor(
      'a sample after the recovery',
      () => (samples(two, 't').length > 0 ? true : undefined),
      20_000,
    );
    const ofTask = events(two, 't');
    expect(ofTask.map((line) => line.event)).toEqual(['Received', 'Recovered']);
    const recoveredAt = Date.parse(String(ofTask[1]!.time));
    const firstSample = Date.parse(String(samples(two, 't')[0]!.time));
    expect(firstSample - recoveredAt, 'stats resume within two intervals').toBeLessThanOrEqual(
      2 * INTERVAL_MS,
    );
    const after = await waitFor('the new plugin saved', () => {
      const pid = readSaved(dataDir).plugins['plugin:m']?.pid;
      return pid && pid !== firstPlugin ? pid : undefined;
    });
    expect(pidAlive(after)).toBe(true);

    await stopCleanly(two, dataDir);
    await waitFor('the new plugin gone', () => (pidAlive(after) ? undefined : true));
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
