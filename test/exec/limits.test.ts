/**
 * `resources` enforced by the exec driver through the task's cgroup (v1 here, as root): the memory
 * limit, CPU shares from MHz and a `cores` quota are in the cgroup files before the task runs; a
 * task that outgrows its memory is OOM killed and its exit says so. Without cgroups, one `info` line
 * says the limits are not enforced.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs } from '../support/log-capture.js';
import { isRoot, node, spec, testDriver } from './helpers.js';

const GROW_96_MIB = "globalThis.b = Buffer.alloc(96 * 2 ** 20, 1); console.log('survived')";

let setup: ReturnType<typeof testDriver> | undefined;
afterEach(async () => {
  await setup?.cleanup();
  setup = undefined;
});

describe.skipIf(!isRoot)('resources with cgroup v1 (needs root)', () => {
  it('writes the memory limit, shares and quota before the task runs', async () => {
    setup = testDriver();
    const task = {
      ...spec({ command: 'sleep', args: ['30'] }),
      resources: { memoryMb: 64, cpuMhz: 500, cores: 0.5 },
    };
    await setup.start(task);
    const dirs = setup.driver.describeTask(task.id)!.cgroupPaths;
    const read = (controller: string, file: string) =>
      readFileSync(
        join(dirs.find((dir) => dir.includes(`/${controller}/`) || dir.includes(`/${controller},`))!, file),
        'latin1',
      ).trim();
    expect(read('memory', 'memory.limit_in_bytes')).toBe(String(64 * 2 ** 20));
    expect(read('cpu', 'cpu.shares')).toBe('500');
    expect(read('cpu', 'cpu.cfs_period_us')).toBe('100000');
    expect(read('cpu', 'cpu.cfs_quota_us')).toBe('50000');
  });

  it('OOM kills a task that outgrows `memory` and reports oomKilled with the cgroup count', async () => {
    const logs = captureLogs();
    setup = testDriver({ logger: logs.logger });
    const task = { ...spec(node(GROW_96_MIB)), resources: { memoryMb: 32 } };
    await setup.start(task);
    const exit = await setup.driver.waitTask(task.id);
    expect(exit).toMatchObject({ exitCode: null, signal: 'SIGKILL', oomKilled: true });
    expect(readFileSync(setup.driver.describeTask(task.id)!.stdoutPath, 'utf8')).not.toContain('survived');
    expect(logs.at('info').some((line) => line.msg === 'exec task was OOM killed')).toBe(true);
  });

  it('a task within its limit exits normally, oomKilled false', async () => {
    setup = testDriver();
    const task = { ...spec(node(GROW_96_MIB)), resources: { memoryMb: 256 } };
    await setup.start(task);
    expect(await setup.driver.waitTask(task.id)).toMatchObject({ exitCode: 0, oomKilled: false });
  });
});

describe('resources without cgroups', () => {
  it('says once, at info, that they are not enforced, and runs the task', async () => {
    const logs = captureLogs();
    setup = testDriver({ cgroups: false, logger: logs.logger });
    for (let i = 0; i < 2; i++) {
      const task = { ...spec({ command: 'true' }), resources: { memoryMb: 32, cpuMhz: 100 } };
      await setup.start(task);
      expect(await setup.driver.waitTask(task.id)).toMatchObject({ exitCode: 0, oomKilled: false });
    }
    const notices = logs.lines.filter((line) =>
      String(line.msg).startsWith('exec task resources not enforced'),
    );
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ level: 30, resources: ['memory', 'cpu'] });
    expect(String(notices[0]!.reason)).toContain('disabled by configuration');
  });
});
