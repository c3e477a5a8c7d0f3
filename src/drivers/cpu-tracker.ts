/**
 * Nomad's CPU math (`client/lib/cpustats`): a tracker per process (or cgroup) turns a cumulative CPU
 * time into a percent of one core. The first reading gives 0 (there is nothing to compare with);
 * after that percent = Δcpu_time / Δwall × 100, and 0 whenever either delta is not positive (a clock
 * step or a counter reset must not produce negative or infinite figures).
 */

export interface CpuTrackerOptions {
  /** Total CPU MHz of the host (all cores). */
  totalMhz: number;
  /** Number of cores that total is spread over. */
  cores: number;
}

export interface CpuTracker {
  /** Percent of one core used since the last call; `cpuTimeMs` is cumulative, `nowMs` a monotonic clock. */
  percent(cpuTimeMs: number, nowMs: number): number;
  /** MHz consumed at a given percent: percent / 100 × totalMhz / cores. */
  ticks(percent: number): number;
}

export function createCpuTracker({ totalMhz, cores }: CpuTrackerOptions): CpuTracker {
  let lastCpuMs: number | undefined;
  let lastWallMs = 0;
  return {
    percent(cpuTimeMs, nowMs) {
      const previousCpu = lastCpuMs;
      const previousWall = lastWallMs;
      lastCpuMs = cpuTimeMs;
      lastWallMs = nowMs;
      if (previousCpu === undefined) return 0;
      const deltaCpu = cpuTimeMs - previousCpu;
      const deltaWall = nowMs - previousWall;
      if (deltaCpu <= 0 || deltaWall <= 0) return 0;
      return (deltaCpu / deltaWall) * 100;
    },
    ticks(percent) {
      if (cores <= 0) return 0;
      return (percent / 100) * (totalMhz / cores);
    },
  };
}
