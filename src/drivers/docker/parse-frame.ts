/**
 * One Docker Engine stats frame (`GET /containers/{id}/stats`) → one `TaskResourceUsage`, the way
 * Nomad's docker driver reads it (`drivers/docker/util/stats_posix.go`), with three differences:
 * - `measured` lists say what the frame really held (Nomad sends a fixed list per cgroup version, so
 *   a v1 host without swap accounting still claims "Swap"); cgroup v1 vs v2 is told by which
 *   `memory_stats.stats` keys exist, not by `rss == 0`.
 * - user/system mode are percents of one core like `percent` (Nomad divides them by Δtotal_usage,
 *   which makes them shares of the container's own CPU time rather than of a core).
 * - CPU figures are not claimed on a frame whose `precpu_stats` is empty (a stream's first frame).
 * Each frame carries its own previous sample (`precpu_stats`), so parsing is stateless.
 *
 * Numbers above 2^53 (`hierarchical_memory_limit` of an unlimited container is 9223372036854771712)
 * lose precision in `JSON.parse`; no field read here is ever that large, and limits are not read.
 */
import {
  CPU_MEASUREMENTS,
  type CpuMeasurement,
  type CpuStats,
  emptyCpuStats,
  emptyMemoryStats,
  MEMORY_MEASUREMENTS,
  type MemoryMeasurement,
  type MemoryStats,
  type TaskResourceUsage,
} from '../usage.js';

export interface DockerCpuStats {
  cpu_usage?: {
    total_usage?: number;
    percpu_usage?: number[] | null;
    usage_in_kernelmode?: number;
    usage_in_usermode?: number;
  };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data?: { periods?: number; throttled_periods?: number; throttled_time?: number };
}

export interface DockerStatsFrame {
  read?: string;
  preread?: string;
  pids_stats?: { current?: number };
  cpu_stats?: DockerCpuStats;
  precpu_stats?: DockerCpuStats;
  memory_stats?: {
    usage?: number;
    max_usage?: number;
    limit?: number;
    stats?: Record<string, number>;
  };
  name?: string;
  id?: string;
}

/** Go's zero `time.Time`: the `read` of every frame sent after the container stopped. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface ParseFrameOptions {
  /** Cores to assume when the frame names none (no `online_cpus`, no `percpu_usage`). */
  fallbackCores: number;
  /** Total CPU MHz of the host; when given, `totalTicks` is computed and measured. */
  cpuTotalMhz?: number;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A frame sent after the container stopped: all zeros, never a real sample. */
export function isZeroedFrame(frame: DockerStatsFrame): boolean {
  return typeof frame.read !== 'string' || frame.read.startsWith('0001-01-01');
}

/** Percent of one core: Δpart / Δsystem × cores × 100, 0 when either delta is not positive. */
function percentOf(part: number, partBefore: number, system: number, systemBefore: number, cores: number) {
  const deltaPart = part - partBefore;
  const deltaSystem = system - systemBefore;
  if (deltaPart <= 0 || deltaSystem <= 0) return 0;
  return (deltaPart / deltaSystem) * cores * 100;
}

export function parseCpu(frame: DockerStatsFrame, options: ParseFrameOptions): CpuStats | undefined {
  const now = frame.cpu_stats;
  if (!now) return undefined;
  const before = frame.precpu_stats;
  const cpu = emptyCpuStats();
  const measured = new Set<CpuMeasurement>();
  const system = num(now.system_cpu_usage);
  const systemBefore = num(before?.system_cpu_usage);
  const cores =
    num(now.online_cpus) ?? (now.cpu_usage?.percpu_usage?.length || undefined) ?? options.fallbackCores;
  // An empty precpu_stats (a stream's first frame) has no system_cpu_usage: no CPU percent from it.
  if (system !== undefined && systemBefore !== undefined) {
    const total = num(now.cpu_usage?.total_usage);
    const totalBefore = num(before?.cpu_usage?.total_usage);
    if (total !== undefined && totalBefore !== undefined) {
      cpu.percent = percentOf(total, totalBefore, system, systemBefore, cores);
      measured.add('Percent');
      if (options.cpuTotalMhz !== undefined && cores > 0) {
        cpu.totalTicks = (cpu.percent / 100) * (options.cpuTotalMhz / cores);
        measured.add('Total Ticks');
      }
    }
    const kernel = num(now.cpu_usage?.usage_in_kernelmode);
    const kernelBefore = num(before?.cpu_usage?.usage_in_kernelmode);
    if (kernel !== undefined && kernelBefore !== undefined) {
      cpu.systemMode = percentOf(kernel, kernelBefore, system, systemBefore, cores);
      measured.add('System Mode');
    }
    const user = num(now.cpu_usage?.usage_in_usermode);
    const userBefore = num(before?.cpu_usage?.usage_in_usermode);
    if (user !== undefined && userBefore !== undefined) {
      cpu.userMode = percentOf(user, userBefore, system, systemBefore, cores);
      measured.add('User Mode');
    }
  }
  // Cumulative times (ns) are in every frame, the first one too.
  const times = [
    ['totalTime', 'Total Time', now.cpu_usage?.total_usage],
    ['userTime', 'User Time', now.cpu_usage?.usage_in_usermode],
    ['systemTime', 'System Time', now.cpu_usage?.usage_in_kernelmode],
  ] as const;
  for (const [field, name, raw] of times) {
    const value = num(raw);
    if (value === undefined) continue;
    cpu[field] = value;
    measured.add(name);
  }
  const throttledPeriods = num(now.throttling_data?.throttled_periods);
  if (throttledPeriods !== undefined) {
    cpu.throttledPeriods = throttledPeriods;
    measured.add('Throttled Periods');
  }
  const throttledTime = num(now.throttling_data?.throttled_time);
  if (throttledTime !== undefined) {
    cpu.throttledTime = throttledTime;
    measured.add('Throttled Time');
  }
  cpu.measured = CPU_MEASUREMENTS.filter((name) => measured.has(name));
  return cpu;
}

/** `memory_stats.stats` key per field: cgroup v1 (`memory.stat`) and cgroup v2 names. */
const MEMORY_KEYS = {
  v1: { rss: 'rss', cache: 'cache', swap: 'swap', mappedFile: 'mapped_file' },
  v2: { rss: 'anon', cache: 'file', swap: undefined, mappedFile: 'file_mapped' },
} as const;

/** cgroup v2's memory.stat has `anon`/`file`; v1's has `rss`/`cache`. */
export function cgroupVersionOf(stats: Record<string, number> | undefined): 'v1' | 'v2' | undefined {
  if (!stats) return undefined;
  if ('rss' in stats || 'cache' in stats) return 'v1';
  if ('anon' in stats || 'file' in stats) return 'v2';
  return undefined;
}

export function parseMemory(frame: DockerStatsFrame): MemoryStats | undefined {
  const source = frame.memory_stats;
  if (!source) return undefined;
  const memory = emptyMemoryStats();
  const measured = new Set<MemoryMeasurement>();
  const stats = source.stats;
  const version = cgroupVersionOf(stats);
  if (stats && version) {
    const keys = MEMORY_KEYS[version];
    const read = (key: string | undefined, name: MemoryMeasurement, set: (value: number) => void) => {
      const value = key === undefined ? undefined : num(stats[key]);
      if (value === undefined) return;
      set(value);
      measured.add(name);
    };
    read(keys.rss, 'RSS', (v) => {
      memory.rss = v;
    });
    read(keys.cache, 'Cache', (v) => {
      memory.cache = v;
    });
    read(keys.swap, 'Swap', (v) => {
      memory.swap = v;
    });
    read(keys.mappedFile, 'Mapped File', (v) => {
      memory.mappedFile = v;
    });
  }
  const usage = num(source.usage);
  if (usage !== undefined) {
    memory.usage = usage;
    measured.add('Usage');
  }
  // cgroup v2 has no max usage: Docker leaves `max_usage` out there.
  const maxUsage = num(source.max_usage);
  if (maxUsage !== undefined) {
    memory.maxUsage = maxUsage;
    measured.add('Max Usage');
  }
  if (measured.size === 0) return undefined;
  memory.measured = MEMORY_MEASUREMENTS.filter((name) => measured.has(name));
  return memory;
}

/** The frame as a sample, or undefined for a zeroed frame (the container has stopped). */
export function parseFrame(
  frame: DockerStatsFrame,
  options: ParseFrameOptions,
  now: () => number = Date.now,
): TaskResourceUsage | undefined {
  if (isZeroedFrame(frame)) return undefined;
  const read = Date.parse(frame.read ?? '');
  const sample: TaskResourceUsage = {
    timestamp: Number.isFinite(read) && read > 0 ? read : now(),
    resourceUsage: {},
  };
  const memory = parseMemory(frame);
  if (memory) sample.resourceUsage.memory = memory;
  const cpu = parseCpu(frame, options);
  if (cpu) sample.resourceUsage.cpu = cpu;
  return sample;
}
