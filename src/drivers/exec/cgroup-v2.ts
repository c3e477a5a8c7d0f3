/**
 * A task's cgroup on a v2 (unified) host: one directory. Read: `cpu.stat` (usage/user/system in µs,
 * throttling), `memory.current`, `memory.peak` (kernels ≥ 5.19), `memory.stat` (anon, file,
 * file_mapped, kernel), `memory.swap.current`. Memory files exist only when the memory controller is
 * enabled for the parent, so every file is optional and only what was read is reported as measured.
 * Limits: `memory.max` (+ `memory.swap.max` 0), `cpu.weight`, `cpu.max`; OOM kills: `memory.events`.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { emptyAndRemove, readProcs } from './cgroup-remove.js';
import { type CgroupLimits, type CgroupUsage, sharesToWeight, type TaskCgroup } from './cgroups.js';
import { flatKeyValue, HeldFile, parseSingleValue, readFlatKey } from './held-file.js';

const WANTED_CONTROLLERS = ['cpu', 'memory', 'pids'];

/** Enables cpu/memory/pids for the children of `dir` where the host offers them (best effort). */
function enableControllers(dir: string): void {
  let available: string[];
  try {
    available = readFileSync(join(dir, 'cgroup.controllers'), 'latin1').trim().split(/\s+/);
  } catch {
    return;
  }
  for (const controller of WANTED_CONTROLLERS) {
    if (!available.includes(controller)) continue;
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), `+${controller}`);
    } catch {
      // Not delegated to us (or a process sits in `dir`): the files it would add stay unmeasured.
    }
  }
}

/** Creates `<mount>/<parent>/<name>` with the controllers enabled on the way, then opens it. */
export function createCgroupV2(mount: string, parent: string, name: string): TaskCgroup {
  enableControllers(mount);
  enableControllers(join(mount, parent));
  const dir = join(mount, parent, name);
  mkdirSync(dir);
  try {
    return openCgroupV2(dir);
  } catch (error) {
    // EMFILE while opening its files: no half-made cgroup stays behind.
    rmdirSync(dir);
    throw error;
  }
}

/** Opens an existing v2 cgroup directory for reading (also how tests read a fixture tree). */
export function openCgroupV2(dir: string): TaskCgroup {
  const at = (file: string, size?: number) => HeldFile.openOptional(join(dir, file), size);
  const files = HeldFile.openAll({
    cpuStat: () => at('cpu.stat'),
    memoryCurrent: () => at('memory.current'),
    memoryPeak: () => at('memory.peak'),
    memoryStat: () => at('memory.stat', 4096),
    swapCurrent: () => at('memory.swap.current'),
  });
  const procsFile = join(dir, 'cgroup.procs');
  return {
    version: 'v2',
    paths: [dir],
    location: { version: 'v2', dir },
    procsFiles: [procsFile],
    pids: () => readProcs(procsFile),
    read() {
      const usage: CgroupUsage = {};
      if (files.cpuStat) {
        const stat = files.cpuStat.read();
        const micros = (key: string) => {
          const value = flatKeyValue(stat, key);
          return value === undefined ? undefined : value * 1000;
        };
        usage.cpuUsageNs = micros('usage_usec');
        usage.cpuUserNs = micros('user_usec');
        usage.cpuSystemNs = micros('system_usec');
        // Throttling lines appear only with the cpu controller enabled.
        usage.throttledPeriods = flatKeyValue(stat, 'nr_throttled');
        usage.throttledTimeNs = micros('throttled_usec');
      }
      if (files.memoryStat) {
        // Only the three lines a sample needs, not a map of all ~40.
        const stat = files.memoryStat.read();
        usage.cache = flatKeyValue(stat, 'file');
        usage.mappedFile = flatKeyValue(stat, 'file_mapped');
        usage.kernelUsage = flatKeyValue(stat, 'kernel');
      }
      if (files.memoryCurrent) usage.usage = parseSingleValue(files.memoryCurrent.read());
      if (files.memoryPeak) usage.maxUsage = parseSingleValue(files.memoryPeak.read());
      if (files.swapCurrent) usage.swap = parseSingleValue(files.swapCurrent.read());
      return usage;
    },
    oomKills: () => readFlatKey(join(dir, 'memory.events'), 'oom_kill'),
    applyLimits(limits: CgroupLimits) {
      const unenforced: string[] = [];
      const write = (file: string, value: number | string, what: string) => {
        if (!existsSync(join(dir, file))) {
          unenforced.push(what);
          return;
        }
        writeFileSync(join(dir, file), String(value));
      };
      if (limits.memoryBytes !== undefined) {
        write('memory.max', limits.memoryBytes, 'memory');
        // No swap on top of the limit (the file exists only with swap accounting).
        if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
      }
      if (limits.cpuShares !== undefined) write('cpu.weight', sharesToWeight(limits.cpuShares), 'cpu');
      if (limits.cpuQuota !== undefined)
        write('cpu.max', `${limits.cpuQuota.quotaUs} ${limits.cpuQuota.periodUs}`, 'cores');
      return unenforced;
    },
    async remove() {
      for (const file of Object.values(files)) file?.close();
      return emptyAndRemove([dir], procsFile);
    },
  };
}
