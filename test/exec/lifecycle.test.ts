/** Starting, waiting, stopping and destroying real processes; user-facing start errors; contract errors. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecoverableError, TaskNotFoundError } from '../../src/drivers/errors.js';
import { cgroupName } from '../../src/drivers/exec/cgroups.js';
import { isRoot, node, openFdCount, pidsInGroup, spec, testDriver, waitFor } from './helpers.js';

describe.each([
  ['/proc tree', { cgroups: false as const }],
  ['cgroups', {}],
])('exec driver lifecycle (%s)', (_mode, options) => {
  let setup: ReturnType<typeof testDriver>;
  beforeEach(() => {
    setup = testDriver(options);
  });
  afterEach(() => setup.cleanup());

  it('runs a command with args, env and cwd; output goes to the task log files', async () => {
    const task = spec(
      { command: 'sh', args: ['-c', 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3'], cwd: '/tmp' },
      { GREETING: 'hi' },
    );
    const handle = await setup.start(task);
    expect(handle.pid).toBeGreaterThan(0);
    expect(await setup.driver.waitTask(task.id)).toMatchObject({
      exitCode: 3,
      signal: null,
      oomKilled: false,
    });
    const files = setup.driver.describeTask(task.id)!;
    expect(readFileSync(files.stdoutPath, 'utf8')).toBe('hi from /tmp\n');
    expect(readFileSync(files.stderrPath, 'utf8')).toBe('oops\n');
  });

  it('rejects a missing binary and a bad cwd with final errors that name them', async () => {
    const missing = setup.driver.startTask(spec({ command: 'no-such-binary-xyz' }));
    await expect(missing).rejects.toBeInstanceOf(RecoverableError);
    await expect(missing).rejects.toMatchObject({
      recoverable: false,
      message: expect.stringContaining('no-such-binary-xyz'),
    });
    const badCwd = setup.driver.startTask(spec({ command: 'true', cwd: '/no/such/dir' }));
    await expect(badCwd).rejects.toMatchObject({
      recoverable: false,
      message: expect.stringContaining('/no/such/dir'),
    });
  });

  it('stopTask signals the whole group, waits the timeout, then kills what ignores it', async () => {
    // The shell and its child both ignore SIGTERM: only the kill after the timeout ends them.
    const task = spec({
      command: 'sh',
      args: ['-c', "trap '' TERM; sh -c \"trap '' TERM; sleep 30\" & wait; wait"],
    });
    const { pid } = await setup.start(task);
    await waitFor('the grandchild', () => pidsInGroup(pid!).length >= 3);
    const started = Date.now();
    await setup.driver.stopTask(task.id, { timeoutMs: 300, signal: 'SIGTERM' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(await setup.driver.waitTask(task.id)).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    await waitFor('the group to be gone', () => pidsInGroup(pid!).length === 0, 2000);
  });

  it('stopTask returns as soon as a cooperative task exits', async () => {
    const task = spec({ command: 'sleep', args: ['30'] });
    await setup.start(task);
    const started = Date.now();
    await setup.driver.stopTask(task.id, { timeoutMs: 5000 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await setup.driver.waitTask(task.id)).toMatchObject({ signal: 'SIGTERM' });
  });

  it('destroyTask leaves no process, cgroup or fd behind', async () => {
    const fdsBefore = openFdCount();
    const task = spec({ command: 'sh', args: ['-c', 'sleep 30 & (sleep 30 & wait) & wait'] });
    const { pid } = await setup.start(task);
    await waitFor('the tree', () => pidsInGroup(pid!).length >= 4);
    const cgroupPaths = setup.driver.describeTask(task.id)!.cgroupPaths;
    if (setup.driver.cgroups.version !== 'none') expect(cgroupPaths.length).toBeGreaterThan(0);
    // An open stream holds fds too: read one sample, keep the stream open across the destroy.
    const stream = (await setup.driver.taskStats(task.id, 100, new AbortController().signal))[
      Symbol.asyncIterator
    ]();
    expect((await stream.next()).done).toBe(false);
    await setup.driver.destroyTask(task.id, { force: true });
    expect((await stream.next()).done).toBe(true);
    expect(pidsInGroup(pid!)).toEqual([]);
    for (const path of cgroupPaths) expect(existsSync(path)).toBe(false);
    await waitFor('fds back to their count', () => openFdCount() <= fdsBefore, 2000);
    expect(setup.driver.describeTask(task.id)).toBeUndefined();
  });

  it('refuses to destroy a running task without force', async () => {
    const task = spec({ command: 'sleep', args: ['30'] });
    await setup.start(task);
    await expect(setup.driver.destroyTask(task.id)).rejects.toThrow(/without force/);
  });

  it('answers stats for an unknown task with TaskNotFoundError and for an exited one with a final error', async () => {
    const signal = new AbortController().signal;
    await expect(setup.driver.taskStats('nope', 100, signal)).rejects.toBeInstanceOf(TaskNotFoundError);
    const task = spec(node('process.exit(0)'));
    await setup.start(task);
    await setup.driver.waitTask(task.id);
    await expect(setup.driver.taskStats(task.id, 100, signal)).rejects.toMatchObject({
      name: 'RecoverableError',
      recoverable: false,
      message: 'task exited',
    });
  });
});

describe.skipIf(!isRoot)('exec driver: a task whose cgroup another run still uses (needs root)', () => {
  let setup: ReturnType<typeof testDriver>;
  const busyDirs: string[] = [];
  let squatter: ReturnType<typeof spawn> | undefined;
  beforeEach(() => {
    setup = testDriver();
  });
  afterEach(async () => {
    squatter?.kill('SIGKILL');
    if (squatter) await new Promise((resolve) => squatter?.once('exit', resolve));
    squatter = undefined;
    for (const dir of busyDirs.splice(0)) {
      await waitFor(`${dir} to empty`, () => readFileSync(join(dir, 'cgroup.procs'), 'latin1') === '');
      rmdirSync(dir);
    }
    await setup.cleanup();
  });

  it('fails only that start, naming the directory and its pids; the other tasks keep their cgroups', async () => {
    const first = spec({ command: 'sleep', args: ['30'] });
    await setup.start(first);
    const parents = setup.driver.describeTask(first.id)!.cgroupPaths.map((path) => dirname(path));
    expect(parents.length).toBeGreaterThan(0);
    // Another run of task `busy` lives in the cgroup of its name: a process of its own is inside.
    const busy = spec({ command: 'sleep', args: ['30'] });
    squatter = spawn('sleep', ['30'], { stdio: 'ignore' });
    const squatterPid = squatter.pid!;
    for (const parent of parents) {
      const dir = join(parent, cgroupName(busy.id));
      mkdirSync(dir);
      busyDirs.push(dir);
      writeFileSync(join(dir, 'cgroup.procs'), String(squatterPid));
    }

    const refused = setup.driver.startTask(busy);
    await expect(refused).rejects.toBeInstanceOf(RecoverableError);
    await expect(refused).rejects.toMatchObject({
      recoverable: true,
      message: expect.stringMatching(
        new RegExp(`${cgroupName(busy.id)} already exists and holds processes \\(pids: ${squatterPid}\\)`),
      ),
    });
    // Its processes were not touched, and the next task still gets a cgroup.
    expect(existsSync(`/proc/${squatterPid}`)).toBe(true);
    expect(setup.driver.cgroups.version).not.toBe('none');
    const next = spec({ command: 'sleep', args: ['30'] });
    await setup.start(next);
    expect(setup.driver.describeTask(next.id)!.cgroupPaths.length).toBeGreaterThan(0);
  });
});
