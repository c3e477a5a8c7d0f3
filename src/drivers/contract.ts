/**
 * The driver contract: what a task runner and a stats hook need from whatever runs tasks
 * (processes, containers, a script). Every wait takes an `AbortSignal`.
 */
import type { TaskResourceUsage } from './usage.js';

/** What to run. `config` is the driver's own (argv for exec, image for docker, a script for mock). */
export interface TaskSpec {
  /** Unique id of this task instance, e.g. `<alloc id>/<task name>`. */
  id: string;
  /** The task's name within its group. */
  name: string;
  /** The allocation (group instance) the task belongs to, when there is one. */
  allocId?: string;
  config: Readonly<Record<string, unknown>>;
  env?: Readonly<Record<string, string>>;
  resources?: TaskResources;
  /** How the task's output files are rotated and retained (drivers that keep files: exec). */
  logs?: TaskLogPolicy;
}

/** Nomad's `logs { max_files, max_file_size }`, per stream. */
export interface TaskLogPolicy {
  maxFiles: number;
  maxFileSizeBytes: number;
}

export interface TaskResources {
  /** CPU share in MHz (Nomad's `cpu`). */
  cpuMhz?: number;
  /** Memory limit in MiB. */
  memoryMb?: number;
  /** Hard CPU cap in cores (exec: a CFS quota of that many cores). */
  cores?: number;
}

export interface TaskHandle {
  taskId: string;
  /** Unix ms. */
  startedAt: number;
  /** The process id, where there is one. */
  pid?: number;
  /** The driver's own id for the task (a container id), where there is one. */
  driverId?: string;
  /**
   * What the driver needs to re-attach the task in a later process (Nomad's `DriverState`): plain
   * JSON, kept with the handle by whoever saves it (the plugin host, the agent's state) and given
   * back to `recoverTask` as it was. The exec driver's is `ExecDriverState`.
   */
  driverState?: Readonly<Record<string, unknown>>;
}

/**
 * The exec driver's `TaskHandle.driverState`: what Nomad's exec handle carries. `startTime` tells the
 * task's process from a later one that got the same pid.
 */
export interface ExecDriverState {
  /** Field 22 of `/proc/<pid>/stat` (clock ticks after boot) when the task started. */
  startTime: number;
  /** The task's cgroup directories: v1 one per controller, v2 one; absent without a cgroup. */
  cgroup?: { version: 'v1'; dirs: Readonly<Record<string, string>> } | { version: 'v2'; dir: string };
  stdoutPath: string;
  stderrPath: string;
}

export interface ExitResult {
  /** null when the task was ended by a signal. */
  exitCode: number | null;
  /** The signal's name (`SIGKILL`), or null. */
  signal: string | null;
  oomKilled: boolean;
  /** Set when waiting itself failed. */
  error?: Error;
  /**
   * The task has exited but nobody could read its status: a re-attached task whose driver was not
   * its parent (exec after its plugin was killed). `exitCode` and `signal` are then null, and the
   * exit counts as a failure (the restart policy applies).
   */
  exitCodeUnknown?: boolean;
  /**
   * The task's final sample, from the kernel after it ended (exact CPU times), when the driver has
   * one: the runner publishes it as the task's last sample before marking it exited.
   */
  usage?: TaskResourceUsage;
}

export interface DriverCapabilities {
  /** The driver streams resource usage (`taskStats` does not throw `StatsNotImplementedError`). */
  stats: boolean;
  /** `stopTask` honours the signal it is given. */
  sendSignals: boolean;
  /** How the task's filesystem is isolated. */
  fsIsolation: 'none' | 'chroot' | 'image';
}

export interface StopOptions {
  /** How long to wait after the stop signal before killing the task for good. */
  timeoutMs: number;
  /** The stop signal, `SIGTERM` by default. */
  signal?: NodeJS.Signals;
}

export interface TaskDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /** Starts the task. Rejects with a `RecoverableError` where a retry may help. */
  startTask(task: TaskSpec): Promise<TaskHandle>;
  /** Resolves when the task has exited. Aborting `signal` stops waiting, not the task. */
  waitTask(taskId: string, signal?: AbortSignal): Promise<ExitResult>;
  /** Sends the stop signal, waits up to `timeoutMs`, then kills; resolves once the task is gone. */
  stopTask(taskId: string, options: StopOptions): Promise<void>;
  /** Forgets the task and frees what it held; `force` kills it first if it still runs. */
  destroyTask(taskId: string, options?: { force?: boolean }): Promise<void>;
  /**
   * Opens a stream of samples, one per `intervalMs`. The promise rejects if the stream cannot be
   * opened (`StatsNotImplementedError`, `TaskNotFoundError`, `RecoverableError`, …); the stream ends
   * when the task is gone; aborting `signal` ends it at once.
   */
  taskStats(
    taskId: string,
    intervalMs: number,
    signal: AbortSignal,
  ): Promise<AsyncIterable<TaskResourceUsage>>;
  /** Sends a signal to the task (optional: drivers without it answer "not implemented" over RPC). */
  signalTask?(taskId: string, signal: NodeJS.Signals): Promise<void>;
  /** The task's handle and whether it still runs. Rejects with `TaskNotFoundError`. */
  inspectTask?(taskId: string): Promise<TaskStatus>;
  /**
   * Re-attaches a task this driver, or an earlier process of it, started: `spec` and `handle` are
   * what `startTask` was given and returned (the plugin host keeps them; persisted agent state will
   * too). Rejects with `TaskNotFoundError` when the task is gone for good.
   */
  recoverTask?(spec: TaskSpec, handle: TaskHandle): Promise<void>;
  /**
   * Kills what earlier runs of these tasks left running that no driver watches, before they are
   * started again: an agent killed after the driver started a task and before the state write that
   * saved its handle leaves a task no state names. Resolves with the pids killed, by task id (a task
   * with nothing left is absent). The driver must not run these tasks itself.
   */
  clearTasks?(specs: readonly TaskSpec[]): Promise<Record<string, number[]>>;
}

/** What `inspectTask` reports. */
export interface TaskStatus {
  handle: TaskHandle;
  state: 'running' | 'exited';
  /** Set when `state` is `exited`. */
  exit?: ExitResult;
}

/** `TaskSpec.config` of the exec driver. */
export interface ExecTaskConfig {
  command: string;
  args?: string[];
  /** Working directory; default the agent's. */
  cwd?: string;
}

/** `TaskSpec.config` of the docker driver. `resources.memoryMb` and `resources.cpuMhz` become limits. */
export interface DockerTaskConfig {
  image: string;
  command?: string[];
  entrypoint?: string[];
  /** CPU limit in cores (Docker's `--cpus`), e.g. 0.5. */
  cpus?: number;
}
