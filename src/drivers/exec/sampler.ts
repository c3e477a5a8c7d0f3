/**
 * Turns one task's processes (and its cgroup, when it has one) into `TaskResourceUsage` samples.
 * One sampler per stats stream: it owns the CPU trackers (percent is a delta since this stream's last
 * sample) and the held /proc fds of the processes it has seen.
 *
 * - Process set: `cgroup.procs` when there is a cgroup (plus the root pid, which may not have joined
 *   yet in the first microseconds), else the /proc children tree of the root pid.
 * - Per pid: CPU percent, user and system percents (of one core, as Nomad reports them), total ticks,
 *   RSS and swap from /proc. A pid that vanishes mid-sample is dropped, not an error.
 * - Totals: from the cgroup where it has the figure (CPU usage, throttling, memory usage, max usage,
 *   cache, kernel usage: what /proc cannot see), else the sum of the per-pid figures.
 */
import { type CpuTracker, createCpuTracker } from '../cpu-tracker.js';
import {
  type CpuMeasurement,
  type CpuStats,
  emptyCpuStats,
  emptyMemoryStats,
  MEMORY_FIELDS,
  type MemoryStats,
  type ResourceUsage,
  sumResourceUsage,
  type TaskResourceUsage,
} from '../usage.js';
import type { CgroupUsage, TaskCgroup } from './cgroups.js';
import type { HostCpu } from './host-cpu.js';
import { DEFAULT_CLOCK_TICKS, PidReader, type ProcSample, readPageSize } from './proc-reader.js';

export interface TaskSamplerOptions {
  rootPid: number;
  cgroup?: TaskCgroup;
  host: HostCpu;
  clockTicks?: number;
  procRoot?: string;
  /** Wall clock for sample timestamps (Unix ms). */
  now?: () => number;
  /** Monotonic clock (ms) for CPU deltas. */
  monotonic?: () => number;
  /** Default: from the aux vector. */
  pageSize?: number;
  /**
   * Without a cgroup, how often the process tree is walked again to find new processes (Nomad's
   * executor rescans every 5 s); in between, the processes already known are read. Default 5000 ms.
   */
  treeRescanMs?: number;
  /** False when the host has no swap at all: each process's swap is then a measured 0. */
  hostHasSwap?: boolean;
}

export interface TaskSampler {
  /** One sample, or undefined when no process of the task is alive. */
  sample(): TaskResourceUsage | undefined;
  /** Processes tracked after the last sample. */
  readonly pidCount: number;
  /** Closes every held fd. */
  close(): void;
}

interface CpuTrackers {
  total: CpuTracker;
  user: CpuTracker;
  system: CpuTracker;
}

interface Tracked extends CpuTrackers {
  reader: PidReader;
}

function cpuStatsOf(
  trackers: CpuTrackers,
  totalMs: number,
  userMs: number | undefined,
  systemMs: number | undefined,
  at: number,
  ticksMeasured: boolean,
): CpuStats {
  const cpu = emptyCpuStats();
  cpu.percent = trackers.total.percent(totalMs, at);
  cpu.totalTicks = trackers.total.ticks(cpu.percent);
  const measured: CpuMeasurement[] = [];
  if (systemMs !== undefined) {
    cpu.systemMode = trackers.system.percent(systemMs, at);
    measured.push('System Mode');
  }
  if (userMs !== undefined) {
    cpu.userMode = trackers.user.percent(userMs, at);
    measured.push('User Mode');
  }
  measured.push('Percent');
  if (ticksMeasured) measured.push('Total Ticks');
  cpu.measured = measured;
  return cpu;
}

const CGROUP_MEMORY_KEYS = {
  rss: 'rss',
  cache: 'cache',
  swap: 'swap',
  mappedFile: 'mappedFile',
  usage: 'usage',
  maxUsage: 'maxUsage',
  kernelUsage: 'kernelUsage',
  kernelMaxUsage: 'kernelMaxUsage',
} as const satisfies Record<Exclude<keyof MemoryStats, 'measured'>, keyof CgroupUsage>;

function cgroupMemory(usage: CgroupUsage): MemoryStats | undefined {
  const memory = emptyMemoryStats();
  for (const [field, name] of MEMORY_FIELDS) {
    const value = usage[CGROUP_MEMORY_KEYS[field]];
    if (value === undefined) continue;
    memory[field] = value;
    memory.measured.push(name);
  }
  return memory.measured.length > 0 ? memory : undefined;
}

export function createTaskSampler(options: TaskSamplerOptions): TaskSampler {
  const { rootPid, cgroup, host } = options;
  const msPerTick = 1000 / (options.clockTicks ?? DEFAULT_CLOCK_TICKS);
  const procRoot = options.procRoot ?? '/proc';
  const now = options.now ?? Date.now;
  const monotonic = options.monotonic ?? (() => performance.now());
  const ticksMeasured = host.totalMhz > 0 && host.cores > 0;
  const newTrackers = (): CpuTrackers => ({
    total: createCpuTracker(host),
    user: createCpuTracker(host),
    system: createCpuTracker(host),
  });
  const tracked = new Map<number, Tracked>();
  const cgroupTrackers = newTrackers();
  // Swap per process needs /proc/<pid>/status (twice the cost); a cgroup reports the task's swap.
  const noSwapOnHost = !cgroup && options.hostHasSwap === false;
  const readerOptions = {
    procRoot,
    pageSize: options.pageSize ?? readPageSize(),
    readSwap: !cgroup && !noSwapOnHost,
  };

  const drop = (pid: number) => {
    tracked.get(pid)?.reader.close();
    tracked.delete(pid);
  };

  /** Reads `pid`; a reader whose process is gone is dropped and, if the pid was reused, replaced. */
  const readPid = (pid: number): [Tracked, ProcSample] | undefined => {
    let entry = tracked.get(pid);
    if (entry) {
      const figures = entry.reader.read();
      if (figures) return [entry, figures];
      drop(pid);
    }
    const reader = PidReader.open(pid, readerOptions);
    if (!reader) return undefined;
    entry = { reader, ...newTrackers() };
    tracked.set(pid, entry);
    const figures = reader.read();
    if (figures) return [entry, figures];
    drop(pid);
    return undefined;
  };

  const treeRescanMs = options.treeRescanMs ?? 5000;
  let lastWalkAt = Number.NEGATIVE_INFINITY;

  /** False until the wrapper has moved the root process in: until then the cgroup's figures are empty. */
  let cgroupPopulated = false;

  /** The task's processes and their figures: the cgroup's pids, or the tree walked from the root. */
  const readProcesses = (): Map<number, [Tracked, ProcSample]> => {
    const read = new Map<number, [Tracked, ProcSample]>();
    if (cgroup) {
      const pids = cgroup.pids();
      cgroupPopulated = pids.length > 0;
      if (!pids.includes(rootPid)) pids.push(rootPid);
      for (const pid of pids) {
        const result = readPid(pid);
        if (result) read.set(pid, result);
      }
    } else if (monotonic() - lastWalkAt < treeRescanMs) {
      // Between walks: the processes found last time (the walk is ~85 % of a sample's cost).
      for (const pid of [...tracked.keys()]) {
        const result = readPid(pid);
        if (result) read.set(pid, result);
      }
    } else {
      lastWalkAt = monotonic();
      // Breadth-first from the root through held `children` fds: no directory scan per sample.
      const queue = [rootPid];
      const seen = new Set(queue);
      for (let i = 0; i < queue.length; i++) {
        const pid = queue[i]!;
        const result = readPid(pid);
        if (!result) continue;
        read.set(pid, result);
        for (const child of result[0].reader.children()) {
          if (seen.has(child)) continue;
          seen.add(child);
          queue.push(child);
        }
      }
    }
    for (const pid of tracked.keys()) if (!read.has(pid)) drop(pid);
    return read;
  };

  return {
    get pidCount() {
      return tracked.size;
    },
    sample() {
      const processes = readProcesses();
      const at = monotonic();
      const perPid: Record<string, ResourceUsage> = {};
      for (const [pid, [entry, figures]] of processes) {
        const userMs = figures.utime * msPerTick;
        const systemMs = figures.stime * msPerTick;
        const memory = emptyMemoryStats();
        memory.rss = figures.rssBytes;
        memory.measured.push('RSS');
        if (figures.swapBytes !== undefined || noSwapOnHost) {
          memory.swap = figures.swapBytes ?? 0;
          memory.measured.push('Swap');
        }
        perPid[pid] = {
          memory,
          cpu: cpuStatsOf(entry, userMs + systemMs, userMs, systemMs, at, ticksMeasured),
        };
      }

      if (processes.size === 0) return undefined;
      const cgroupUsage = cgroup && cgroupPopulated ? cgroup.read() : undefined;

      const total = sumResourceUsage(Object.values(perPid));
      if (cgroupUsage) {
        const memory = cgroupMemory(cgroupUsage);
        if (memory) total.memory = memory;
        if (cgroupUsage.cpuUsageNs !== undefined) {
          const ms = (ns: number | undefined) => (ns === undefined ? undefined : ns / 1e6);
          const cpu = cpuStatsOf(
            cgroupTrackers,
            cgroupUsage.cpuUsageNs / 1e6,
            ms(cgroupUsage.cpuUserNs),
            ms(cgroupUsage.cpuSystemNs),
            at,
            ticksMeasured,
          );
          if (cgroupUsage.throttledPeriods !== undefined) {
            cpu.throttledPeriods = cgroupUsage.throttledPeriods;
            cpu.measured.push('Throttled Periods');
          }
          if (cgroupUsage.throttledTimeNs !== undefined) {
            cpu.throttledTime = cgroupUsage.throttledTimeNs;
            cpu.measured.push('Throttled Time');
          }
          total.cpu = cpu;
        }
      }
      return { resourceUsage: total, timestamp: now(), pids: perPid };
    },
    close() {
      for (const pid of [...tracked.keys()]) drop(pid);
    },
  };
}
