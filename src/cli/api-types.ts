/** The parts of the agent's API answers (docs/http-api.md) that the CLI reads. Times are Unix ns. */

export interface ApiTaskEvent {
  Type: string;
  Time: number;
  DisplayMessage: string;
  ExitCode: number;
  Signal: string;
  OOMKilled: boolean;
}

export interface ApiTaskState {
  State: 'pending' | 'running' | 'dead';
  RunnerState: string;
  Failed: boolean;
  Restarts: number;
  StartedAt: string | null;
  Driver: string;
  Events: ApiTaskEvent[];
}

export interface ApiAllocation {
  ID: string;
  Name: string;
  JobID: string;
  JobType: string;
  TaskGroup: string;
  ClientStatus: string;
  TaskStates: Record<string, ApiTaskState>;
  AllocatedResources: { Tasks: Record<string, { Cpu: { CpuShares: number }; Memory: { MemoryMB: number } }> };
}

/** A figure the agent did not measure is left out of its JSON (the first sample has no `Percent`). */
export interface ApiResourceUsage {
  CpuStats: {
    Measured: string[];
    Percent?: number;
    TotalTicks?: number;
    UserMode?: number;
    SystemMode?: number;
  };
  MemoryStats: { Measured: string[]; RSS?: number; Usage?: number; Swap?: number };
}

export interface ApiTaskUsage {
  Pids: Record<string, unknown> | null;
  ResourceUsage: ApiResourceUsage;
  Timestamp: number;
}

export interface ApiAllocationStats {
  ResourceUsage: ApiResourceUsage;
  Tasks: Record<string, ApiTaskUsage>;
  Timestamp: number;
}
