/**
 * cgroup v2 for real, as far as this machine kind allows. Its v2 hierarchy (/sys/fs/cgroup/unified)
 * is the system's one unified hierarchy, but the cpu and memory controllers are bound to v1
 * hierarchies, and a controller lives in one hierarchy at a time: `cgroup.controllers` offers only
 * hugetlb, also from a fresh cgroup2 mount in a new mount namespace (docs/drivers/exec.md, "cgroup
 * v2 on this machine kind", has the commands and answers). What v2 has without controllers is real
 * here and tested: the task's own cgroup, joining it before exec, `cpu.stat` usage/user/system
 * (exact CPU times and percents), removal, and honest absence of everything the memory controller
 * would give, including the limits (said at info). The memory and cpu-controller files are proven
 * on the fixture tree (cgroup-v2.test.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogs } from '../support/log-capture.js';
import { isRoot, node, spec, testDriver, waitFor } from './helpers.js';

const UNIFIED = '/sys/fs/cgroup/unified';
const usable = isRoot && existsSync(join(UNIFIED, 'cgroup.procs'));

let setup: ReturnType<typeof testDriver> | undefined;
afterEach(async () => {
  await setup?.cleanup();
  setup = undefined;
});

describe.skipIf(!usable)('cgroup v2 on the real unified hierarchy (needs root)', () => {
  it('counts CPU from cpu.stat exactly, removes its cgroup, leaves out what the hierarchy lacks', async () => {
    const logs = captureLogs();
    const parent = `taskpulse-test-v2-${process.pid}`;
    setup = testDriver({
      cgroupSupport: { version: 'v2', mount: UNIFIED },
      cgroupParent: parent,
      logger: logs.logger,
    });
    expect(setup.driver.cgroups.version).toBe('v2');
    const spin =
      'const s = process.cpuUsage(); for (;;) { for (let i = 0; i < 1e5; i++); const u = process.cpuUsage(s); if (u.user + u.system >= 500000) break; } const r = process.resourceUsage(); console.log(r.userCPUTime + r.systemCPUTime)';
    const task = { ...spec(node(spin)), resources: { memoryMb: 64 } };
    const { pid } = await setup.start(task);
    const [dir] = setup.driver.describeTask(task.id)!.cgroupPaths;
    expect(dir).toBe(join(UNIFIED, parent, task.id.replace(/[^A-Za-z0-9_.-]/g, '_')));
    // The wrapper joins before it execs node.
    await waitFor('the task to join its v2 cgroup', () =>
      readFileSync(`/proc/${pid}/cgroup`, 'latin1').includes(`0::/${parent}/`),
    );

    const abort = new AbortController();
    const samples = [];
    const exited = setup.driver.waitTask(task.id);
    for await (const sample of await setup.driver.taskStats(task.id, 200, abort.signal)) samples.push(sample);
    const exit = await exited;
    const kernel = Number(readFileSync(setup.driver.describeTask(task.id)!.stdoutPath, 'utf8')) / 1e6;
    const ours = exit.usage!.resourceUsage.cpu!.totalTime! / 1e9;
    console.info(
      `[accuracy] cgroup v2 (unified, cpu.stat) busy loop: taskpulse ${ours.toFixed(3)} s, kernel rusage ${kernel.toFixed(3)} s`,
    );
    expect(Math.abs(ours - kernel) / kernel).toBeLessThan(0.05);

    const first = samples[0]!.resourceUsage;
    expect(first.cpu!.measured).toEqual(['Total Time', 'User Time', 'System Time']);
    // No memory controller: RSS from /proc, nothing from the cgroup, and the limit said at info.
    expect(first.memory!.measured).toEqual(['RSS']);
    const notice = logs.lines.find((line) => String(line.msg).startsWith('exec task resources not enforced'));
    expect(notice).toMatchObject({ level: 30, resources: ['memory'] });

    await setup.driver.destroyTask(task.id);
    expect(existsSync(dir!)).toBe(false);
    expect(existsSync(join(UNIFIED, parent))).toBe(false);
  });
});
