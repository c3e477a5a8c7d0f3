/**
 * Re-attaching exec tasks (`recoverTask`) with real processes: a second driver instance adopts a
 * task another one started, by its handle alone, samples its whole tree, stops it and frees its
 * cgroup; a dead pid, a reused pid and a damaged handle are clear failures that adopt nothing.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecDriverState, TaskHandle } from '../../src/drivers/contract.js';
import { RecoverableError, TaskNotFoundError } from '../../src/drivers/errors.js';
import { createExecDriver, type ExecDriver } from '../../src/drivers/exec/index.js';
import { decodeWaitStatus, processIdentity } from '../../src/drivers/exec/recover.js';
import { removeTestCgroups } from '../support/cli-cgroups.js';
import { isRoot, pidsInGroup, readStats, spec, testDriver, waitFor } from './helpers.js';

/** Other worktrees run exec suites at the same time: a cgroup parent of this run's own. */
const CGROUP_PARENT = `taskpulse-test-recover-${process.pid}`;

/** A shell with a sleeping child: a tree of two, so "the whole tree" means something. */
const tree = () => spec({ command: 'sh', args: ['-c', 'sleep 30 & wait'] });

const alive = (pid: number) => {
  const identity = processIdentity(pid);
  return identity !== undefined && identity.state !== 'Z';
};

describe.each([
  ['/proc tree', { cgroups: false as const }],
  ['cgroups', { cgroupParent: CGROUP_PARENT }],
])('exec recoverTask (%s)', (mode, options) => {
  let first: ReturnType<typeof testDriver>;
  let second: ExecDriver;
  beforeEach(() => {
    first = testDriver(options);
    second = createExecDriver({
      logDir: first.logDir,
      treeRescanMs: 300,
      recoveredExitPollMs: 20,
      ...options,
    });
  });
  afterEach(async () => {
    await second.destroyAll();
    await first.cleanup();
    removeTestCgroups(CGROUP_PARENT);
  });

  it('the handle carries pid, start time, log paths and (with cgroups) the cgroup directories', async () => {
    const task = tree();
    const handle = await first.start(task);
    const state = handle.driverState as unknown as ExecDriverState;
    expect(state.startTime).toBe(processIdentity(handle.pid!)?.startTime);
    const described = first.driver.describeTask(task.id)!;
    expect(state.stdoutPath).toBe(described.stdoutPath);
    expect(state.stderrPath).toBe(described.stderrPath);
    if (mode === 'cgroups' && isRoot) {
      expect(state.cgroup).toBeDefined();
      const dirs = state.cgroup!.version === 'v2' ? [state.cgroup!.dir] : Object.values(state.cgroup!.dirs);
      expect([...new Set(dirs)].sort()).toEqual([...described.cgroupPaths].sort());
    } else {
      expect(state.cgroup).toBeUndefined();
    }
    // Plain JSON: what the agent's state file keeps is what recover gets back.
    expect(JSON.parse(JSON.stringify(handle))).toEqual(handle);
  });

  it('a second driver adopts the task by its handle, samples its tree, stops all of it and frees its cgroup', async () => {
    const task = tree();
    const handle: TaskHandle = JSON.parse(JSON.stringify(await first.start(task)));
    const pid = handle.pid!;
    await waitFor('the sleeping child', () => pidsInGroup(pid).length >= 2);
    const cgroupPaths = first.driver.describeTask(task.id)!.cgroupPaths;

    await second.recoverTask!(task, handle);
    expect(second.describeTask(task.id)).toMatchObject({ pid, cgroupPaths });
    const { samples } = await readStats(second, task.id, 50, (got) =>
      got.some((sample) => Object.keys(sample.pids ?? {}).length >= 2),
    );
    expect(samples.at(-1)!.resourceUsage.memory?.rss).toBeGreaterThan(0);

    const wait = second.waitTask(task.id);
    await second.stopTask(task.id, { timeoutMs: 2000 });
    const exit = await wait;
    // Not its parent: the status is read from the zombie when the poll catches it, else unknown.
    if (exit.exitCodeUnknown) expect(exit).toMatchObject({ exitCode: null, signal: null });
    else expect(exit).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    await waitFor('the whole tree gone', () => pidsInGroup(pid).length === 0, 3000);
    await second.destroyTask(task.id);
    for (const path of cgroupPaths) expect(existsSync(path)).toBe(false);
  });

  it('a stop that is ignored ends in SIGKILL of the whole recovered tree', async () => {
    const task = spec({
      command: 'sh',
      args: ['-c', "trap '' TERM; sh -c \"trap '' TERM; sleep 30\" & wait; wait"],
    });
    const handle = await first.start(task);
    await waitFor('the grandchild', () => pidsInGroup(handle.pid!).length >= 3);
    await second.recoverTask!(task, handle);
    await second.stopTask(task.id, { timeoutMs: 200 });
    await waitFor('the whole tree gone', () => pidsInGroup(handle.pid!).length === 0, 3000);
  });

  it('a dead pid is a clear not-found, and nothing is adopted', async () => {
    const task = spec({ command: 'true' });
    const handle = await first.start(task);
    await first.driver.waitTask(task.id);
    await waitFor('the pid reaped', () => processIdentity(handle.pid!) === undefined);
    const recovering = second.recoverTask!(task, handle);
    await expect(recovering).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(recovering).rejects.toThrow(`its process ${handle.pid} is gone`);
    expect(second.describeTask(task.id)).toBeUndefined();
  });

  it('a reused pid (another start time) is refused: the stranger is neither adopted nor signalled', async () => {
    const task = tree();
    const handle = await first.start(task);
    const state = handle.driverState as unknown as ExecDriverState;
    // The task's process must already be in its cgroup, as a task that ran for a while is: it joins
    // it as it starts, and an empty cgroup is what a lost task leaves behind (and is removed).
    const cgroupDirs = state.cgroup
      ? state.cgroup.version === 'v2'
        ? [state.cgroup.dir]
        : Object.values(state.cgroup.dirs)
      : [];
    await waitFor('the task in its cgroup', () =>
      cgroupDirs.every((dir) =>
        readFileSync(join(dir, 'cgroup.procs'), 'latin1').split('\n').includes(String(handle.pid)),
      ),
    );
    const reused = { ...handle, driverState: { ...state, startTime: state.startTime - 1 } };
    const recovering = second.recoverTask!(task, reused);
    await expect(recovering).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(recovering).rejects.toThrow(/pid was reused, so it is not adopted/);
    expect(second.describeTask(task.id)).toBeUndefined();
    expect(alive(handle.pid!)).toBe(true);
  });

  it('a damaged handle is a final error naming the field and its value', async () => {
    const task = tree();
    const handle = await first.start(task);
    const state = handle.driverState as unknown as ExecDriverState;
    const cases: [Partial<TaskHandle>, RegExp][] = [
      [{ driverState: undefined }, /handle driverState is undefined/],
      [{ driverState: { ...state, startTime: 'soon' } }, /driverState.startTime is "soon"/],
      [{ driverState: { ...state, stdoutPath: '' } }, /driverState.stdoutPath is ""/],
      [{ driverState: { ...state, cgroup: { version: 'v3' } } }, /driverState.cgroup.version is "v3"/],
      [{ pid: 1 }, /handle pid is 1/],
      [{ taskId: 'other' }, /handle taskId is "other"/],
    ];
    for (const [change, message] of cases) {
      const recovering = second.recoverTask!(task, { ...handle, ...change });
      await expect(recovering).rejects.toBeInstanceOf(RecoverableError);
      await expect(recovering).rejects.toMatchObject({
        recoverable: false,
        message: expect.stringMatching(message),
      });
    }
    expect(second.describeTask(task.id)).toBeUndefined();
  });

  it('the driver that started the task recovers it as it is, keeping its exit status', async () => {
    const task = spec({ command: 'sh', args: ['-c', 'exit 7'] });
    const handle = await first.start(task);
    await first.driver.recoverTask!(task, handle);
    expect(await first.driver.waitTask(task.id)).toMatchObject({ exitCode: 7, signal: null });
    await expect(first.driver.recoverTask!(task, { ...handle, pid: handle.pid! + 1 })).rejects.toThrow(
      /this driver runs it as pid/,
    );
  });
});

describe('exit status of a process that is not our child', () => {
  it('a zombie shows its wait status in /proc (field 52): exit code and signal decoded', async () => {
    // The inner shell exits 7 and its parent (exec'd into sleep) never waits: a zombie stays.
    const parent = spawn('sh', ['-c', 'sh -c "exit 7" & exec sleep 30'], { stdio: 'ignore' });
    try {
      const zombie = await waitFor('the zombie', () => {
        const children = readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'latin1')
          .trim()
          .split(' ')
          .filter(Boolean)
          .map(Number);
        return children.find((pid) => processIdentity(pid)?.state === 'Z');
      });
      expect(processIdentity(zombie)?.waitStatus).toBe(7 << 8);
      expect(decodeWaitStatus(7 << 8)).toEqual({ exitCode: 7, signal: null });
      expect(decodeWaitStatus(9)).toEqual({ exitCode: null, signal: 'SIGKILL' });
      expect(decodeWaitStatus(15 | 0x80)).toEqual({ exitCode: null, signal: 'SIGTERM' });
    } finally {
      parent.kill('SIGKILL');
      await new Promise((resolve) => parent.once('exit', resolve));
    }
  });

  it('a recovered task that exits is reported once, and its stats stream ends', async () => {
    const setup = testDriver({ cgroups: false });
    const second = createExecDriver({ logDir: setup.logDir, cgroups: false, recoveredExitPollMs: 20 });
    try {
      const task = spec({ command: 'sleep', args: ['30'] });
      const handle = await setup.start(task);
      await second.recoverTask!(task, handle);
      const stream = await second.taskStats(task.id, 50, new AbortController().signal);
      const wait = second.waitTask(task.id);
      process.kill(handle.pid!, 'SIGKILL');
      const exit = await wait;
      expect(exit.exitCode).toBeNull();
      expect(exit.exitCodeUnknown === true || exit.signal === 'SIGKILL').toBe(true);
      for await (const _ of stream) {
        // drains until the end the exit caused
      }
      await expect(second.taskStats(task.id, 50, new AbortController().signal)).rejects.toThrow(
        'task exited',
      );
    } finally {
      await second.destroyAll();
      await setup.cleanup();
      rmSync(setup.logDir, { recursive: true, force: true });
    }
  });
});
