/**
 * The task runner: the parent actor of one task. It starts the task through the driver, runs the
 * lifecycle hooks by phase (the stats hook is one of them), waits for the exit, applies the restart
 * policy and cleans up.
 *
 *   pending ─start─▶ starting ─started─▶ running ─exit─▶ exited ─destroyed─▶ restarting ─delay─▶ starting
 *   pending ─recover─▶ recovering ─re-attached─▶ running     (a new agent adopts a task that kept running)
 *                         │ cannot re-attach ─▶ exited.deciding (the restart policy)
 *                       │ start error ─────────────────────────────▶ restarting | dead      └─▶ dead
 *   kill (any live state) ─▶ killing ─stopped─▶ exited ─▶ dead          shutdown ─▶ detached
 *   restart (running) ─▶ killing ─stopped─▶ exited ─▶ restarting (no delay) ─▶ starting
 *   killing: (stopping ⇄ retrying) ─no retry fits─▶ killFailed ─▶ dead (failed)
 *
 * On exit the `exited` hooks run before `destroyTask` is called, so no hook ever sees its task vanish.
 * A stop that fails (the engine is down) is retried with backoff until the kill deadline, as Nomad
 * retries the kill; a task that cannot be confirmed stopped by then is said to be so (a failing
 * `Killing` event, an `error` log, `failed`), never reported as killed.
 * A runner made for a task an earlier agent started (`recovered` input: its restart count and window)
 * is sent `recover` instead of `start`: its `recovering` state re-attaches the task through the driver's handle (`recoverTask`)
 * and enters `running` without starting anything, so its hooks get `poststart` again; its restart
 * count and window are the earlier agent's. A task that cannot be re-attached (gone, pid reused) is
 * a failed recovery the restart policy handles, as Nomad does. A task saved as waiting to restart
 * (or never started) is started; one saved as dead stays dead.
 * Pure: the driver calls and the hooks are named effects that `src/task-runner/` provides.
 */
import { type ActorRefFrom, assertEvent, assign, fromPromise, setup } from 'xstate';
import { type BackoffOptions, retryDelayMs } from './backoff.js';
import { DRIVER_ERROR_CODES, describeError } from './open-error.js';
import {
  DEFAULT_RESTART_POLICIES,
  decideRestart,
  type JobType,
  type RestartDecision,
  type RestartPolicy,
  type RestartWindow,
} from './restart-policy.js';

/** Lifecycle phases whose hooks the runner calls synchronously (prestart hooks run inside `startTask`). */
export type HookPhase = 'poststart' | 'exited' | 'stop' | 'shutdown';

export type TaskEventType =
  | 'Received'
  | 'Recovered'
  | 'Task Setup'
  | 'Started'
  | 'Terminated'
  | 'Restarting'
  | 'Not Restarting'
  | 'Killing'
  | 'Killed'
  | 'Restart Signaled'
  | 'Driver Failure';

export interface TaskEventParams {
  type: TaskEventType;
  message: string;
  exitCode?: number | null;
  signal?: string | null;
  oomKilled?: boolean;
  restartInMs?: number;
  failsTask?: boolean;
}

/** What `waitTask` reports. */
export interface TaskExit {
  exitCode: number | null;
  signal: string | null;
  oomKilled: boolean;
  error?: string;
}

export interface TaskRunnerInput {
  taskId: string;
  jobType?: JobType;
  restartPolicy?: Partial<RestartPolicy>;
  /** How long `stopTask` waits after the stop signal before killing. Default 5 s (Nomad's kill_timeout). */
  killTimeoutMs?: number;
  /**
   * The kill's deadline: failed stops are retried while the backoff between them fits in it; then the
   * task is reported as not confirmed stopped. A `kill` event's own `deadlineMs` wins. A stop that
   * hangs is not cut short here (the agent's shutdown deadline is). Default `killTimeoutMs` + 30 s.
   */
  killDeadlineMs?: number;
  /** Backoff between failed stops: min(base × 2ⁿ, cap). Default 500 ms, 5 s. */
  killRetry?: Partial<Pick<BackoffOptions, 'baseMs' | 'capMs'>>;
  /** What an earlier agent saved of this task: the runner is then sent `recover` rather than `start`. */
  recovered?: RecoveredRunner;
}

/**
 * What a new agent does with a saved task. `running`: it was running (or being stopped) with a
 * handle: re-attach it. `start`: it was not running (pending, or waiting to restart): start it.
 * `dead`: it ended; nothing to do.
 */
export type RecoveryMode = 'running' | 'start' | 'dead';

/** The part of a runner's state an agent saves, so the next one carries on (docs/recovery.md). */
export interface RecoveredRunner {
  restarts: number;
  restartWindow: RestartWindow | undefined;
  driverId?: string | undefined;
  failed?: boolean | undefined;
  lastExit?: TaskExit | undefined;
}

export interface TaskRunnerContext {
  taskId: string;
  jobType: JobType;
  restartPolicy: RestartPolicy;
  killTimeoutMs: number;
  killDeadlineMs: number;
  killRetry: { baseMs: number; capMs: number };
  /** Failed stops of the current kill, the backoff scheduled after them (ms), and the last error. */
  stopFailures: number;
  stopBackoffMs: number;
  stopError: string | undefined;
  /** The driver's id of the task (the container id), once started: named when a kill fails. */
  driverId: string | undefined;
  restartWindow: RestartWindow | undefined;
  restarts: number;
  lastExit: TaskExit | undefined;
  decision: RestartDecision | undefined;
  killRequested: boolean;
  /** A user asked for a restart (not the policy): the next start comes at once. */
  restartRequested: boolean;
  failed: boolean;
  /** The final state, once reached: 'dead' until `detached` (the other final state) says otherwise. */
  outcome: 'dead' | 'detached';
  /** What an earlier agent saved of the task (see `RecoveredRunner`). */
  recovered: RecoveredRunner | undefined;
}

export interface TaskRunnerOutput {
  taskId: string;
  state: 'dead' | 'detached';
  failed: boolean;
  restarts: number;
  lastExit: TaskExit | undefined;
}

export type TaskRunnerEvent =
  | { type: 'start' }
  /** `deadlineMs`: this kill's deadline (see `killDeadlineMs`). */
  | { type: 'kill'; deadlineMs?: number }
  | { type: 'shutdown' }
  /** Stop the running task and start it again at once, outside the restart policy (as `nomad alloc restart`). */
  | { type: 'restart' }
  /** Carry on with a task an earlier agent saved (counts in the `recovered` input): re-attach, start, or stay dead. */
  | { type: 'recover'; mode: RecoveryMode };

/** The runner's log texts: not behaviour, so mutation testing leaves them alone (levels are mutated). */
// Stryker disable StringLiteral: log texts
const LOG_TEXT = {
  startFailed: 'task failed to start',
  destroyFailed: 'destroying the task failed',
  recoveryFailed: 'task could not be recovered after the agent restarted; the restart policy decides',
} as const;
// Stryker restore StringLiteral

const isSuccess = (exit: TaskExit) => exit.exitCode === 0 && exit.signal === null && !exit.error;

/** The delay before the next stop, after the failures so far: min(base × 2ⁿ, cap). */
const nextStopRetryMs = (context: TaskRunnerContext) => retryDelayMs(context.stopFailures, context.killRetry);

const exitMessage = (exit: TaskExit) =>
  exit.error
    ? `Wait failed: ${exit.error}`
    : `Exit Code: ${exit.exitCode ?? 'none'}${exit.signal ? `, Signal: ${exit.signal}` : ''}${exit.oomKilled ? ', OOM Killed' : ''}`;

/**
 * The event, narrowed to `type`, for the actions and guards of one event's transitions (`requestKill`
 * is on `kill` only, the recover guards on `recover`): a plain `event.type ===` test would be a branch
 * never taken, and `assertEvent` throws if a transition ever wires them to another event.
 */
const eventOf = <T extends TaskRunnerEvent['type']>(event: TaskRunnerEvent, type: T) => {
  assertEvent(event, type);
  return event;
};

/**
 * `decide`'s params after a failed start, recovery or wait, or an exit that is not a success.
 * `decideRestart` tells 'success' from anything else, so `{}` or `''` here decides the same: those
 * mutants are equivalent, and each would cost a whole run of the group's tests.
 */
// Stryker disable next-line ObjectLiteral,StringLiteral: equivalent (see above)
const FAILURE = { outcome: 'failure' } as const;

export const taskRunnerMachine = setup({
  // Stryker disable next-line ObjectLiteral: `types` exists for the compiler only (equivalent at run time)
  types: {
    input: {} as TaskRunnerInput,
    context: {} as TaskRunnerContext,
    events: {} as TaskRunnerEvent,
    output: {} as TaskRunnerOutput,
  },
  actors: {
    /** Effect: prestart hooks, then `driver.startTask`; resolves with the task handle's driver id. */
    startTask: fromPromise<{ driverId?: string }, { taskId: string }>(async () => {
      throw new Error('startTask is provided by src/task-runner');
    }),
    /** Effect: `driver.waitTask`; resolves with the exit. */
    waitTask: fromPromise<TaskExit, { taskId: string }>(async () => {
      throw new Error('waitTask is provided by src/task-runner');
    }),
    /** Effect: `driver.stopTask` (stop signal, timeout, then kill); resolves with the exit. */
    stopTask: fromPromise<TaskExit, { taskId: string; timeoutMs: number }>(async () => {
      throw new Error('stopTask is provided by src/task-runner');
    }),
    /** Effect: `driver.destroyTask`. */
    destroyTask: fromPromise<void, { taskId: string }>(async () => {
      throw new Error('destroyTask is provided by src/task-runner');
    }),
    /** Effect: `driver.recoverTask` with the saved handle; rejects when the task cannot be re-attached. */
    recoverTask: fromPromise<void, { taskId: string }>(async () => {
      throw new Error('recoverTask is provided by src/task-runner');
    }),
  },
  actions: {
    /** Effect: call every hook of a phase. */
    runHooks: (_, _params: { phase: HookPhase }) => {},
    /** Effect: record and publish a task event. */
    taskEvent: (_, _params: TaskEventParams) => {},
    /** Effect: a structured log line. */
    log: (
      _,
      _params: { level: 'debug' | 'info' | 'warn' | 'error'; msg: string; error?: string; driverId?: string },
    ) => {},
    recordExit: assign((_, params: { exit: TaskExit }) => ({ lastExit: params.exit })),
    /** Applies the restart policy to the exit (or start failure) that just happened. */
    decide: assign(({ context }, params: { outcome: 'success' | 'failure' }) => {
      const decision = decideRestart(
        context.restartPolicy,
        context.jobType,
        params.outcome,
        context.restartWindow,
        Date.now(),
      );
      return decision.restart
        ? { decision, restartWindow: decision.window }
        : { decision, failed: decision.failed };
    }),
    decideNotToRestart: assign((_, params: { failed: boolean; message: string }) => ({
      decision: { restart: false, failed: params.failed, message: params.message } as const,
      failed: params.failed,
    })),
    /** A kill was asked; its own deadline, if it gave one, replaces the default. */
    requestKill: assign(({ context, event }) => ({
      killRequested: true,
      killDeadlineMs: eventOf(event, 'kill').deadlineMs ?? context.killDeadlineMs,
    })),
    recordStopFailure: assign(({ context }, params: { error: string }) => ({
      stopFailures: context.stopFailures + 1,
      stopBackoffMs: context.stopBackoffMs + nextStopRetryMs(context),
      stopError: params.error,
    })),
    recordKillFailure: assign(({ context }) => ({
      failed: true,
      lastExit: {
        exitCode: null,
        signal: null,
        oomKilled: false,
        error: `not confirmed stopped: ${context.stopError}`,
      },
    })),
    /** Each kill (or asked restart) gets its own retries: a restart's failed stops do not count against a later kill. */
    beginStop: assign({ stopFailures: 0, stopBackoffMs: 0, stopError: undefined }),
    requestRestart: assign({ restartRequested: true }),
    countRestart: assign(({ context }) => ({ restarts: context.restarts + 1, restartRequested: false })),
  },
  guards: {
    isRecoverableStartError: (_, params: { error: unknown }) => {
      const { code, recoverable } = (params.error ?? {}) as { code?: unknown; recoverable?: unknown };
      return (
        (code === DRIVER_ERROR_CODES.recoverable && recoverable === true) ||
        code === DRIVER_ERROR_CODES.pluginShutdown
      );
    },
    /** The stop failed because the driver knows no such task: nothing of it runs. */
    isTaskNotFound: (_, params: { error: unknown }) =>
      (params.error as { code?: unknown } | undefined)?.code === DRIVER_ERROR_CODES.taskNotFound,
    /** Another stop fits in the kill deadline: the backoff so far plus the next delay. */
    stopRetryFits: ({ context }) =>
      context.stopBackoffMs + nextStopRetryMs(context) <= context.killDeadlineMs,
    // Stryker disable next-line OptionalChaining: it runs in `exited.deciding`, after `decide` set the decision
    willRestart: ({ context }) => !context.killRequested && context.decision?.restart === true,
    killRequested: ({ context }) => context.killRequested,
    restartRequested: ({ context }) => context.restartRequested,
    recoversRunning: ({ event }) => eventOf(event, 'recover').mode === 'running',
    recoversStart: ({ event }) => eventOf(event, 'recover').mode === 'start',
    recoversDead: ({ event }) => eventOf(event, 'recover').mode === 'dead',
  },
  delays: {
    restartDelay: ({ context }) =>
      // Stryker disable next-line OptionalChaining: it runs in `restarting`, after `decide` set the decision
      !context.restartRequested && context.decision?.restart ? context.decision.delayMs : 0,
    stopRetryDelay: ({ context }) => retryDelayMs(context.stopFailures - 1, context.killRetry),
  },
}).createMachine({
  id: 'taskRunner',
  context: ({ input }) => {
    const jobType = input.jobType ?? 'service';
    const killTimeoutMs = input.killTimeoutMs ?? 5000;
    const recovered = input.recovered;
    return {
      taskId: input.taskId,
      jobType,
      restartPolicy: { ...DEFAULT_RESTART_POLICIES[jobType], ...input.restartPolicy },
      killTimeoutMs,
      killDeadlineMs: input.killDeadlineMs ?? killTimeoutMs + 30_000,
      killRetry: { baseMs: 500, capMs: 5000, ...input.killRetry },
      stopFailures: 0,
      stopBackoffMs: 0,
      stopError: undefined,
      driverId: recovered?.driverId,
      restartWindow: recovered?.restartWindow,
      restarts: recovered?.restarts ?? 0,
      lastExit: recovered?.lastExit,
      decision: undefined,
      killRequested: false,
      restartRequested: false,
      failed: recovered?.failed ?? false,
      outcome: 'dead',
      recovered,
    };
  },
  initial: 'pending',
  states: {
    pending: {
      entry: { type: 'taskEvent', params: { type: 'Received', message: 'Task received by client' } },
      on: {
        start: 'starting',
        recover: [
          { guard: 'recoversRunning', target: 'recovering' },
          {
            guard: 'recoversStart',
            target: 'starting',
            actions: {
              type: 'taskEvent',
              params: {
                type: 'Recovered',
                message: 'Task was not running when the agent restarted: starting it',
              },
            },
          },
          {
            guard: 'recoversDead',
            target: 'dead',
            actions: {
              type: 'taskEvent',
              params: { type: 'Recovered', message: 'Task had already ended before the agent restarted' },
            },
          },
        ],
        kill: {
          target: 'dead',
          actions: {
            type: 'taskEvent',
            params: { type: 'Killed', message: 'Task killed before it started' },
          },
        },
        shutdown: 'detached',
      },
    },
    starting: {
      entry: { type: 'taskEvent', params: { type: 'Task Setup', message: 'Building task' } },
      invoke: {
        src: 'startTask',
        input: ({ context }) => ({ taskId: context.taskId }),
        onDone: {
          target: 'running',
          actions: [
            assign({ driverId: ({ event }) => event.output?.driverId }),
            { type: 'taskEvent', params: { type: 'Started', message: 'Task started by client' } },
          ],
        },
        onError: [
          {
            guard: { type: 'isRecoverableStartError', params: ({ event }) => ({ error: event.error }) },
            target: 'exited.deciding',
            actions: [
              {
                type: 'taskEvent',
                params: ({ event }) => ({ type: 'Driver Failure', message: describeError(event.error) }),
              },
              { type: 'decide', params: FAILURE },
            ],
          },
          {
            target: 'exited.deciding',
            actions: [
              {
                type: 'taskEvent',
                params: ({ event }) => ({
                  type: 'Driver Failure',
                  message: describeError(event.error),
                  failsTask: true,
                }),
              },
              {
                type: 'log',
                params: ({ event }) => ({
                  level: 'error',
                  msg: LOG_TEXT.startFailed,
                  error: describeError(event.error),
                }),
              },
              {
                type: 'decideNotToRestart',
                params: ({ event }) => ({
                  failed: true,
                  message: `Error was unrecoverable: ${describeError(event.error)}`,
                }),
              },
            ],
          },
        ],
      },
      on: { kill: { target: 'killing', actions: 'requestKill' }, shutdown: 'detached' },
    },
    recovering: {
      // Nothing is started here: the task runs already, the driver only takes it up again.
      invoke: {
        src: 'recoverTask',
        input: ({ context }) => ({ taskId: context.taskId }),
        onDone: {
          target: 'running',
          actions: {
            type: 'taskEvent',
            params: ({ context }) => ({
              type: 'Recovered',
              message: `Task recovered after the agent restarted${context.driverId ? ` (${context.driverId})` : ''}`,
            }),
          },
        },
        onError: {
          target: 'exited.deciding',
          actions: [
            {
              type: 'recordExit',
              params: ({ event }) => ({
                exit: {
                  exitCode: null,
                  signal: null,
                  oomKilled: false,
                  error: `recovery failed: ${describeError(event.error)}`,
                },
              }),
            },
            {
              type: 'taskEvent',
              params: ({ event }) => ({
                type: 'Driver Failure',
                message: `Task could not be recovered: ${describeError(event.error)}`,
              }),
            },
            {
              type: 'log',
              params: ({ context, event }) => ({
                level: 'warn',
                msg: LOG_TEXT.recoveryFailed,
                error: describeError(event.error),
                ...(context.driverId ? { driverId: context.driverId } : {}),
              }),
            },
            { type: 'decide', params: FAILURE },
          ],
        },
      },
      on: { kill: { target: 'killing', actions: 'requestKill' }, shutdown: 'detached' },
    },
    running: {
      entry: { type: 'runHooks', params: { phase: 'poststart' } },
      invoke: {
        src: 'waitTask',
        input: ({ context }) => ({ taskId: context.taskId }),
        onDone: {
          target: 'exited',
          actions: [
            { type: 'recordExit', params: ({ event }) => ({ exit: event.output }) },
            {
              type: 'decide',
              params: ({ event }) => (isSuccess(event.output) ? { outcome: 'success' } : FAILURE),
            },
          ],
        },
        onError: {
          target: 'exited',
          actions: [
            {
              type: 'recordExit',
              params: ({ event }) => ({
                exit: { exitCode: null, signal: null, oomKilled: false, error: describeError(event.error) },
              }),
            },
            { type: 'decide', params: FAILURE },
          ],
        },
      },
      on: {
        kill: { target: 'killing', actions: 'requestKill' },
        restart: {
          target: 'killing',
          actions: [
            'requestRestart',
            {
              type: 'taskEvent',
              params: { type: 'Restart Signaled', message: 'User requested task to restart' },
            },
          ],
        },
        shutdown: 'detached',
      },
    },
    killing: {
      // The kill's deadline was set by `requestKill` on the way in (a restart keeps the default).
      entry: [
        'beginStop',
        {
          type: 'taskEvent',
          params: { type: 'Killing', message: 'Sent interrupt, waiting for the task to exit' },
        },
      ],
      initial: 'stopping',
      states: {
        stopping: {
          invoke: {
            src: 'stopTask',
            input: ({ context }) => ({ taskId: context.taskId, timeoutMs: context.killTimeoutMs }),
            onDone: {
              target: '#taskRunner.exited',
              actions: { type: 'recordExit', params: ({ event }) => ({ exit: event.output }) },
            },
            onError: [
              {
                guard: { type: 'isTaskNotFound', params: ({ event }) => ({ error: event.error }) },
                target: '#taskRunner.exited',
                actions: {
                  type: 'log',
                  params: { level: 'debug', msg: 'nothing to stop: the driver knows no such task' },
                },
              },
              {
                guard: 'stopRetryFits',
                target: 'retrying',
                actions: [
                  {
                    type: 'recordStopFailure',
                    params: ({ event }) => ({ error: describeError(event.error) }),
                  },
                  {
                    type: 'log',
                    params: ({ context }) => ({
                      // One warn per kill; the retries after it at debug.
                      level: context.stopFailures === 1 ? 'warn' : 'debug',
                      msg: 'stopping the task failed, retrying with backoff',
                      error: context.stopError,
                    }),
                  },
                ],
              },
              {
                target: '#taskRunner.killFailed',
                actions: {
                  type: 'recordStopFailure',
                  params: ({ event }) => ({ error: describeError(event.error) }),
                },
              },
            ],
          },
        },
        retrying: {
          after: { stopRetryDelay: 'stopping' },
        },
      },
      // A kill while stopping for a restart: the task stays dead.
      on: { kill: { actions: 'requestKill' }, shutdown: 'detached' },
    },
    killFailed: {
      // The stop kept failing and no retry fits in the deadline: the task may still be running. Say
      // so, stop the hooks, try one forced destroy.
      entry: [
        'recordKillFailure',
        {
          type: 'taskEvent',
          params: ({ context }) => ({
            type: 'Killing',
            message: `Could not confirm the task stopped (${context.driverId ?? 'no driver id'}); it may still be running: ${context.stopError}`,
            failsTask: true,
          }),
        },
        {
          type: 'log',
          params: ({ context }) => ({
            level: 'error',
            msg: 'task not confirmed stopped by its kill deadline; it may still be running',
            error: context.stopError,
            ...(context.driverId ? { driverId: context.driverId } : {}),
          }),
        },
        { type: 'runHooks', params: { phase: 'exited' } },
      ],
      invoke: {
        src: 'destroyTask',
        input: ({ context }) => ({ taskId: context.taskId }),
        onDone: 'dead',
        onError: 'dead',
      },
      on: { shutdown: 'detached' },
    },
    exited: {
      initial: 'destroying',
      states: {
        destroying: {
          entry: [
            // The hooks hear of the exit first; only then is the task destroyed.
            { type: 'runHooks', params: { phase: 'exited' } },
            {
              type: 'taskEvent',
              params: ({ context }) => ({
                type: 'Terminated',
                message: context.lastExit ? exitMessage(context.lastExit) : 'Task stopped',
                exitCode: context.lastExit?.exitCode ?? null,
                signal: context.lastExit?.signal ?? null,
                oomKilled: context.lastExit?.oomKilled ?? false,
              }),
            },
          ],
          invoke: {
            src: 'destroyTask',
            input: ({ context }) => ({ taskId: context.taskId }),
            onDone: 'deciding',
            onError: {
              target: 'deciding',
              actions: {
                type: 'log',
                params: ({ event }) => ({
                  level: 'warn',
                  msg: LOG_TEXT.destroyFailed,
                  error: describeError(event.error),
                }),
              },
            },
          },
          on: { kill: { actions: 'requestKill' } },
        },
        deciding: {
          always: [
            {
              guard: 'killRequested',
              target: '#taskRunner.dead',
              actions: { type: 'taskEvent', params: { type: 'Killed', message: 'Task successfully killed' } },
            },
            {
              guard: 'restartRequested',
              target: '#taskRunner.restarting',
              actions: {
                type: 'taskEvent',
                params: { type: 'Restarting', message: 'User requested restart', restartInMs: 0 },
              },
            },
            {
              guard: 'willRestart',
              target: '#taskRunner.restarting',
              actions: {
                type: 'taskEvent',
                params: ({ context }) => ({
                  type: 'Restarting',
                  // Stryker disable next-line OptionalChaining,StringLiteral: `decide` set the decision before `deciding`
                  message: context.decision?.message ?? '',
                  // Stryker disable next-line OptionalChaining: `decide` set the decision before `deciding`
                  restartInMs: context.decision?.restart ? context.decision.delayMs : 0,
                }),
              },
            },
            {
              target: '#taskRunner.dead',
              actions: {
                type: 'taskEvent',
                params: ({ context }) => ({
                  type: 'Not Restarting',
                  // Stryker disable next-line OptionalChaining,StringLiteral: `decide` set the decision before `deciding`
                  message: context.decision?.message ?? '',
                  failsTask: context.failed,
                }),
              },
            },
          ],
        },
      },
      on: { shutdown: '#taskRunner.detached' },
    },
    restarting: {
      after: { restartDelay: { target: 'starting', actions: 'countRestart' } },
      on: {
        // Asked to restart while waiting to: start now.
        restart: { target: 'starting', actions: 'countRestart' },
        kill: {
          target: 'dead',
          actions: [
            'requestKill',
            {
              type: 'taskEvent',
              params: { type: 'Killed', message: 'Task killed while waiting to restart' },
            },
          ],
        },
        shutdown: 'detached',
      },
    },
    dead: {
      type: 'final',
      // `outcome` is 'dead' from the start: only `detached` changes it.
      entry: { type: 'runHooks', params: { phase: 'stop' } },
    },
    detached: {
      // The agent is leaving and the task lives on: hooks stop quietly, the task is not touched.
      type: 'final',
      entry: [{ type: 'runHooks', params: { phase: 'shutdown' } }, assign({ outcome: 'detached' as const })],
    },
  },
  output: ({ context }) => ({
    taskId: context.taskId,
    state: context.outcome,
    failed: context.failed,
    restarts: context.restarts,
    lastExit: context.lastExit,
  }),
});

export type TaskRunnerActor = ActorRefFrom<typeof taskRunnerMachine>;
