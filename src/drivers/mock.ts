/**
 * A scriptable driver for tests and demos. Each task follows a script: how long it runs, how it
 * exits, whether starting fails, and what each `taskStats` call does (emit N samples then end, fail
 * to open, throw mid-stream, hang, not implemented). Every call is counted and recorded.
 */
import { untilAborted } from './abortable-sleep.js';
import type { ExitResult, StopOptions, TaskDriver, TaskHandle, TaskSpec, TaskStatus } from './contract.js';
import {
  PluginShutdownError,
  RecoverableError,
  StatsNotImplementedError,
  TaskNotFoundError,
} from './errors.js';
import { sampleTicker } from './sample-clock.js';
import type { TaskResourceUsage } from './usage.js';

/** An error by name, so scripts can live in job files; or any thrown value. */
export type MockError =
  | { error: 'recoverable' | 'unrecoverable' | 'plugin-shutdown' | 'not-found' | 'other'; message?: string }
  | Error;

/** What one `taskStats` call does. The last entry of a task's list repeats. */
export type MockStatsStep =
  /** Open, emit `samples` (default: until the task exits), then end the stream or throw. */
  | { samples?: number; thenThrow?: MockError }
  /** Opening fails. */
  | { openError: MockError }
  /** Opening never settles until aborted. */
  | { hang: true }
  /** Opens, emits `samples`, then never yields again until aborted. */
  | { samples: number; thenHang: true }
  /** The driver has no stats. */
  | { notImplemented: true };

export interface MockTaskScript {
  /** Exit on its own after this long; default: run until stopped. */
  runForMs?: number;
  exitCode?: number;
  /** Exit code of each run in turn (the last repeats); overrides `exitCode`. */
  exitCodes?: number[];
  oomKilled?: boolean;
  /** The first `startFailures` starts fail with `startError` (default: every start, when set). */
  startError?: MockError;
  startFailures?: number;
  /** Starting takes this long (an image pull, a slow exec). */
  startDelayMs?: number;
  /** Ignore the stop signal, so `stopTask` has to kill after its timeout. */
  ignoreStopSignal?: boolean;
  stats?: MockStatsStep[];
  /** CPU percent (of one core) and RSS bytes the samples report. */
  cpuPercent?: number;
  rssBytes?: number;
}

export interface MockDriverOptions {
  /** Scripts by task name; a task's own `config` is merged over it. */
  tasks?: Record<string, MockTaskScript>;
  /** The script for tasks with none. */
  defaults?: MockTaskScript;
  /** Clock for sample timestamps. Default Date.now. */
  now?: () => number;
}

export type MockDriverMethod =
  | 'startTask'
  | 'waitTask'
  | 'stopTask'
  | 'destroyTask'
  | 'taskStats'
  | 'signalTask'
  | 'inspectTask'
  | 'recoverTask';

export interface MockCall {
  method: MockDriverMethod;
  taskId: string;
  /** From the driver's clock. */
  at: number;
}

export interface MockDriver extends TaskDriver {
  /** How many times each method was called. */
  readonly calls: Record<MockDriverMethod, number>;
  /** Every call in order. */
  readonly history: readonly MockCall[];
  /** `taskStats` calls not yet settled, and streams open right now. */
  readonly inFlightStatsCalls: number;
  readonly openStreams: number;
  /** Tasks started and not yet destroyed. */
  readonly liveTasks: number;
  /** Ends a running task as if it exited on its own. */
  exit(taskId: string, result?: Partial<ExitResult>): void;
}

interface MockTask {
  spec: TaskSpec;
  startedAt: number;
  script: MockTaskScript;
  statsCalls: number;
  exit?: ExitResult;
  timer?: NodeJS.Timeout;
  /**
   * Called once when the task exits: its pending `waitTask`s and open streams. A set of callbacks,
   * not a promise and an `AbortController` per task: at 10,000 tasks those were ~1 KiB a task and
   * an `AbortSignal` to make and abort at every start and stop (docs/benchmarks.md, section 10).
   */
  onExit: Set<(result: ExitResult) => void>;
}

export function toMockError(error: MockError): Error {
  if (error instanceof Error) return error;
  const message = error.message ?? `mock ${error.error} error`;
  switch (error.error) {
    case 'recoverable':
      return new RecoverableError(message, true);
    case 'unrecoverable':
      return new RecoverableError(message, false);
    case 'plugin-shutdown':
      return new PluginShutdownError();
    case 'not-found':
      return new TaskNotFoundError(message);
    case 'other':
      return new Error(message);
  }
}

export function createMockDriver(options: MockDriverOptions = {}): MockDriver {
  const now = options.now ?? Date.now;
  const tasks = new Map<string, MockTask>();
  const startsById = new Map<string, number>();
  const runsById = new Map<string, number>();
  const calls: Record<MockDriverMethod, number> = {
    startTask: 0,
    waitTask: 0,
    stopTask: 0,
    destroyTask: 0,
    taskStats: 0,
    signalTask: 0,
    inspectTask: 0,
    recoverTask: 0,
  };
  const history: MockCall[] = [];
  let inFlightStatsCalls = 0;
  let openStreams = 0;

  const record = (method: MockDriverMethod, taskId: string) => {
    calls[method] += 1;
    history.push({ method, taskId, at: now() });
  };
  const find = (taskId: string) => {
    const task = tasks.get(taskId);
    if (!task) throw new TaskNotFoundError(taskId);
    return task;
  };
  const finish = (task: MockTask, result: ExitResult) => {
    if (task.exit) return;
    clearTimeout(task.timer);
    task.exit = result;
    for (const callback of task.onExit) callback(result);
    task.onExit.clear();
  };
  /** Calls `callback` when `task` exits (at once if it has), until the returned function is called. */
  const whenExited = (task: MockTask, callback: (result: ExitResult) => void): (() => void) => {
    if (task.exit) {
      callback(task.exit);
      return () => {};
    }
    task.onExit.add(callback);
    return () => void task.onExit.delete(callback);
  };

  const sampleOf = (script: MockTaskScript): TaskResourceUsage => {
    const percent = script.cpuPercent ?? 10;
    const rss = script.rssBytes ?? 50 * 1024 * 1024;
    return {
      timestamp: now(),
      resourceUsage: {
        cpu: {
          percent,
          userMode: percent * 0.8,
          systemMode: percent * 0.2,
          totalTicks: 0,
          throttledPeriods: 0,
          throttledTime: 0,
          measured: ['Percent', 'User Mode', 'System Mode'],
        },
        memory: {
          rss,
          cache: 0,
          swap: 0,
          mappedFile: 0,
          usage: rss,
          maxUsage: rss,
          kernelUsage: 0,
          kernelMaxUsage: 0,
          measured: ['RSS', 'Usage', 'Max Usage'],
        },
      },
    };
  };

  async function* stream(
    task: MockTask,
    step: { samples?: number; thenThrow?: MockError; thenHang?: true },
    intervalMs: number,
    signal: AbortSignal,
  ): AsyncGenerator<TaskResourceUsage> {
    openStreams += 1;
    // The shared sample clock (one timer per interval), as the exec driver samples; one ticker for
    // the stream's life, so its signal is watched once, not once per sample. The task's exit closes
    // it, so `ticker.ended` is the stream's stop check.
    const ticker = sampleTicker(signal);
    let endHang: (() => void) | undefined;
    const unwatch = whenExited(task, () => {
      ticker.close();
      endHang?.();
    });
    try {
      const count = step.samples ?? Number.POSITIVE_INFINITY;
      for (let i = 0; i < count; i++) {
        if (i > 0 && !(await ticker.next(intervalMs))) return;
        if (ticker.ended) return;
        yield sampleOf(task.script);
      }
      if (step.thenThrow) throw toMockError(step.thenThrow);
      if (step.thenHang && !ticker.ended) {
        await new Promise<void>((resolve) => {
          endHang = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
    } finally {
      unwatch();
      ticker.close();
      openStreams -= 1;
    }
  }

  const scriptOf = (spec: TaskSpec): MockTaskScript => ({
    ...options.defaults,
    ...options.tasks?.[spec.name],
    ...(spec.config as MockTaskScript),
  });

  const addTask = (spec: TaskSpec, script: MockTaskScript, startedAt: number): MockTask => {
    const task: MockTask = {
      spec,
      startedAt,
      script,
      statsCalls: 0,
      onExit: new Set(),
    };
    tasks.set(spec.id, task);
    if (script.runForMs !== undefined) {
      const runs = (runsById.get(spec.id) ?? 0) + 1;
      runsById.set(spec.id, runs);
      const exitCode =
        script.exitCodes?.[Math.min(runs, script.exitCodes.length) - 1] ?? script.exitCode ?? 0;
      task.timer = setTimeout(
        () =>
          finish(task, {
            exitCode,
            signal: null,
            oomKilled: script.oomKilled ?? false,
          }),
        script.runForMs,
      );
    }
    return task;
  };

  const driver: MockDriver = {
    name: 'mock',
    capabilities: { stats: true, sendSignals: true, fsIsolation: 'none' },
    calls,
    history,
    get inFlightStatsCalls() {
      return inFlightStatsCalls;
    },
    get openStreams() {
      return openStreams;
    },
    get liveTasks() {
      return tasks.size;
    },

    async startTask(spec: TaskSpec): Promise<TaskHandle> {
      record('startTask', spec.id);
      const script = scriptOf(spec);
      const starts = (startsById.get(spec.id) ?? 0) + 1;
      startsById.set(spec.id, starts);
      if (script.startDelayMs) await new Promise((resolve) => setTimeout(resolve, script.startDelayMs));
      if (script.startError && starts <= (script.startFailures ?? Number.POSITIVE_INFINITY)) {
        throw toMockError(script.startError);
      }
      return { taskId: spec.id, startedAt: addTask(spec, script, now()).startedAt };
    },

    async waitTask(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
      record('waitTask', taskId);
      const task = find(taskId);
      if (task.exit) return task.exit;
      if (signal?.aborted) throw signal.reason;
      // One promise per wait, settled by the exit or by the signal, whichever comes first.
      return new Promise<ExitResult>((resolve, reject) => {
        const onAbort = () => {
          unwatch();
          reject(signal?.reason);
        };
        const unwatch = whenExited(task, (result) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(result);
        });
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },

    async stopTask(taskId: string, { timeoutMs, signal = 'SIGTERM' }: StopOptions): Promise<void> {
      record('stopTask', taskId);
      const task = find(taskId);
      if (task.exit) return;
      if (task.script.ignoreStopSignal) {
        await new Promise((resolve) => setTimeout(resolve, timeoutMs));
        return finish(task, { exitCode: null, signal: 'SIGKILL', oomKilled: false });
      }
      finish(task, { exitCode: null, signal, oomKilled: false });
    },

    async destroyTask(taskId: string, { force = false } = {}): Promise<void> {
      record('destroyTask', taskId);
      const task = tasks.get(taskId);
      if (!task) return;
      if (!task.exit && !force) throw new Error(`cannot destroy running task ${taskId} without force`);
      finish(task, { exitCode: null, signal: 'SIGKILL', oomKilled: false });
      tasks.delete(taskId);
    },

    async taskStats(taskId: string, intervalMs: number, signal: AbortSignal) {
      record('taskStats', taskId);
      const task = find(taskId);
      if (task.exit) throw new RecoverableError('task exited', false);
      const steps = task.script.stats ?? [{}];
      const step = steps[Math.min(task.statsCalls, steps.length - 1)] ?? {};
      task.statsCalls += 1;
      if ('notImplemented' in step) throw new StatsNotImplementedError();
      if ('openError' in step) throw toMockError(step.openError);
      if ('hang' in step) {
        inFlightStatsCalls += 1;
        try {
          return await untilAborted(signal);
        } finally {
          inFlightStatsCalls -= 1;
        }
      }
      return stream(task, step, intervalMs, signal);
    },

    async signalTask(taskId: string, signal: NodeJS.Signals): Promise<void> {
      record('signalTask', taskId);
      const task = find(taskId);
      // The mock's tasks die of the terminating signals and shrug off the rest.
      if (
        signal === 'SIGKILL' ||
        ((signal === 'SIGTERM' || signal === 'SIGINT') && !task.script.ignoreStopSignal)
      ) {
        finish(task, { exitCode: null, signal, oomKilled: false });
      }
    },

    async inspectTask(taskId: string): Promise<TaskStatus> {
      record('inspectTask', taskId);
      const task = find(taskId);
      return {
        handle: { taskId, startedAt: task.startedAt },
        state: task.exit ? 'exited' : 'running',
        ...(task.exit ? { exit: task.exit } : {}),
      };
    },

    /**
     * The mock's tasks live in memory, so a new mock (a relaunched mock plugin) re-attaches a task
     * by taking it up again from its spec: it runs on as if it had never been away.
     */
    async recoverTask(spec: TaskSpec, handle: TaskHandle): Promise<void> {
      record('recoverTask', spec.id);
      if (!tasks.has(spec.id)) addTask(spec, scriptOf(spec), handle.startedAt);
    },

    exit(taskId, result = {}) {
      finish(find(taskId), { exitCode: 0, signal: null, oomKilled: false, ...result });
    },
  };
  return driver;
}
