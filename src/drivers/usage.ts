/**
 * Resource-usage samples, mirroring Nomad's `client/structs` (MemoryStats, CpuStats, ResourceUsage,
 * TaskResourceUsage). A field's name is in `measured` when the driver really read it: a measured 0
 * is a real zero, an unmeasured 0 is "unknown".
 */

export const MEMORY_MEASUREMENTS = [
  'RSS',
  'Cache',
  'Swap',
  'Mapped File',
  'Usage',
  'Max Usage',
  'Kernel Usage',
  'Kernel Max Usage',
] as const;
export type MemoryMeasurement = (typeof MEMORY_MEASUREMENTS)[number];

export const CPU_MEASUREMENTS = [
  'System Mode',
  'User Mode',
  'Percent',
  'Total Ticks',
  'Throttled Periods',
  'Throttled Time',
] as const;
export type CpuMeasurement = (typeof CPU_MEASUREMENTS)[number];

/** Memory in bytes. */
export interface MemoryStats {
  rss: number;
  cache: number;
  swap: number;
  mappedFile: number;
  usage: number;
  maxUsage: number;
  kernelUsage: number;
  kernelMaxUsage: number;
  measured: MemoryMeasurement[];
}

/**
 * CPU. `percent` is of one core (100 = one core busy); `systemMode`/`userMode` are percents too,
 * as in Nomad; `totalTicks` is MHz consumed; `throttledTime` is nanoseconds.
 */
export interface CpuStats {
  systemMode: number;
  userMode: number;
  percent: number;
  totalTicks: number;
  throttledPeriods: number;
  throttledTime: number;
  measured: CpuMeasurement[];
}

export interface ResourceUsage {
  memory?: MemoryStats;
  cpu?: CpuStats;
}

/** One sample of a task: its totals, when it was taken (Unix ms), and optionally per-pid figures. */
export interface TaskResourceUsage {
  resourceUsage: ResourceUsage;
  timestamp: number;
  pids?: Record<string, ResourceUsage>;
}

/** Field name → the name in `measured`, and the metric name Nomad publishes it under. */
export const MEMORY_FIELDS = [
  ['rss', 'RSS', 'memory.rss'],
  ['cache', 'Cache', 'memory.cache'],
  ['swap', 'Swap', 'memory.swap'],
  ['mappedFile', 'Mapped File', 'memory.mapped_file'],
  ['usage', 'Usage', 'memory.usage'],
  ['maxUsage', 'Max Usage', 'memory.max_usage'],
  ['kernelUsage', 'Kernel Usage', 'memory.kernel_usage'],
  ['kernelMaxUsage', 'Kernel Max Usage', 'memory.kernel_max_usage'],
] as const satisfies readonly (readonly [keyof MemoryStats, MemoryMeasurement, string])[];

export const CPU_FIELDS = [
  ['percent', 'Percent', 'cpu.total_percent'],
  ['systemMode', 'System Mode', 'cpu.system'],
  ['userMode', 'User Mode', 'cpu.user'],
  ['throttledTime', 'Throttled Time', 'cpu.throttled_time'],
  ['throttledPeriods', 'Throttled Periods', 'cpu.throttled_periods'],
  ['totalTicks', 'Total Ticks', 'cpu.total_ticks'],
] as const satisfies readonly (readonly [keyof CpuStats, CpuMeasurement, string])[];

export function emptyMemoryStats(): MemoryStats {
  return {
    rss: 0,
    cache: 0,
    swap: 0,
    mappedFile: 0,
    usage: 0,
    maxUsage: 0,
    kernelUsage: 0,
    kernelMaxUsage: 0,
    measured: [],
  };
}

export function emptyCpuStats(): CpuStats {
  return {
    systemMode: 0,
    userMode: 0,
    percent: 0,
    totalTicks: 0,
    throttledPeriods: 0,
    throttledTime: 0,
    measured: [],
  };
}

function mergeMeasured<T extends string>(into: T[], from: readonly T[]): void {
  for (const name of from) if (!into.includes(name)) into.push(name);
}

/**
 * Task totals from per-pid figures: numbers add up, `measured` lists merge as an order-preserving
 * union (Nomad's `ResourceUsage.Add`).
 */
export function sumResourceUsage(parts: Iterable<ResourceUsage>): ResourceUsage {
  let memory: MemoryStats | undefined;
  let cpu: CpuStats | undefined;
  for (const part of parts) {
    if (part.memory) {
      memory ??= emptyMemoryStats();
      for (const [field] of MEMORY_FIELDS) memory[field] += part.memory[field];
      mergeMeasured(memory.measured, part.memory.measured);
    }
    if (part.cpu) {
      cpu ??= emptyCpuStats();
      for (const [field] of CPU_FIELDS) cpu[field] += part.cpu[field];
      mergeMeasured(cpu.measured, part.cpu.measured);
    }
  }
  const total: ResourceUsage = {};
  if (memory) total.memory = memory;
  if (cpu) total.cpu = cpu;
  return total;
}

/**
 * The gauges worth publishing for a sample, keyed by Nomad's metric names (`memory.rss`,
 * `cpu.total_percent`, …): a field is published only when it is non-zero or measured (spec rule 14).
 */
export function publishableMetrics(usage: ResourceUsage): Map<string, number> {
  const metrics = new Map<string, number>();
  const memory = usage.memory;
  if (memory) {
    for (const [field, measuredName, metric] of MEMORY_FIELDS) {
      const value = memory[field];
      if (value !== 0 || memory.measured.includes(measuredName)) metrics.set(metric, value);
    }
  }
  const cpu = usage.cpu;
  if (cpu) {
    for (const [field, measuredName, metric] of CPU_FIELDS) {
      const value = cpu[field];
      if (value !== 0 || cpu.measured.includes(measuredName)) metrics.set(metric, value);
    }
  }
  return metrics;
}
