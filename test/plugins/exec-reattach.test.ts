/**
 * Issue #13's driver half with real processes: an exec plugin launched to outlive its host keeps
 * its tasks when the host is killed with SIGKILL; a new host attaches to that same plugin by the
 * saved reattach config (no new plugin, no new task process), recovers the saved handles, gets the
 * exit code of a task that exited while no host watched, streams the running one, and its stop
 * leaves nothing. A saved plugin that is gone (or whose pid is another process) is replaced by a
 * new launch that re-attaches the tasks by their handles.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskHandle, TaskSpec } from '../../src/drivers/contract.js';
import { processIdentity } from '../../src/drivers/exec/recover.js';
import {
  checkReattachConfig,
  createPluginDriver,
  type PluginDriver,
  type PluginReattachConfig,
} from '../../src/plugins/plugin-driver.js';
import { captureLogs } from '../docker/engine.js';
import { pidsInGroup, waitFor } from '../exec/helpers.js';
import { removeTestCgroups } from '../support/cli-cgroups.js';
import { builtInPlugin, tempDir } from './targets.js';

const CGROUP_PARENT = `taskpulse-test-exec-reattach-${process.pid}`;

const live = (pid: number) => {
  const identity = processIdentity(pid);
  return identity !== undefined && identity.state !== 'Z';
};

interface Saved {
  reattach: PluginReattachConfig;
  tasks: { spec: TaskSpec; handle: TaskHandle }[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  removeTestCgroups(CGROUP_PARENT);
});

const specs: TaskSpec[] = [
  { id: 'ra/long', name: 'long', config: { command: 'sh', args: ['-c', 'sleep 30 & wait'] } },
  { id: 'ra/quick', name: 'quick', config: { command: 'sh', args: ['-c', 'sleep 0.3; exit 5'] } },
];

/** A host process that launches the plugin, starts the tasks, prints what it would save. */
async function hostThatDies() {
  const logDir = tempDir('plugin-logs');
  const execLogs = tempDir('exec-logs');
  const host: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'fixtures/exec-host.ts'),
      logDir.path,
      execLogs.path,
      CGROUP_PARENT,
      JSON.stringify(specs),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: host.stdout! }).once('line', resolve),
  );
  const saved = JSON.parse(line) as Saved;
  cleanups.push(() => {
    // Whatever a failed test left: the plugin and every task, by pid and start time.
    for (const pid of [saved.reattach.pid, ...saved.tasks.map((task) => task.handle.pid!)]) {
      if (live(pid)) process.kill(-pid, 'SIGKILL');
    }
    logDir.remove();
    execLogs.remove();
  });
  const exited = new Promise((resolve) => host.once('exit', resolve));
  host.kill('SIGKILL');
  await exited;
  return { saved, logDir: logDir.path, execLogDir: execLogs.path };
}

async function attach(saved: Saved, logDir: string, execLogDir: string) {
  const logs = captureLogs();
  const driver: PluginDriver = await createPluginDriver({
    ...builtInPlugin('exec', '--exec-log-dir', execLogDir, '--cgroup-parent', CGROUP_PARENT),
    logDir,
    logger: logs.logger,
    outliveHost: true,
    reattach: saved.reattach,
  });
  cleanups.push(() => driver.stop());
  return { driver, logs };
}

describe('exec plugin outliving its host (reattach)', () => {
  it('the saved config and handles are plain JSON, and a damaged config is a clear error', async () => {
    expect(() =>
      checkReattachConfig({ protocol: 'grpc', protocolVersion: 1, address: '/tmp/x.sock', pid: 10 }),
    ).toThrow('plugin reattach config: address is "/tmp/x.sock", expected "unix:/<socket path>"');
    expect(() =>
      checkReattachConfig({ protocol: 'grpc', protocolVersion: 9, address: 'unix:/x', pid: 10 }),
    ).toThrow(/protocolVersion is 9/);
    expect(() =>
      checkReattachConfig({ protocol: 'grpc', protocolVersion: 1, address: 'unix:/x', pid: 0 }),
    ).toThrow(/pid is 0/);
    await expect(
      createPluginDriver({
        ...builtInPlugin('exec'),
        reattach: { protocol: 'grpc', protocolVersion: 1, address: 'unix:/x', pid: -3 },
      }),
    ).rejects.toThrow(/pid is -3/);
  });

  it('host killed -9: the plugin and tasks live on; a new host attaches to the same plugin, gets the exit code kept meanwhile, streams, and stops everything', async () => {
    const { saved, logDir, execLogDir } = await hostThatDies();
    const [long, quick] = saved.tasks as [Saved['tasks'][0], Saved['tasks'][0]];
    expect(saved.reattach.startTime).toBe(processIdentity(saved.reattach.pid)?.startTime);
    // The host is gone; its plugin and its tasks are not.
    expect(live(saved.reattach.pid)).toBe(true);
    expect(live(long.handle.pid!)).toBe(true);
    // The quick task exits while no host watches.
    await waitFor('the quick task to exit', () => !live(quick.handle.pid!), 5000);

    const { driver, logs } = await attach(saved, logDir, execLogDir);
    expect(driver.reattach).toEqual(saved.reattach); // the same plugin: nothing was launched
    expect(driver.actor.getSnapshot().context).toMatchObject({ attached: true, launches: 0 });
    expect(logs.lines.some((line) => line.msg === 'attached to a running plugin')).toBe(true);
    for (const task of saved.tasks) await driver.recoverTask(task.spec, task.handle);

    // The plugin was the quick task's parent and kept its exit status for the next host.
    expect(await driver.waitTask('ra/quick')).toMatchObject({ exitCode: 5, signal: null });
    await driver.destroyTask('ra/quick');

    // The long task is the same process (no second copy), streaming from the same plugin.
    const abort = new AbortController();
    let sampled = 0;
    for await (const sample of await driver.taskStats('ra/long', 50, abort.signal)) {
      if (Object.keys(sample.pids ?? {}).length >= 2 && ++sampled >= 2) break;
    }
    abort.abort();
    const wait = driver.waitTask('ra/long');
    await driver.stopTask('ra/long', { timeoutMs: 2000 });
    // Its parent (the plugin) reaps it: the real status.
    expect(await wait).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    await driver.destroyTask('ra/long');
    await waitFor('the tree gone', () => pidsInGroup(long.handle.pid!).length === 0, 3000);
    await driver.stop();
    expect(live(saved.reattach.pid)).toBe(false);
    expect(existsSync(saved.reattach.address.slice('unix:'.length))).toBe(false);
  }, 40_000);

  it('a host killed after StartTask, before it saved the handle: the next one finds the task by id in the plugin and gets its handle again, never a second copy', async () => {
    const { saved, logDir, execLogDir } = await hostThatDies();
    const [long, quick] = saved.tasks as [Saved['tasks'][0], Saved['tasks'][0]];
    const { driver } = await attach(saved, logDir, execLogDir);
    // What an agent does with a task saved `starting` without a handle: InspectTask by id.
    const status = await driver.inspectTask(long.spec.id);
    expect(status).toEqual({ handle: long.handle, state: 'running' });
    // And with one saved before its start (`pending`): StartTask again, answered with the handle.
    expect(await driver.startTask(long.spec)).toEqual(long.handle);
    expect(driver.tasks.get(long.spec.id)?.handle, 'the host supervises the same process').toEqual(
      long.handle,
    );
    // A task whose run ended while no host watched: inspected with its exit, and started anew.
    await waitFor('the quick task to exit', () => !live(quick.handle.pid!), 5000);
    expect(await driver.inspectTask(quick.spec.id)).toMatchObject({ state: 'exited', exit: { exitCode: 5 } });
    const again = await driver.startTask(quick.spec);
    expect(again.pid).not.toBe(quick.handle.pid);
    expect(await driver.waitTask(quick.spec.id)).toMatchObject({ exitCode: 5 });
    await expect(driver.inspectTask('ra/none')).rejects.toThrow(/not found/);
    await driver.stop();
    await waitFor('the tree gone', () => pidsInGroup(long.handle.pid!).length === 0, 3000);
    expect(live(saved.reattach.pid)).toBe(false);
  }, 40_000);

  it('the saved plugin is gone too: a new plugin is launched and re-attaches the tasks by their handles', async () => {
    const { saved, logDir, execLogDir } = await hostThatDies();
    const long = saved.tasks[0]!;
    process.kill(saved.reattach.pid, 'SIGKILL');
    await waitFor('the plugin gone', () => !live(saved.reattach.pid), 5000);
    expect(live(long.handle.pid!)).toBe(true);

    const { driver, logs } = await attach(saved, logDir, execLogDir);
    expect(driver.reattach!.pid).not.toBe(saved.reattach.pid);
    expect(driver.actor.getSnapshot().context).toMatchObject({ attached: false, launches: 1 });
    expect(driver.actor.getSnapshot().context.lastError).toMatch(/is gone/);
    expect(logs.warnOrWorse()).toEqual([]);
    await driver.recoverTask(long.spec, long.handle);
    // A task that exited after its plugin died: a zombie until init reaps it. Caught as one, its
    // status is read from /proc; once reaped it is gone for good, a clear not-found.
    const quick = saved.tasks[1]!;
    await waitFor('the quick task to exit', () => !live(quick.handle.pid!), 5000);
    const recovered = await driver.recoverTask(quick.spec, quick.handle).then(
      () => undefined,
      (error: Error) => error,
    );
    if (recovered === undefined) {
      const exit = await driver.waitTask('ra/quick');
      if (!exit.exitCodeUnknown) expect(exit).toMatchObject({ exitCode: 5, signal: null });
    } else {
      expect(recovered.message).toMatch(/not found: ra\/quick: its process \d+ is gone/);
    }

    const wait = driver.waitTask('ra/long');
    await driver.stopTask('ra/long', { timeoutMs: 2000 });
    const exit = await wait;
    expect(exit.exitCode).toBeNull();
    expect(exit.exitCodeUnknown === true || exit.signal === 'SIGTERM').toBe(true);
    await waitFor('the tree gone', () => pidsInGroup(long.handle.pid!).length === 0, 3000);
  }, 40_000);

  it('a saved pid that is another process now (start time differs) is neither attached to nor killed', async () => {
    const { saved, logDir, execLogDir } = await hostThatDies();
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.push(() => void stranger.kill('SIGKILL'));
    const reused: PluginReattachConfig = { ...saved.reattach, pid: stranger.pid! };
    const { driver } = await attach({ ...saved, reattach: reused }, logDir, execLogDir);
    expect(driver.reattach!.pid).not.toBe(stranger.pid);
    expect(driver.actor.getSnapshot().context.lastError).toMatch(/another process now/);
    expect(live(stranger.pid!)).toBe(true);
    // The plugin the dead host launched is still the one its tasks' exits are kept in: stop it.
    const old = await createPluginDriver({
      ...builtInPlugin('exec'),
      logDir,
      reattach: saved.reattach,
    });
    for (const task of saved.tasks) await old.recoverTask(task.spec, task.handle);
    for (const task of saved.tasks) await old.destroyTask(task.spec.id, { force: true });
    await old.stop();
    expect(live(saved.reattach.pid)).toBe(false);
  }, 40_000);
});
