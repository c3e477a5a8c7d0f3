/**
 * Per-task usage totals for end-of-run summaries: peak RSS and CPU seconds, summed over the task's
 * runs (restarts). CPU seconds come from the samples' cumulative CPU time (`totalTime`), so a run's
 * figure is exact once its final sample (taken by the driver from the kernel after the exit) is in;
 * a driver that sends no times falls back to integrating its percents over the time between samples,
 * an estimate at the sampling interval's resolution. A figure never measured stays undefined: a
 * summary shows it as absent, not as 0.
 */
import { cpuValue, memoryValue } from '../drivers/usage.js';
import type { TaskBus, TaskBusEvents, TaskRef } from '../runtime/bus.js';

export interface UsageTotals {
  samples: number;
  peakRssBytes: number | undefined;
  cpuSeconds: number | undefined;
  /** True when every run's CPU seconds came from cumulative times, not from integrated percents. */
  cpuSecondsExact: boolean;
  lastCpuPercent: number | undefined;
  lastRssBytes: number | undefined;
  lastTimestamp: number | undefined;
}

export interface UsageSummary {
  get(taskId: string): UsageTotals | undefined;
  close(): void;
}

/** CPU seconds of the runs that ended and of the current run so far; where integration resumes. */
interface Runs {
  ended: number | undefined;
  current: number | undefined;
  integrateFrom: number | undefined;
}

const add = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : a + b;

export function trackUsage(bus: TaskBus): UsageSummary {
  const totals = new Map<string, UsageTotals>();
  const runsOf = new Map<string, Runs>();
  const onStats = ({ taskId, sample }: TaskBusEvents['task:stats']) => {
    const runs = runsOf.get(taskId) ?? { ended: undefined, current: undefined, integrateFrom: undefined };
    runsOf.set(taskId, runs);
    const entry = totals.get(taskId) ?? {
      samples: 0,
      peakRssBytes: undefined,
      cpuSeconds: undefined,
      cpuSecondsExact: true,
      lastCpuPercent: undefined,
      lastRssBytes: undefined,
      lastTimestamp: undefined,
    };
    const { cpu, memory } = sample.resourceUsage;
    const percent = cpuValue(cpu, 'percent');
    const totalNs = cpuValue(cpu, 'totalTime');
    const rss = memoryValue(memory, 'rss');
    if (totalNs !== undefined) {
      runs.current = Math.max(runs.current ?? 0, totalNs / 1e9);
    } else if (percent !== undefined) {
      entry.cpuSecondsExact = false;
      const from = runs.integrateFrom;
      if (from !== undefined && sample.timestamp > from) {
        runs.current = (runs.current ?? 0) + (percent / 100) * ((sample.timestamp - from) / 1000);
      }
    }
    runs.integrateFrom = sample.timestamp;
    entry.cpuSeconds = add(runs.ended, runs.current);
    entry.samples += 1;
    if (rss !== undefined) entry.peakRssBytes = Math.max(entry.peakRssBytes ?? 0, rss);
    entry.lastCpuPercent = percent;
    entry.lastRssBytes = rss;
    entry.lastTimestamp = sample.timestamp;
    totals.set(taskId, entry);
  };
  // A run ended (its final sample came just before): the next run's times start again at 0.
  const onEnded = ({ taskId }: TaskRef) => {
    const runs = runsOf.get(taskId);
    if (!runs) return;
    runs.ended = add(runs.ended, runs.current);
    runs.current = undefined;
    runs.integrateFrom = undefined;
  };
  bus.on('task:stats', onStats);
  bus.on('task:stats-ended', onEnded);
  return {
    get: (taskId) => totals.get(taskId),
    close: () => {
      bus.off('task:stats', onStats);
      bus.off('task:stats-ended', onEnded);
    },
  };
}
