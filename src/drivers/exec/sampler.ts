/**
 * Turns one task's processes (and its cgroup, when it has one) into `TaskResourceUsage` samples.
 * One sampler per stats stream: it owns the CPU trackers (percent is a delta since this stream's last
 * sample) and the held /proc fds of the processes it has seen. One definition per field, whatever
 * the source (docs/metrics.md has the table):
 *
 * - Process set: `cgroup.procs` when there is a cgroup (plus the root pid, which may not have joined
 *   yet in the first microseconds), else the /proc children tree of the root pid.
 * - RSS, task and per pid, is always the processes' resident pages from /proc (`stat` rss, what `ps`
 *   and `top` call RSS); the task's is their sum. A cgroup's figures go in the fields named for them
 *   (Usage, Max Usage, Cache, Mapped File, Swap, Kernel Usage), never in RSS.
 * - CPU: cumulative times (Total/User/System Time, ns) in every sample; percents only from the
 *   second sample of a stream on (the first has nothing to compare with, so they are left out of
 *   `measured` rather than sent as 0). The task's times come from the cgroup when there is one (it
 *   counts every process that ever ran in it), else from the tree: each live process's own time plus
 *   the time of the children it has waited for, plus the last-seen time of processes that left the
 *   tree without a waiting parent in it. Task percents are the delta of the task's times, never a
 *   sum of per-pid percents (those lose the last interval of every process that exits).
 */
import { type CpuTracker, createCpuTracker } from '../cpu-tracker.js';
import {
  type CpuMeasurement,
  type CpuStats,
  MEMORY_FIELDS,
  type MemoryMeasurement,
  type MemoryStats,
  memoryStatsOf,
  type ResourceUsage,
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
   * How often the task's processes are listed again to find new ones (the cgroup's `cgroup.procs`,
   * else the /proc tree from the root pid; Nomad's executor rescans every 5 s); in between, the
   * processes already known are read. Default 5000 ms.
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

/** Cumulative CPU times in ms; user/system are undefined where the source does not split them. */
export interface CpuTimes {
  totalMs: number;
  userMs: number | undefined;
  systemMs: number | undefined;
}

interface CpuTrackers {
  total: CpuTracker;
  user: CpuTracker;
  system: CpuTracker;
  /** False until the first reading: percents need two. */
  primed: boolean;
}

interface Tracked extends CpuTrackers {
  reader: PidReader;
  /** The last figures read, for the time of a process that leaves the tree. */
  last: ProcSample | undefined;
}

const NS_PER_MS = 1e6;

/**
 * The `measured` list of a CPU reading, by which figures it has (bits: primed 1, system 2, user 4,
 * ticks 8): built once per shape, copied per sample (a sample owns its arrays; consumers may add).
 */
const cpuMeasuredShapes: (readonly CpuMeasurement[] | undefined)[] = [];
function cpuMeasured(primed: boolean, system: boolean, user: boolean, ticks: boolean): CpuMeasurement[] {
  const shape = (primed ? 1 : 0) | (system ? 2 : 0) | (user ? 4 : 0) | (ticks ? 8 : 0);
  let names = cpuMeasuredShapes[shape];
  if (!names) {
    const list: CpuMeasurement[] = [];
    if (system && primed) list.push('System Mode');
    if (user && primed) list.push('User Mode');
    if (primed) list.push('Percent');
    if (primed && ticks) list.push('Total Ticks');
    list.push('Total Time');
    if (user) list.push('User Time');
    if (system) list.push('System Time');
    names = list;
    cpuMeasuredShapes[shape] = names;
  }
  return names.slice();
}

/**
 * CPU stats from cumulative times: times always, percents from the second reading on. Built as one
 * literal in `emptyCpuStats`' key order (not filled in after it: its `measured: []` was thrown away
 * at once, and the three times added one by one moved the object through three more shapes).
 */
export function cpuStatsOf(
  trackers: CpuTrackers,
  times: CpuTimes,
  at: number,
  ticksMeasured: boolean,
): CpuStats {
  const primed = trackers.primed;
  trackers.primed = true;
  const { totalMs, userMs, systemMs } = times;
  let percent = trackers.total.percent(totalMs, at);
  const systemMode = systemMs === undefined ? 0 : trackers.system.percent(systemMs, at);
  const userMode = userMs === undefined ? 0 : trackers.user.percent(userMs, at);
  let totalTicks = 0;
  if (primed) totalTicks = trackers.total.ticks(percent);
  else percent = 0;
  const cpu: CpuStats = {
    systemMode,
    userMode,
    percent,
    totalTicks,
    throttledPeriods: 0,
    throttledTime: 0,
    measured: cpuMeasured(primed, systemMs !== undefined, userMs !== undefined, ticksMeasured),
    totalTime: Math.round(totalMs * NS_PER_MS),
  };
  if (userMs !== undefined) cpu.userTime = Math.round(userMs * NS_PER_MS);
  if (systemMs !== undefined) cpu.systemTime = Math.round(systemMs * NS_PER_MS);
  return cpu;
}

/** The task's CPU times as the cgroup counts them, or undefined when it has no CPU accounting. */
export function cgroupCpuTimes(usage: CgroupUsage): CpuTimes | undefined {
  if (usage.cpuUsageNs === undefined) return undefined;
  const ms = (ns: number | undefined) => (ns === undefined ? undefined : ns / NS_PER_MS);
  return {
    totalMs: usage.cpuUsageNs / NS_PER_MS,
    userMs: ms(usage.cpuUserNs),
    systemMs: ms(usage.cpuSystemNs),
  };
}

const CGROUP_MEMORY_FIELDS = [
  'cache',
  'swap',
  'mappedFile',
  'usage',
  'maxUsage',
  'kernelUsage',
  'kernelMaxUsage',
] as const satisfies readonly (keyof CgroupUsage & keyof MemoryStats)[];

/** `measured` lists of task memory by the set of fields read (a bit per MEMORY_FIELDS entry). */
const memoryMeasuredShapes = new Map<number, readonly MemoryMeasurement[]>();
function memoryMeasured(fields: number): MemoryMeasurement[] {
  let names = memoryMeasuredShapes.get(fields);
  if (!names) {
    names = MEMORY_FIELDS.filter((_, index) => fields & (1 << index)).map(([, name]) => name);
    memoryMeasuredShapes.set(fields, names);
  }
  return names.slice();
}
const MEMORY_FIELD_BIT = new Map<keyof MemoryStats, number>(
  MEMORY_FIELDS.map(([field], index) => [field, 1 << index]),
);
const RSS_BIT = MEMORY_FIELD_BIT.get('rss') as number;
const SWAP_BIT = MEMORY_FIELD_BIT.get('swap') as number;
const CGROUP_MEMORY_BITS = CGROUP_MEMORY_FIELDS.map((field) => MEMORY_FIELD_BIT.get(field) as number);

/** Replaced before a sample leaves the sampler: never handed out. */
const NO_MEASURED: MemoryMeasurement[] = [];

/** Task memory: RSS from the processes, every other figure from the cgroup where it has it. */
function taskMemory(rss: number, swap: number | undefined, usage: CgroupUsage | undefined): MemoryStats {
  const memory = memoryStatsOf(rss, 0, NO_MEASURED);
  let fields = RSS_BIT;
  if (swap !== undefined) {
    memory.swap = swap;
    fields |= SWAP_BIT;
  }
  if (usage) {
    for (let index = 0; index < CGROUP_MEMORY_FIELDS.length; index++) {
      const field = CGROUP_MEMORY_FIELDS[index] as (typeof CGROUP_MEMORY_FIELDS)[number];
      const value = usage[field];
      if (value === undefined) continue;
      memory[field] = value;
      fields |= CGROUP_MEMORY_BITS[index] as number;
    }
  }
  memory.measured = memoryMeasured(fields);
  return memory;
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
    primed: false,
  });
  const tracked = new Map<number, Tracked>();
  const taskTrackers = newTrackers();
  // Swap per process needs /proc/<pid>/status (twice the cost); a cgroup reports the task's swap.
  const noSwapOnHost = !cgroup && options.hostHasSwap === false;
  const readerOptions = {
    procRoot,
    pageSize: options.pageSize ?? readPageSize(),
    readSwap: !cgroup && !noSwapOnHost,
  };

  /** Without a cgroup: ticks of processes that left the tree with no waiting parent in it. */
  const departed = { user: 0, system: 0 };
  /** The task's times never run backwards (a child reaped between two reads is briefly counted twice). */
  const high = { total: 0, user: 0, system: 0 };

  const drop = (pid: number) => {
    tracked.get(pid)?.reader.close();
    tracked.delete(pid);
  };

  /**
   * Reads `pid` (its figures are then the entry's `last`); a reader whose process is gone is dropped
   * and, if the pid was reused, replaced.
   */
  const readPid = (pid: number): Tracked | undefined => {
    let entry = tracked.get(pid);
    if (entry) {
      const figures = entry.reader.read();
      if (figures) {
        entry.last = figures;
        return entry;
      }
      leave(pid);
    }
    const reader = PidReader.open(pid, readerOptions);
    if (!reader) return undefined;
    entry = { reader, ...newTrackers(), last: undefined };
    tracked.set(pid, entry);
    const figures = reader.read();
    if (figures) {
      entry.last = figures;
      return entry;
    }
    drop(pid);
    return undefined;
  };

  /** A process is gone: keep its time unless a parent in the tree waited for it (then it is there). */
  const leave = (pid: number, alive?: ReadonlyMap<number, unknown>) => {
    const last = tracked.get(pid)?.last;
    if (last && !(alive ?? tracked).has(last.ppid)) {
      departed.user += last.utime + last.cutime;
      departed.system += last.stime + last.cstime;
    }
    drop(pid);
  };

  const treeRescanMs = options.treeRescanMs ?? 5000;
  let lastWalkAt = Number.NEGATIVE_INFINITY;
  /** The processes read by the current sample (reused: a sample uses it before it returns). */
  const read = new Map<number, Tracked>();
  /** The tracked pids as a sample starts (reused), since reading may drop or replace entries. */
  const known: number[] = [];
  const snapshotTracked = () => {
    known.length = 0;
    for (const pid of tracked.keys()) known.push(pid);
    return known;
  };

  /** The task's processes, each read: the cgroup's pids, or the tree walked from the root. */
  const readProcesses = (): Map<number, Tracked> => {
    read.clear();
    let between = tracked.size > 0 && monotonic() - lastWalkAt < treeRescanMs;
    if (between) {
      // Between walks: the processes found last time (the walk is ~85 % of a sample's cost; listing
      // `cgroup.procs`, which v1 lets no fd hold, cost a cgroup sample 3× a /proc one).
      for (const pid of snapshotTracked()) {
        const entry = readPid(pid);
        if (entry) read.set(pid, entry);
        // In a cgroup, a process that left may have handed over to others: list them now.
        else if (cgroup) between = false;
      }
    }
    if (!between && cgroup) {
      lastWalkAt = monotonic();
      const pids = cgroup.pids();
      if (!pids.includes(rootPid)) pids.push(rootPid);
      for (const pid of pids) {
        const entry = readPid(pid);
        if (entry) read.set(pid, entry);
      }
    } else if (!between) {
      lastWalkAt = monotonic();
      // Breadth-first from the root through held `children` fds: no directory scan per sample.
      const queue = [rootPid];
      const seen = new Set(queue);
      for (let i = 0; i < queue.length; i++) {
        const pid = queue[i]!;
        const entry = readPid(pid);
        if (!entry) continue;
        read.set(pid, entry);
        for (const child of entry.reader.children()) {
          if (seen.has(child)) continue;
          seen.add(child);
          queue.push(child);
        }
      }
    }
    for (const pid of snapshotTracked()) if (!read.has(pid)) leave(pid, read);
    return read;
  };

  /** The task's times from its processes (no cgroup): live processes, their waited-for children, departed. */
  const treeTimes = (processes: Map<number, Tracked>): CpuTimes => {
    let user = departed.user;
    let system = departed.system;
    for (const { last: figures } of processes.values()) {
      if (!figures) continue;
      user += figures.utime + figures.cutime;
      system += figures.stime + figures.cstime;
    }
    high.user = Math.max(high.user, user * msPerTick);
    high.system = Math.max(high.system, system * msPerTick);
    high.total = Math.max(high.total, high.user + high.system);
    return { totalMs: high.total, userMs: high.user, systemMs: high.system };
  };

  return {
    get pidCount() {
      return tracked.size;
    },
    sample() {
      const processes = readProcesses();
      // The sample's time is the moment of its reading: the percents' clock and the published
      // timestamp read together (a timestamp taken after the cgroup read and the per-pid work
      // drifted from the percents' interval by however late the loop ran).
      const at = monotonic();
      const timestamp = now();
      if (processes.size === 0) return undefined;
      const perPid: Record<string, ResourceUsage> = {};
      let rss = 0;
      let swap: number | undefined;
      for (const [pid, entry] of processes) {
        const figures = entry.last as ProcSample;
        const userMs = figures.utime * msPerTick;
        const systemMs = figures.stime * msPerTick;
        rss += figures.rssBytes;
        let memory: MemoryStats;
        if (figures.swapBytes !== undefined || noSwapOnHost) {
          const pidSwap = figures.swapBytes ?? 0;
          swap = (swap ?? 0) + pidSwap;
          memory = memoryStatsOf(figures.rssBytes, pidSwap, ['RSS', 'Swap']);
        } else {
          memory = memoryStatsOf(figures.rssBytes, 0, ['RSS']);
        }
        perPid[pid] = {
          memory,
          cpu: cpuStatsOf(entry, { totalMs: userMs + systemMs, userMs, systemMs }, at, ticksMeasured),
        };
      }

      // Read even before the root has joined (its figures are 0 then): the first interval counts.
      const cgroupUsage = cgroup?.read();
      const times = (cgroupUsage && cgroupCpuTimes(cgroupUsage)) ?? treeTimes(processes);
      const cpu = cpuStatsOf(taskTrackers, times, at, ticksMeasured);
      if (cgroupUsage?.throttledPeriods !== undefined) {
        cpu.throttledPeriods = cgroupUsage.throttledPeriods;
        cpu.measured.push('Throttled Periods');
      }
      if (cgroupUsage?.throttledTimeNs !== undefined) {
        cpu.throttledTime = cgroupUsage.throttledTimeNs;
        cpu.measured.push('Throttled Time');
      }
      const memory = taskMemory(rss, cgroupUsage ? undefined : swap, cgroupUsage);
      return { resourceUsage: { memory, cpu }, timestamp, pids: perPid };
    },
    close() {
      for (const pid of [...tracked.keys()]) drop(pid);
    },
  };
}
