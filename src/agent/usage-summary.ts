/**
 * Per-task usage totals for end-of-run summaries: peak RSS and CPU seconds. CPU seconds are
 * integrated from the samples' percent over the time between samples (drivers report a rate, not a
 * counter), so they are an estimate at the sampling interval's resolution.
 */
import type { TaskBus, TaskBusEvents } from '../runtime/bus.js';

export interface UsageTotals {
  samples: number;
  peakRssBytes: number;
  cpuSeconds: number;
  lastCpuPercent: number;
  lastRssBytes: number;
  lastTimestamp: number | undefined;
}

export interface UsageSummary {
  get(taskId: string): UsageTotals | undefined;
  close(): void;
}

export function trackUsage(bus: TaskBus): UsageSummary {
  const totals = new Map<string, UsageTotals>();
  const onStats = ({ taskId, sample }: TaskBusEvents['task:stats']) => {
    const entry = totals.get(taskId) ?? {
      samples: 0,
      peakRssBytes: 0,
      cpuSeconds: 0,
      lastCpuPercent: 0,
      lastRssBytes: 0,
      lastTimestamp: undefined,
    };
    const percent = sample.resourceUsage.cpu?.percent ?? 0;
    const rss = sample.resourceUsage.memory?.rss ?? 0;
    if (entry.lastTimestamp !== undefined && sample.timestamp > entry.lastTimestamp) {
      entry.cpuSeconds += (percent / 100) * ((sample.timestamp - entry.lastTimestamp) / 1000);
    }
    entry.samples += 1;
    entry.peakRssBytes = Math.max(entry.peakRssBytes, rss);
    entry.lastCpuPercent = percent;
    entry.lastRssBytes = rss;
    entry.lastTimestamp = sample.timestamp;
    totals.set(taskId, entry);
  };
  bus.on('task:stats', onStats);
  return { get: (taskId) => totals.get(taskId), close: () => bus.off('task:stats', onStats) };
}
