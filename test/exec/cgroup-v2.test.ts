/**
 * Cgroup v2 reading on a fixture tree (test/fixtures/cgroup-v2): this machine kind's v2 mount has no
 * memory or pids controller, so the v2 path is proven on files shaped as a unified host has them.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openCgroupV2 } from '../../src/drivers/exec/cgroup-v2.js';
import { createTaskSampler } from '../../src/drivers/exec/sampler.js';

const fixture = (name: string) =>
  fileURLToPath(new URL(`../fixtures/cgroup-v2/taskpulse.slice/${name}`, import.meta.url));

describe('cgroup v2 on a fixture tree', () => {
  it('reads CPU in ns, throttling and every memory figure the unified hierarchy has', async () => {
    const cgroup = openCgroupV2(fixture('web'));
    expect(cgroup.version).toBe('v2');
    expect(cgroup.pids()).toEqual([101, 202]);
    expect(cgroup.read()).toEqual({
      cpuUsageNs: 2_500_000_000,
      cpuUserNs: 2_000_000_000,
      cpuSystemNs: 500_000_000,
      throttledPeriods: 7,
      throttledTimeNs: 350_000_000,
      cache: 16_777_216,
      mappedFile: 8_388_608,
      kernelUsage: 3_145_728,
      usage: 104_857_600,
      maxUsage: 209_715_200,
      swap: 4096,
    });
  });

  it('reports only what exists where the memory controller is off', () => {
    const cgroup = openCgroupV2(fixture('cpu-only'));
    const usage = cgroup.read();
    expect(usage.cpuUsageNs).toBe(1_000_000);
    expect(usage.throttledPeriods).toBeUndefined();
    expect(usage.usage).toBeUndefined();
    expect(cgroup.pids()).toEqual([]);
  });

  it('turns the cgroup figures into task totals with honest measured lists', () => {
    // The fixture's pids do not exist here: the sampler uses this process as the root instead.
    const cgroup = openCgroupV2(fixture('web'));
    let clock = 0;
    const sampler = createTaskSampler({
      rootPid: process.pid,
      cgroup,
      host: { totalMhz: 4000, cores: 2 },
      monotonic: () => clock,
    });
    const first = sampler.sample();
    clock += 1000;
    const second = sampler.sample();
    sampler.close();
    // RSS is the processes' resident pages (here: this process, the root), never the cgroup's anon.
    const ownRss = first?.pids?.[process.pid]?.memory?.rss;
    expect(ownRss).toBeGreaterThan(0);
    expect(first?.resourceUsage.memory).toMatchObject({
      rss: ownRss,
      usage: 104_857_600,
      maxUsage: 209_715_200,
    });
    expect(first?.resourceUsage.memory?.measured).toEqual([
      'RSS',
      'Cache',
      'Swap',
      'Mapped File',
      'Usage',
      'Max Usage',
      'Kernel Usage',
    ]);
    // The first sample has the cgroup's CPU times but no percents (nothing to compare with yet).
    expect(first?.resourceUsage.cpu).toMatchObject({
      totalTime: 2_500_000_000,
      userTime: 2_000_000_000,
      systemTime: 500_000_000,
    });
    expect(first?.resourceUsage.cpu?.measured).toEqual([
      'Total Time',
      'User Time',
      'System Time',
      'Throttled Periods',
      'Throttled Time',
    ]);
    expect(second?.resourceUsage.cpu).toMatchObject({
      percent: 0,
      throttledPeriods: 7,
      throttledTime: 350_000_000,
    });
    expect(second?.resourceUsage.cpu?.measured).toEqual([
      'System Mode',
      'User Mode',
      'Percent',
      'Total Ticks',
      'Total Time',
      'User Time',
      'System Time',
      'Throttled Periods',
      'Throttled Time',
    ]);
    // The real root process is reported per pid with RSS from /proc.
    expect(second?.pids?.[process.pid]?.memory?.rss).toBeGreaterThan(0);
  });
});
