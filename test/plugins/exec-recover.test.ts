/**
 * The out-of-process exec driver (`taskpulse plugin exec`) killed with SIGKILL while its tasks run:
 * the tasks live on (their own sessions, not the plugin's group), the relaunched plugin re-attaches
 * them by their handles (RecoverTask), their stats resume, a signal and a stop reach the whole tree,
 * and stopping the plugin driver kills every task it still owns: nothing is left in /proc or the
 * cgroup tree.
 */
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecDriverState } from '../../src/drivers/contract.js';
import { processIdentity } from '../../src/drivers/exec/recover.js';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';
import { createPluginDriver, type PluginDriver } from '../../src/plugins/plugin-driver.js';
import { captureLogs } from '../docker/engine.js';
import { pidsInGroup, waitFor } from '../exec/helpers.js';
import { removeTestCgroups } from '../support/cli-cgroups.js';
import { builtInPlugin, tempDir } from './targets.js';

const CGROUP_PARENT = `taskpulse-test-exec-recover-${process.pid}`;

const live = (pid: number) => {
  const identity = processIdentity(pid);
  return identity !== undefined && identity.state !== 'Z';
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  removeTestCgroups(CGROUP_PARENT);
});

async function execPlugin() {
  const logs = captureLogs();
  const logDir = tempDir('plugin-logs');
  const execLogs = tempDir('exec-logs');
  const driver = await createPluginDriver({
    ...builtInPlugin('exec', '--exec-log-dir', execLogs.path, '--cgroup-parent', CGROUP_PARENT),
    logDir: logDir.path,
    logger: logs.logger,
  });
  cleanups.push(async () => {
    await driver.stop();
    logDir.remove();
    execLogs.remove();
  });
  return { driver, logs };
}

/** Reads a stats stream in the background, keeping every sample. */
function collect(driver: PluginDriver, taskId: string) {
  const samples: TaskResourceUsage[] = [];
  const abort = new AbortController();
  const reading = (async () => {
    for await (const sample of await driver.taskStats(taskId, 50, abort.signal)) samples.push(sample);
  })().catch((error: unknown) => error);
  return { samples, stop: () => abort.abort(), reading };
}

const tree = (id: string) => ({
  id,
  name: id.split('/')[1]!,
  config: { command: 'sh', args: ['-c', 'sleep 30 & wait'] },
});

describe('exec plugin killed with SIGKILL while its tasks run', () => {
  it('the relaunched plugin re-attaches the tasks by handle: same pids, stats resume, signal and stop reach the tree', async () => {
    const { driver, logs } = await execPlugin();
    const before = driver.reattach!;
    const handles = [await driver.startTask(tree('r/a')), await driver.startTask(tree('r/b'))];
    for (const handle of handles) await waitFor('the task tree', () => pidsInGroup(handle.pid!).length >= 2);
    const cgroupDirs = handles.flatMap((handle) => {
      const cgroup = (handle.driverState as unknown as ExecDriverState).cgroup;
      return cgroup ? (cgroup.version === 'v2' ? [cgroup.dir] : Object.values(cgroup.dirs)) : [];
    });
    const waits = handles.map((handle) => driver.waitTask(handle.taskId));

    process.kill(before.pid, 'SIGKILL');
    await waitFor(
      'the relaunched plugin',
      () => driver.reattach && driver.reattach.pid !== before.pid,
      15_000,
    );
    expect(live(before.pid)).toBe(false);
    // The tasks outlived their plugin and nothing started them again: the same processes.
    for (const handle of handles) {
      expect(live(handle.pid!)).toBe(true);
      expect(processIdentity(handle.pid!)?.startTime).toBe(
        (handle.driverState as unknown as ExecDriverState).startTime,
      );
    }
    expect(
      logs.lines.filter((line) => line.msg === 'task re-attached after the plugin restarted'),
    ).toHaveLength(2);

    // Stats from the new plugin, the whole tree in them.
    const stats = collect(driver, 'r/a');
    await waitFor('samples of the tree', () =>
      stats.samples.some((sample) => Object.keys(sample.pids ?? {}).length >= 2),
    );
    stats.stop();
    await stats.reading;

    // A signal reaches the recovered task; its exit is seen by a plugin that is not its parent.
    await driver.signalTask!('r/a', 'SIGKILL');
    const exitA = await waits[0]!;
    expect(exitA.exitCode).toBeNull();
    expect(exitA.error).toBeUndefined();
    expect(exitA.exitCodeUnknown === true || exitA.signal === 'SIGKILL').toBe(true);
    await waitFor('r/a gone', () => pidsInGroup(handles[0]!.pid!).length === 0, 3000);

    await driver.stopTask('r/b', { timeoutMs: 2000 });
    await waits[1];
    await waitFor('r/b gone', () => pidsInGroup(handles[1]!.pid!).length === 0, 3000);
    await driver.destroyTask('r/a');
    await driver.destroyTask('r/b');
    for (const dir of cgroupDirs) expect(existsSync(dir)).toBe(false);
  }, 40_000);

  it('stopping the plugin driver after a relaunch kills every task it owns: no orphan', async () => {
    const { driver } = await execPlugin();
    const before = driver.reattach!;
    const handle = await driver.startTask(tree('o/a'));
    await waitFor('the task tree', () => pidsInGroup(handle.pid!).length >= 2);
    process.kill(before.pid, 'SIGKILL');
    await waitFor(
      'the relaunched plugin',
      () => driver.reattach && driver.reattach.pid !== before.pid,
      15_000,
    );
    const relaunched = driver.reattach!.pid;
    expect(live(handle.pid!)).toBe(true);

    // The agent stops: Shutdown, and the plugin takes its (re-attached) tasks with it.
    await driver.stop();
    expect(live(relaunched)).toBe(false);
    await waitFor('the task tree gone', () => pidsInGroup(handle.pid!).length === 0, 5000);
  }, 40_000);
});
