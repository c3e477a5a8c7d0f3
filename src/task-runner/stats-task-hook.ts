import type { StatsHookOutput } from '../../machines/stats-hook.machine.js';
import {
  type CreateStatsHookOptions,
  createStatsHook,
  type StatsHook,
} from '../stats-hook/create-stats-hook.js';
import type {
  ExitedHook,
  PoststartHook,
  PrestartHook,
  RecoverHook,
  ShutdownHook,
  StopHook,
  TaskHookContext,
} from './hooks.js';

export type StatsHookSettings = Omit<
  CreateStatsHookOptions,
  'taskId' | 'stats' | 'updater' | 'logger' | 'parent'
>;

export interface StatsTaskHook
  extends PrestartHook,
    RecoverHook,
    PoststartHook,
    ExitedHook,
    StopHook,
    ShutdownHook {
  /** The stats hook of the current run, if the task has started. */
  readonly current: StatsHook | undefined;
  /** Resolves once the current run's stats hook is terminal (at once if there is none). */
  settled(): Promise<StatsHookOutput | undefined>;
}

/**
 * The stats hook as a lifecycle hook of the task runner: each run of the task gets a fresh stats
 * hook actor in the runner's actor system. It is created at prestart (or at recover, for a task a
 * new agent takes up: Nomad #5936 was a recovered task without stats), outside the runner's
 * transitions (XState expects actors to be created there, not inside a custom action), started at
 * poststart, and ended by exited, stop or shutdown.
 */
export function statsTaskHook(settings: StatsHookSettings = {}): StatsTaskHook {
  return new StatsLifecycleHook(settings);
}

/** A class, not an object of closures with getters (a dictionary-mode object per task). */
class StatsLifecycleHook implements StatsTaskHook {
  readonly name = 'stats';
  current: StatsHook | undefined;

  constructor(private readonly settings: StatsHookSettings) {}

  private create({ task, driver, logger, runner, updater }: TaskHookContext): void {
    this.current?.shutdown();
    // Object.assign, not a spread and more properties: a hidden class per hook (see `withRef`).
    this.current = createStatsHook(
      Object.assign({}, this.settings, {
        taskId: task.id,
        stats: {
          stats: (intervalMs: number, signal: AbortSignal) => driver.taskStats(task.id, intervalMs, signal),
        },
        updater,
        logger,
        parent: runner,
      }),
    );
  }

  prestart(context: TaskHookContext): void {
    this.create(context);
  }

  recover(context: TaskHookContext): void {
    this.create(context);
  }

  poststart(): void {
    this.current?.poststart();
  }

  exited(): void {
    this.current?.exited();
  }

  stop(): void {
    this.current?.shutdown();
  }

  shutdown(): void {
    this.current?.shutdown();
  }

  async settled(): Promise<StatsHookOutput | undefined> {
    return this.current?.done;
  }
}
