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
  'Total Time',
  'User Time',
  'System Time',
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
 *
 * `totalTime`, `userTime` and `systemTime` are taskpulse's addition to Nomad's shape: the task's
 * cumulative CPU time in nanoseconds since it started (every process it ever ran, where the source
 * can see them). They are present exactly when measured, so a driver that does not know them (or an
 * older one) simply leaves them out. The first sample of a stream has them but no percents.
 */
export interface CpuStats {
  systemMode: number;
  userMode: number;
  percent: number;
  totalTicks: number;
  throttledPeriods: number;
  throttledTime: number;
  totalTime?: number;
  userTime?: number;
  systemTime?: number;
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

/** The cumulative CPU times: optional fields, present only when measured. */
export const CPU_TIME_FIELDS = [
  ['totalTime', 'Total Time', 'cpu.total_time'],
  ['userTime', 'User Time', 'cpu.user_time'],
  ['systemTime', 'System Time', 'cpu.system_time'],
] as const satisfies readonly (readonly [keyof CpuStats, CpuMeasurement, string])[];

type MemoryField = (typeof MEMORY_FIELDS)[number][0];
type CpuField = ((typeof CPU_FIELDS)[number] | (typeof CPU_TIME_FIELDS)[number])[0];
const MEMORY_NAMES = new Map<string, MemoryMeasurement>(MEMORY_FIELDS.map(([field, name]) => [field, name]));
const CPU_NAMES = new Map<string, CpuMeasurement>(
  [...CPU_FIELDS, ...CPU_TIME_FIELDS].map(([field, name]) => [field, name]),
);

/**
 * A field's value when it may be shown, else undefined (spec rule 14: non-zero or measured). Every
 * consumer (tables, JSON lines, HTTP, metrics, summaries) goes through these two, so an unmeasured
 * figure is shown as absent, never as 0.
 */
export function memoryValue(memory: MemoryStats | undefined, field: MemoryField): number | undefined {
  if (!memory) return undefined;
  const value = memory[field];
  return value !== 0 || memory.measured.includes(MEMORY_NAMES.get(field)!) ? value : undefined;
}

export function cpuValue(cpu: CpuStats | undefined, field: CpuField): number | undefined {
  const value = cpu?.[field];
  if (cpu === undefined || value === undefined) return undefined;
  return value !== 0 || cpu.measured.includes(CPU_NAMES.get(field)!) ? value : undefined;
}

export function emptyMemoryStats(): MemoryStats {
  return memoryStatsOf(0, 0, []);
}

/**
 * Memory stats with these figures and zeros elsewhere, built as one literal (the samplers' per-sample
 * path: no object filled in field by field, every one of the same shape).
 */
export function memoryStatsOf(rss: number, swap: number, measured: MemoryMeasurement[]): MemoryStats {
  return {
    rss,
    cache: 0,
    swap,
    mappedFile: 0,
    usage: 0,
    maxUsage: 0,
    kernelUsage: 0,
    kernelMaxUsage: 0,
    measured,
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
      for (const [field] of CPU_TIME_FIELDS) {
        const value = part.cpu[field];
        if (value !== undefined) cpu[field] = (cpu[field] ?? 0) + value;
      }
      mergeMeasured(cpu.measured, part.cpu.measured);
    }
  }
  const total: ResourceUsage = {};
  if (memory) total.memory = memory;
  if (cpu) total.cpu = cpu;
  return total;
}

/** Built once: `publishableMetrics` runs for every sample of every task. */
const ALL_CPU_FIELDS = [...CPU_FIELDS, ...CPU_TIME_FIELDS];

/**
 * The gauges worth publishing for a sample, keyed by Nomad's metric names (`memory.rss`,
 * `cpu.total_percent`, …): a field is published only when it is non-zero or measured (spec rule 14).
 */
export function publishableMetrics(usage: ResourceUsage): Map<string, number> {
  const metrics = new Map<string, number>();
  for (const [field, , metric] of MEMORY_FIELDS) {
    const value = memoryValue(usage.memory, field);
    if (value !== undefined) metrics.set(metric, value);
  }
  for (const [field, , metric] of ALL_CPU_FIELDS) {
    const value = cpuValue(usage.cpu, field);
    if (value !== undefined) metrics.set(metric, value);
  }
  return metrics;
}
