/**
 * From a saved task to what its new runner does: re-attach it (it was running, or being stopped,
 * with a handle), start it (it was not running: pending, waiting to restart), or leave it dead. A
 * task saved without a handle (`starting`, or `pending` and `restarting`: the fork may come before
 * the state write of `starting` lands) is looked up by id where the driver can (`inspectTask`: the
 * plugins keep their tasks by id and outlive the agent), so a start the crash cut short is adopted,
 * not started a second time. Where it cannot (the exec driver in process), the agent has the driver
 * kill what is left of the task before it starts (`clearTasks`, create-agent.ts).
 */
import type { RecoveredRunner, RecoveryMode } from '../../../machines/task-runner.machine.js';
import type { TaskDriver, TaskHandle } from '../../drivers/contract.js';
import { StateError } from './errors.js';
import type { SavedTask } from './state-file.js';

/** Runner states whose task may still run: re-attached by handle. */
const LIVE_STATES = new Set(['starting', 'recovering', 'running', 'killing', 'killFailed', 'exited']);
/** Runner states saved without a handle whose task may run all the same (its start cut short). */
const NOT_RUNNING_STATES = new Set(['starting', 'pending', 'restarting']);

export interface RecoveryPlan {
  mode: RecoveryMode;
  runner: RecoveredRunner;
  handle: TaskHandle | undefined;
}

export async function planRecovery(saved: SavedTask, driver: TaskDriver): Promise<RecoveryPlan> {
  const carried = {
    restarts: saved.restarts,
    restartWindow: saved.restartWindow,
    failed: saved.failed,
    ...(saved.lastExit ? { lastExit: saved.lastExit } : {}),
  };
  if (saved.state === 'dead') return { mode: 'dead', runner: carried, handle: undefined };
  let handle: TaskHandle | undefined = LIVE_STATES.has(saved.state) ? saved.handle : undefined;
  if (!handle && NOT_RUNNING_STATES.has(saved.state) && driver.inspectTask) {
    handle = await driver.inspectTask(saved.spec.id).then(
      (status) => status.handle,
      () => undefined, // not found (or cannot tell): it never started
    );
  }
  if (!handle) return { mode: 'start', runner: carried, handle: undefined };
  if (!driver.recoverTask) {
    // Restarting it would run a second copy beside the one that may still be running.
    throw new StateError(
      `task ${saved.spec.id} was running when the last agent ended, and the ${driver.name} driver cannot recover tasks${handle.pid ? ` (it may still run as pid ${handle.pid})` : ''}; nothing was started. Stop it by hand and start the agent with another --data-dir`,
    );
  }
  return {
    mode: 'running',
    runner: { ...carried, ...(handle.driverId ? { driverId: handle.driverId } : {}) },
    handle,
  };
}
