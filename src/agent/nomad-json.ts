/**
 * Nomad's JSON shapes for what the HTTP API returns: resource usage (`/v1/client/allocation/:id/stats`)
 * and task states/events. Timestamps are Unix nanoseconds, as Nomad sends them.
 */
import { cpuValue, memoryValue, type ResourceUsage, type TaskResourceUsage } from '../drivers/usage.js';
import type { TaskEvent } from '../runtime/bus.js';

/** Unix ms → Unix ns, exact (a double cannot hold every ns value, so it travels as a bigint). */
export const msToNs = (ms: number): bigint => BigInt(Math.round(ms)) * 1_000_000n;

/** JSON.stringify that writes bigints as plain JSON numbers (Nomad's int64 timestamps). */
export function toJson(value: unknown): string {
  const marker = '\u0000bigint:';
  const text = JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'bigint' ? `${marker}${item.toString()}` : item,
  );
  return text.replace(/"\\u0000bigint:(\d+)"/g, '$1');
}

/**
 * Nomad's `CpuStats`/`MemoryStats` with only the figures that may be shown (spec rule 14): an
 * unmeasured field is left out, never sent as 0 (the first sample has CPU times but no `Percent`).
 * `TotalTime`, `UserTime`, `SystemTime` (ns) are taskpulse's cumulative CPU times.
 */
export function nomadResourceUsage(usage: ResourceUsage) {
  const { cpu, memory } = usage;
  const pick = <K extends string>(entries: [K, number | undefined][]) =>
    Object.fromEntries(entries.filter(([, value]) => value !== undefined)) as Partial<Record<K, number>>;
  return {
    CpuStats: {
      Measured: cpu?.measured ?? [],
      ...pick([
        ['Percent', cpuValue(cpu, 'percent')],
        ['SystemMode', cpuValue(cpu, 'systemMode')],
        ['ThrottledPeriods', cpuValue(cpu, 'throttledPeriods')],
        ['ThrottledTime', cpuValue(cpu, 'throttledTime')],
        ['TotalTicks', cpuValue(cpu, 'totalTicks')],
        ['UserMode', cpuValue(cpu, 'userMode')],
        ['TotalTime', cpuValue(cpu, 'totalTime')],
        ['UserTime', cpuValue(cpu, 'userTime')],
        ['SystemTime', cpuValue(cpu, 'systemTime')],
      ]),
    },
    MemoryStats: {
      Measured: memory?.measured ?? [],
      ...pick([
        ['Cache', memoryValue(memory, 'cache')],
        ['KernelMaxUsage', memoryValue(memory, 'kernelMaxUsage')],
        ['KernelUsage', memoryValue(memory, 'kernelUsage')],
        ['MappedFile', memoryValue(memory, 'mappedFile')],
        ['MaxUsage', memoryValue(memory, 'maxUsage')],
        ['RSS', memoryValue(memory, 'rss')],
        ['Swap', memoryValue(memory, 'swap')],
        ['Usage', memoryValue(memory, 'usage')],
      ]),
    },
  };
}

export function nomadTaskResourceUsage(sample: TaskResourceUsage) {
  return {
    Pids: sample.pids
      ? Object.fromEntries(
          Object.entries(sample.pids).map(([pid, usage]) => [pid, nomadResourceUsage(usage)]),
        )
      : null,
    ResourceUsage: nomadResourceUsage(sample.resourceUsage),
    Timestamp: msToNs(sample.timestamp),
  };
}

export function nomadTaskEvent(event: TaskEvent) {
  return {
    Type: event.type,
    Time: msToNs(event.time),
    DisplayMessage: event.message,
    ExitCode: event.exitCode ?? 0,
    Signal: event.signal ?? '',
    OOMKilled: event.oomKilled ?? false,
    StartDelay: msToNs(event.restartInMs ?? 0),
    FailsTask: event.failsTask ?? false,
  };
}
