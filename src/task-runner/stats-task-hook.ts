import type { StatsHookOutput } from '../../machines/stats-hook.machine.ts';
import {
  type CreateStatsHookOptions,
  createStatsHook,
  type StatsHook,
} from '../stats-hook/create-stats-hook.ts';
import type { ExitedHook, PoststartHook, ShutdownHook, StopHook, TaskHookContext } from './hooks.ts';

export type StatsHookSettings = Omit<
  CreateStatsHookOptions,
  'taskId' | 'stats' | 'updater' | 'logger' | 'parent'
>;

export interface StatsTaskHook extends PoststartHook, ExitedHook, StopHook, ShutdownHook {
  /** The stats hook of the current run, if the task has started. */
  readonly current: StatsHook | undefined;
  /** Resolves once the current run's stats hook is terminal (at once if there is none). */
  settled(): Promise<StatsHookOutput | undefined>;
}

/**
 * The stats hook as a lifecycle hook of the task runner: each run of the task (each poststart) gets
 * a fresh stats hook actor in the runner's actor system; exited/stop/shutdown end it.
 */
export function statsTaskHook(settings: StatsHookSettings = {}): StatsTaskHook {
  let current: StatsHook | undefined;
  return {
    name: 'stats',
    get current() {
      return current;
    },
    poststart({ task, driver, logger, runner, updater }: TaskHookContext) {
      current?.shutdown();
      current = createStatsHook({
        ...settings,
        taskId: task.id,
        stats: { stats: (intervalMs, signal) => driver.taskStats(task.id, intervalMs, signal) },
        updater,
        logger,
        parent: runner,
      });
      current.poststart();
    },
    exited() {
      current?.exited();
    },
    stop() {
      current?.shutdown();
    },
    shutdown() {
      current?.shutdown();
    },
    async settled() {
      return current?.done;
    },
  };
}
