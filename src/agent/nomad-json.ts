/**
 * Nomad's JSON shapes for what the HTTP API returns: resource usage (`/v1/client/allocation/:id/stats`)
 * and task states/events. Timestamps are Unix nanoseconds, as Nomad sends them.
 */
import type { ResourceUsage, TaskResourceUsage } from '../drivers/usage.js';
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

export function nomadResourceUsage(usage: ResourceUsage) {
  const { cpu, memory } = usage;
  return {
    CpuStats: {
      Measured: cpu?.measured ?? [],
      Percent: cpu?.percent ?? 0,
      SystemMode: cpu?.systemMode ?? 0,
      ThrottledPeriods: cpu?.throttledPeriods ?? 0,
      ThrottledTime: cpu?.throttledTime ?? 0,
      TotalTicks: cpu?.totalTicks ?? 0,
      UserMode: cpu?.userMode ?? 0,
    },
    MemoryStats: {
      Cache: memory?.cache ?? 0,
      KernelMaxUsage: memory?.kernelMaxUsage ?? 0,
      KernelUsage: memory?.kernelUsage ?? 0,
      MappedFile: memory?.mappedFile ?? 0,
      MaxUsage: memory?.maxUsage ?? 0,
      Measured: memory?.measured ?? [],
      RSS: memory?.rss ?? 0,
      Swap: memory?.swap ?? 0,
      Usage: memory?.usage ?? 0,
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
