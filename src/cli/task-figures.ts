/**
 * One task's figures as `status` and `stats` show them, from the API's allocation and stats
 * answers. A figure the driver did not measure is `undefined` (shown `-`, JSON null), never 0: the
 * API's rule (non-zero or named in `Measured`).
 */
import type { ApiAllocation, ApiAllocationStats, ApiResourceUsage } from './api-types.js';

export interface TaskFigures {
  allocId: string;
  allocName: string;
  group: string;
  task: string;
  state: string;
  failed: boolean;
  restarts: number;
  /** The last exit: its code, or the signal that ended it. */
  exitCode: number | undefined;
  signal: string | undefined;
  /** Unix ms the current run started, while it runs. */
  runningSince: number | undefined;
  cpuPercent: number | undefined;
  cpuMhz: number | undefined;
  rssBytes: number | undefined;
  /** From the job file's `resources.memory`; undefined when it sets none. */
  memoryLimitBytes: number | undefined;
  cpuLimitMhz: number | undefined;
  pids: number | undefined;
}

const known = (value: number | undefined, measured: readonly string[], name: string) =>
  value !== undefined && (value !== 0 || measured.includes(name)) ? value : undefined;

function usageFigures(usage: ApiResourceUsage | undefined) {
  if (!usage) return { cpuPercent: undefined, cpuMhz: undefined, rssBytes: undefined };
  const { CpuStats: cpu, MemoryStats: memory } = usage;
  return {
    cpuPercent: known(cpu.Percent, cpu.Measured, 'Percent'),
    cpuMhz: known(cpu.TotalTicks, cpu.Measured, 'Total Ticks'),
    rssBytes: known(memory.RSS, memory.Measured, 'RSS'),
  };
}

export function taskFigures(alloc: ApiAllocation, stats: ApiAllocationStats | undefined): TaskFigures[] {
  return Object.entries(alloc.TaskStates).map(([task, state]) => {
    const running = state.RunnerState === 'running';
    const usage = running ? stats?.Tasks[task] : undefined;
    const exit = state.Events.findLast((event) => event.Type === 'Terminated');
    const resources = alloc.AllocatedResources.Tasks[task];
    return {
      allocId: alloc.ID,
      allocName: alloc.Name,
      group: alloc.TaskGroup,
      task,
      state: state.RunnerState,
      failed: state.Failed,
      restarts: state.Restarts,
      exitCode: exit && exit.Signal === '' ? exit.ExitCode : undefined,
      signal: exit && exit.Signal !== '' ? exit.Signal : undefined,
      runningSince: running && state.StartedAt ? Date.parse(state.StartedAt) : undefined,
      ...usageFigures(usage?.ResourceUsage),
      memoryLimitBytes: resources?.Memory.MemoryMB ? resources.Memory.MemoryMB * 2 ** 20 : undefined,
      cpuLimitMhz: resources?.Cpu.CpuShares || undefined,
      pids: usage?.Pids ? Object.keys(usage.Pids).length : undefined,
    };
  });
}

/** The last exit as a cell: the code, the signal's name, or undefined before any exit. */
export const exitText = (figures: TaskFigures) =>
  figures.exitCode !== undefined ? String(figures.exitCode) : figures.signal;
