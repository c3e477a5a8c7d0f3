/**
 * Task lifecycle hooks, by phase, as Nomad declares them: a hook implements only the phases it needs,
 * and the runner calls hooks by phase, never by name. A new hook (log shipping, a health check) is a
 * new object passed in `hooks`, not an edit of the runner.
 */
import type { AnyActorRef } from 'xstate';
import type { TaskDriver, TaskSpec } from '../drivers/contract.js';
import type { TaskResourceUsage } from '../drivers/usage.js';
import type { Logger } from '../runtime/logger.js';

/** What every hook call gets. */
export interface TaskHookContext {
  task: TaskSpec;
  driver: TaskDriver;
  /** Bound to `task` (and `alloc_id`). */
  logger: Logger;
  /** The task runner's actor: pass it as `parent` to join its actor system (and the inspector's tree). */
  runner: AnyActorRef;
  /** The runner's sample sink. */
  updater: { updateStats(sample: TaskResourceUsage): void };
}

export interface TaskHook {
  readonly name: string;
}

/** Before the driver starts the task; may do async work (the start waits for it). */
export interface PrestartHook extends TaskHook {
  prestart(context: TaskHookContext): Promise<void> | void;
}

/**
 * Instead of prestart, for a task an earlier agent started and this one takes up (nothing is
 * started, so prestart work such as fetching artifacts is not done again); may do async work.
 */
export interface RecoverHook extends TaskHook {
  recover(context: TaskHookContext): Promise<void> | void;
}

/** The task is running (started, or recovered). */
export interface PoststartHook extends TaskHook {
  poststart(context: TaskHookContext): void;
}

/** The task exited (called before the driver destroys it). */
export interface ExitedHook extends TaskHook {
  exited(context: TaskHookContext): void;
}

/** The task is dead and will not start again. */
export interface StopHook extends TaskHook {
  stop(context: TaskHookContext): void;
}

/** The agent is leaving; the task may live on. */
export interface ShutdownHook extends TaskHook {
  shutdown(context: TaskHookContext): void;
}

export type AnyTaskHook = TaskHook &
  Partial<
    Pick<PrestartHook, 'prestart'> &
      Pick<RecoverHook, 'recover'> &
      Pick<PoststartHook, 'poststart'> &
      Pick<ExitedHook, 'exited'> &
      Pick<StopHook, 'stop'> &
      Pick<ShutdownHook, 'shutdown'>
  >;

export type HookPhaseName = 'prestart' | 'recover' | 'poststart' | 'exited' | 'stop' | 'shutdown';
