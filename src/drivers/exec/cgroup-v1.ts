/**
 * A task's cgroup on a v1 host: one directory per hierarchy (cpu, cpuacct, memory, pids). Read:
 * `cpuacct.usage` (ns), `cpuacct.stat` (user/system in USER_HZ ticks), `cpu.stat` (throttling),
 * `memory.stat` (cache, swap, mapped_file), `memory.usage_in_bytes`, `memory.max_usage_in_bytes`,
 * `memory.kmem.*` where the kernel still has them. Files are held open for the task's life.
 * Limits: `memory.limit_in_bytes` (+ `memory.memsw.limit_in_bytes`), `cpu.shares`, `cpu.cfs_*_us`;
 * OOM kills: the `oom_kill` line of `memory.oom_control` (kernel ≥ 4.13).
 */
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { emptyAndRemove, readProcs } from './cgroup-remove.js';
import type { CgroupLimits, CgroupUsage, TaskCgroup, V1Controller } from './cgroups.js';
import { flatKeyValue, HeldFile, parseSingleValue, readFlatKey } from './held-file.js';
import { DEFAULT_CLOCK_TICKS } from './proc-reader.js';

type Dirs = Partial<Record<V1Controller, string>>;

/** Creates `<mount>/<parent>/<name>` in every hierarchy the layout has, then opens it. */
export function createCgroupV1(mounts: Dirs, parent: string, name: string): TaskCgroup {
  const dirs: Dirs = {};
  const made: string[] = [];
  try {
    for (const [controller, mount] of Object.entries(mounts) as [V1Controller, string][]) {
      const dir = join(mount, parent, name);
      if (!made.includes(dir)) {
        mkdirSync(dir);
        made.push(dir);
      }
      dirs[controller] = dir;
    }
    // Opening the files can fail too (EMFILE): no half-made cgroup stays behind either way.
    return openCgroupV1(dirs);
  } catch (error) {
    // Nothing runs in the directories yet: they come out at once.
    for (const dir of made.reverse()) rmdirQuietly(dir);
    throw error;
  }
}

function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Already gone.
  }
}

/** Opens existing v1 cgroup directories for reading (also how tests read a fixture). */
export function openCgroupV1(dirs: Dirs, clockTicks = DEFAULT_CLOCK_TICKS): TaskCgroup {
  const at = (controller: V1Controller, file: string, size?: number) => {
    const dir = dirs[controller];
    return dir === undefined ? undefined : HeldFile.openOptional(join(dir, file), size);
  };
  const files = HeldFile.openAll({
    usage: () => at('cpuacct', 'cpuacct.usage'),
    cpuacctStat: () => at('cpuacct', 'cpuacct.stat'),
    cpuStat: () => at('cpu', 'cpu.stat'),
    memoryStat: () => at('memory', 'memory.stat', 4096),
    memoryUsage: () => at('memory', 'memory.usage_in_bytes'),
    memoryMax: () => at('memory', 'memory.max_usage_in_bytes'),
    kmemUsage: () => at('memory', 'memory.kmem.usage_in_bytes'),
    kmemMax: () => at('memory', 'memory.kmem.max_usage_in_bytes'),
  });
  const paths = [...new Set(Object.values(dirs))];
  const procsFiles = paths.map((dir) => join(dir, 'cgroup.procs'));
  const membershipFile = join(dirs.memory ?? dirs.cpuacct ?? paths[0] ?? '', 'cgroup.procs');
  const nsPerTick = 1e9 / clockTicks;

  return {
    version: 'v1',
    paths,
    location: { version: 'v1', dirs: { ...dirs } },
    procsFiles,
    pids: () => readProcs(membershipFile),
    read() {
      const usage: CgroupUsage = {};
      if (files.usage) usage.cpuUsageNs = parseSingleValue(files.usage.read());
      if (files.cpuacctStat) {
        const stat = files.cpuacctStat.read();
        const user = flatKeyValue(stat, 'user');
        const system = flatKeyValue(stat, 'system');
        if (user !== undefined) usage.cpuUserNs = user * nsPerTick;
        if (system !== undefined) usage.cpuSystemNs = system * nsPerTick;
      }
      if (files.cpuStat) {
        const stat = files.cpuStat.read();
        usage.throttledPeriods = flatKeyValue(stat, 'nr_throttled');
        usage.throttledTimeNs = flatKeyValue(stat, 'throttled_time');
      }
      if (files.memoryStat) {
        // Only the three lines a sample needs, not a map of all ~40.
        const stat = files.memoryStat.read();
        usage.cache = flatKeyValue(stat, 'cache');
        usage.swap = flatKeyValue(stat, 'swap');
        usage.mappedFile = flatKeyValue(stat, 'mapped_file');
      }
      if (files.memoryUsage) usage.usage = parseSingleValue(files.memoryUsage.read());
      if (files.memoryMax) usage.maxUsage = parseSingleValue(files.memoryMax.read());
      if (files.kmemUsage) usage.kernelUsage = parseSingleValue(files.kmemUsage.read());
      if (files.kmemMax) usage.kernelMaxUsage = parseSingleValue(files.kmemMax.read());
      return usage;
    },
    oomKills: () =>
      dirs.memory === undefined
        ? undefined
        : readFlatKey(join(dirs.memory, 'memory.oom_control'), 'oom_kill'),
    applyLimits(limits: CgroupLimits) {
      const unenforced: string[] = [];
      const write = (controller: V1Controller, file: string, value: number | string, what: string) => {
        const dir = dirs[controller];
        if (dir === undefined || !existsSync(join(dir, file))) {
          unenforced.push(what);
          return false;
        }
        writeFileSync(join(dir, file), String(value));
        return true;
      };
      if (limits.memoryBytes !== undefined) {
        write('memory', 'memory.limit_in_bytes', limits.memoryBytes, 'memory');
        // Memory + swap at the same figure: swap cannot extend the limit (absent without swap accounting).
        const memsw = dirs.memory && join(dirs.memory, 'memory.memsw.limit_in_bytes');
        if (memsw && existsSync(memsw)) writeFileSync(memsw, String(limits.memoryBytes));
      }
      if (limits.cpuShares !== undefined) write('cpu', 'cpu.shares', limits.cpuShares, 'cpu');
      if (limits.cpuQuota !== undefined) {
        if (write('cpu', 'cpu.cfs_period_us', limits.cpuQuota.periodUs, 'cores'))
          write('cpu', 'cpu.cfs_quota_us', limits.cpuQuota.quotaUs, 'cores');
      }
      return unenforced;
    },
    async remove() {
      for (const file of Object.values(files)) file?.close();
      return emptyAndRemove(paths, membershipFile);
    },
  };
}
