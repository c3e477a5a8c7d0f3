/**
 * The sample an exec task's exit leaves behind: CPU times from the kernel after the task ended (the
 * cgroup's counters, read before the cgroup is removed, or the reaped child's rusage), with the
 * percents over the time since the last sample (or since the start, for a task that ended before
 * its first interval), and the memory figures of the last live sample (a dead task has no resident
 * pages; the cgroup's peaks are refreshed). It is the task's final sample and its summary's source.
 */
import { createCpuTracker } from '../cpu-tracker.js';
import { emptyMemoryStats, type TaskResourceUsage } from '../usage.js';
import type { CgroupUsage } from './cgroups.js';
import type { HostCpu } from './host-cpu.js';
import type { ReapedCpu } from './reaped-cpu.js';
import { type CpuTimes, cgroupCpuTimes, cpuStatsOf } from './sampler.js';

/** A sample a stream yielded, and when (monotonic ms). */
export interface TimedSample {
  sample: TaskResourceUsage;
  at: number;
}

/** The task's CPU times from the kernel once the main process is reaped: the cgroup's or its rusage. */
export function exactTimes(
  cgroup: CgroupUsage | undefined,
  reaped: ReapedCpu | undefined,
  last: TimedSample | undefined,
): CpuTimes | undefined {
  if (cgroup) return cgroupCpuTimes(cgroup);
  if (!reaped) return undefined;
  const totalMs = (reaped.userNs + reaped.systemNs) / 1e6;
  // The counters only grow: less than the last /proc reading means the reap was not this task's alone.
  const lastTotal = last?.sample.resourceUsage.cpu?.totalTime;
  if (lastTotal !== undefined && totalMs * 1e6 < lastTotal) return undefined;
  return { totalMs, userMs: reaped.userNs / 1e6, systemMs: reaped.systemNs / 1e6 };
}

export interface ExitUsageInput {
  /** The exact times at exit; without them there is nothing more exact than the last sample. */
  times: CpuTimes | undefined;
  /** The cgroup's figures read at exit, when the task has one. */
  cgroup: CgroupUsage | undefined;
  last: TimedSample | undefined;
  /** Monotonic ms of the start and of the exit; Unix ms of the exit. */
  startedAt: number;
  exitedAt: number;
  timestamp: number;
  host: HostCpu;
}

const ms = (ns: number | undefined) => (ns === undefined ? undefined : ns / 1e6);

export function exitUsage(input: ExitUsageInput): TaskResourceUsage | undefined {
  const { times, cgroup, last, host } = input;
  if (!times) return undefined;
  const lastCpu = last?.sample.resourceUsage.cpu;
  // The baseline: the last sample's times, or zero at the start (the task's processes began at 0).
  const before: CpuTimes =
    lastCpu?.totalTime === undefined
      ? {
          totalMs: 0,
          userMs: times.userMs === undefined ? undefined : 0,
          systemMs: times.systemMs === undefined ? undefined : 0,
        }
      : { totalMs: ms(lastCpu.totalTime)!, userMs: ms(lastCpu.userTime), systemMs: ms(lastCpu.systemTime) };
  const trackers = {
    total: createCpuTracker(host),
    user: createCpuTracker(host),
    system: createCpuTracker(host),
    primed: false,
  };
  const ticksMeasured = host.totalMhz > 0 && host.cores > 0;
  cpuStatsOf(trackers, before, lastCpu?.totalTime === undefined ? input.startedAt : last!.at, ticksMeasured);
  const cpu = cpuStatsOf(trackers, times, input.exitedAt, ticksMeasured);
  const throttledPeriods = cgroup?.throttledPeriods;
  const throttledTime = cgroup?.throttledTimeNs;
  if (throttledPeriods !== undefined) {
    cpu.throttledPeriods = throttledPeriods;
    cpu.measured.push('Throttled Periods');
  }
  if (throttledTime !== undefined) {
    cpu.throttledTime = throttledTime;
    cpu.measured.push('Throttled Time');
  }

  const usage: TaskResourceUsage = { resourceUsage: { cpu }, timestamp: input.timestamp };
  const lastMemory = last?.sample.resourceUsage.memory;
  if (lastMemory) {
    const memory = { ...lastMemory, measured: [...lastMemory.measured] };
    // The cgroup's peaks after the end include the last interval, which the last sample missed.
    if (cgroup?.maxUsage !== undefined && memory.measured.includes('Max Usage'))
      memory.maxUsage = Math.max(memory.maxUsage, cgroup.maxUsage);
    if (cgroup?.kernelMaxUsage !== undefined && memory.measured.includes('Kernel Max Usage'))
      memory.kernelMaxUsage = Math.max(memory.kernelMaxUsage, cgroup.kernelMaxUsage);
    usage.resourceUsage.memory = memory;
  } else if (cgroup?.maxUsage !== undefined) {
    // Ended before its first sample: the cgroup's peak is the one memory figure left to tell.
    const memory = emptyMemoryStats();
    memory.maxUsage = cgroup.maxUsage;
    memory.measured.push('Max Usage');
    if (cgroup.kernelMaxUsage !== undefined) {
      memory.kernelMaxUsage = cgroup.kernelMaxUsage;
      memory.measured.push('Kernel Max Usage');
    }
    usage.resourceUsage.memory = memory;
  }
  return usage;
}
