/**
 * The task runner's behaviour as a table, written from Nomad's task lifecycle (task runner, task
 * events, kill with retries, restart tracker) and taskpulse's docs (docs/task-runner.md, the
 * machine's README), not from the machine: (state, event) → the target and the effects in order
 * (task events with their payload, hook phases, log levels with what they name, driver calls with
 * their input, timers). The restart decision comes from the independent reference in
 * `nomad-restart.ts`, the stop retry delays from the plain formula below. Nothing here imports
 * `machines/`.
 */
import {
  type ReferenceJobType,
  type ReferencePolicy,
  type ReferenceVerdict,
  type ReferenceWindow,
  referenceRestart,
} from './nomad-restart.js';

/** `killing` and `exited` have steps of their own; the table names them `killing.retrying` etc. */
export type RunnerState =
  | 'pending'
  | 'starting'
  | 'recovering'
  | 'running'
  | 'killing.stopping'
  | 'killing.retrying'
  | 'killFailed'
  | 'exited'
  | 'restarting'
  | 'dead'
  | 'detached';

export interface Exit {
  exitCode: number | null;
  signal: string | null;
  oomKilled: boolean;
  error?: string;
}

export const EXITS: Record<string, Exit> = {
  'exit-0': { exitCode: 0, signal: null, oomKilled: false },
  'exit-1': { exitCode: 1, signal: null, oomKilled: false },
  'exit-0-signal': { exitCode: 0, signal: 'SIGKILL', oomKilled: false },
  'signal-oom': { exitCode: null, signal: 'SIGKILL', oomKilled: true },
  'exit-137-oom': { exitCode: 137, signal: null, oomKilled: true },
  'signal-term': { exitCode: null, signal: 'SIGTERM', oomKilled: false },
};

/** Start errors on the wire (codes), as a driver or a plugin across a process sends them. */
export const START_ERRORS = {
  recoverable: { code: 'TASKPULSE_RECOVERABLE', recoverable: true, message: 'image pull failed' },
  'plugin-shutdown': { code: 'TASKPULSE_PLUGIN_SHUTDOWN', message: 'plugin is shut down' },
  unrecoverable: { code: 'TASKPULSE_RECOVERABLE', recoverable: false, message: 'bad config' },
  'recoverable-unflagged': { code: 'TASKPULSE_RECOVERABLE', message: 'no flag' },
  'not-found': { code: 'TASKPULSE_TASK_NOT_FOUND', message: 'task not found: t1' },
  /** The flag alone does not make an error recoverable: the code says it is a driver's. */
  'flagged-other-code': { code: 'EIO', recoverable: true, message: 'flagged, not a driver code' },
  other: { message: 'boom' },
} as const;
export type StartError = keyof typeof START_ERRORS;
/**
 * Nomad restarts a task after a start error only when the driver marked it recoverable; a plugin
 * that shut down mid-start is the plugin's loss, not the task's (docs/plugins.md).
 */
const RETRYABLE_START: ReadonlySet<StartError> = new Set(['recoverable', 'plugin-shutdown']);

/** Stop errors: the driver knows no such task (nothing runs), or anything else (the engine is down). */
export const STOP_ERRORS = {
  'not-found': { code: 'TASKPULSE_TASK_NOT_FOUND', message: 'task not found: t1' },
  'engine-down': { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' },
  /** A stop that rejects with nothing at all (`Promise.reject()`): a failed stop like any other. */
  nothing: { code: undefined, message: 'undefined' },
} as const;
export type StopError = keyof typeof STOP_ERRORS;

/**
 * Re-attaching a saved handle fails: the task is gone for good (its process died, its pid was
 * reused), or anything else (its plugin is away). Either is a failed recovery (Nomad: the restart
 * policy decides), issue 13.
 */
export const RECOVER_ERRORS = {
  'not-found': { code: 'TASKPULSE_TASK_NOT_FOUND', message: 'task not found: t1' },
  other: { message: 'plugin gone' },
} as const;
export type RecoverError = keyof typeof RECOVER_ERRORS;

/**
 * What a new agent does with a saved task (docs/recovery.md): re-attach one that was running,
 * start one that was not (pending, waiting to restart), leave a dead one dead.
 */
export type RecoverMode = 'running' | 'start' | 'dead';

export type RunnerEventKey =
  | 'start'
  | 'recover'
  | 'done:recoverTask'
  | 'error:recoverTask'
  | 'kill'
  | 'restart'
  | 'shutdown'
  | 'done:startTask'
  | 'error:startTask'
  | 'done:waitTask'
  | 'error:waitTask'
  | 'done:stopTask'
  | 'error:stopTask'
  | 'after:stopRetryDelay'
  | 'done:destroyTask'
  | 'error:destroyTask'
  | 'after:restartDelay';

export interface RunnerEvent {
  key: RunnerEventKey;
  /** A key of `EXITS`. */
  exit?: string;
  startError?: StartError;
  stopError?: StopError;
  recoverError?: RecoverError;
  /** `recover`: what the saved state says to do. */
  mode?: RecoverMode;
  /** The driver id `startTask` resolves with (`done:startTask`), if any. */
  driverId?: string;
  /** A `kill` event's own deadline. */
  deadlineMs?: number;
  message?: string;
}

/** One expected effect, in order. Log lines are compared without their text (`msg`). */
export type Effect =
  | { type: 'taskEvent'; params: Record<string, unknown> }
  | { type: 'runHooks'; params: { phase: string } }
  | { type: 'log'; params: { level: string; error?: string; driverId?: string } };

export interface RunnerConfig {
  taskId: string;
  jobType: ReferenceJobType;
  policy: ReferencePolicy;
  killTimeoutMs: number;
  /** The default kill deadline (docs: kill timeout + 30 s). */
  killDeadlineMs: number;
  /** Backoff between failed stops: min(base × 2ⁿ, cap) (docs: 500 ms, 5 s). */
  killRetry: { baseMs: number; capMs: number };
}

export interface RunnerRecord {
  state: RunnerState;
  killRequested: boolean;
  /** A user asked for a restart (Nomad's `alloc restart`): outside the policy, at once. */
  restartRequested: boolean;
  restarts: number;
  failed: boolean;
  lastExit: Exit | undefined;
  window: ReferenceWindow | undefined;
  verdict: ReferenceVerdict | undefined;
  driverId: string | undefined;
  /** The current kill's deadline, failed stops, the backoff they scheduled, the last stop error. */
  killDeadlineMs: number;
  stopFailures: number;
  stopBackoffMs: number;
  stopError: string | undefined;
}

export const initialRunnerRecord = (config: RunnerConfig): RunnerRecord => ({
  state: 'pending',
  killRequested: false,
  restartRequested: false,
  restarts: 0,
  failed: false,
  lastExit: undefined,
  window: undefined,
  verdict: undefined,
  driverId: undefined,
  killDeadlineMs: config.killDeadlineMs,
  stopFailures: 0,
  stopBackoffMs: 0,
  stopError: undefined,
});

/** The plain formula: min(base × 2ⁿ, cap) for the n-th failed stop (n from 0). */
export const referenceStopRetryMs = (n: number, { baseMs, capMs }: RunnerConfig['killRetry']) =>
  Math.min(baseMs * 2 ** n, capMs);

/** Effects of entering a state (Nomad: task events on entry, hooks by phase). */
export function entryEffects(state: RunnerState): Effect[] {
  switch (state) {
    case 'pending':
      return [{ type: 'taskEvent', params: { type: 'Received', message: 'Task received by client' } }];
    case 'starting':
      return [{ type: 'taskEvent', params: { type: 'Task Setup', message: 'Building task' } }];
    case 'running':
      return [{ type: 'runHooks', params: { phase: 'poststart' } }];
    case 'killing.stopping':
      return [
        {
          type: 'taskEvent',
          params: { type: 'Killing', message: 'Sent interrupt, waiting for the task to exit' },
        },
      ];
    case 'dead':
      return [{ type: 'runHooks', params: { phase: 'stop' } }];
    case 'detached':
      return [{ type: 'runHooks', params: { phase: 'shutdown' } }];
    default:
      return [];
  }
}

/** Nomad's Terminated event text: `Exit Code: 1, Signal: SIGKILL, OOM Killed`. */
export function terminatedMessage(exit: Exit | undefined): string {
  if (!exit) return 'Task stopped';
  if (exit.error) return `Wait failed: ${exit.error}`;
  const parts = [`Exit Code: ${exit.exitCode === null ? 'none' : exit.exitCode}`];
  if (exit.signal) parts.push(`Signal: ${exit.signal}`);
  if (exit.oomKilled) parts.push('OOM Killed');
  return parts.join(', ');
}

/** Success is exit code 0, no signal, no wait error (a SIGKILLed task that exits 0 did not succeed). */
const isSuccess = (exit: Exit) => exit.exitCode === 0 && exit.signal === null && !exit.error;

export interface DriverCall {
  src: 'startTask' | 'recoverTask' | 'waitTask' | 'stopTask' | 'destroyTask';
  input: Record<string, unknown>;
}

export interface RunnerStep {
  record: RunnerRecord;
  /** Effects in order: the transition's, then those of the states entered. */
  effects: Effect[];
  /** Driver calls started by the step (the invoked actor of the state entered). */
  calls: DriverCall[];
  /** The timer set, if any (the restart delay or the stop retry's). */
  timerMs: number | undefined;
  /** The label of the table row taken, for messages. */
  label: string;
}

const callsOn = (state: RunnerState, config: RunnerConfig): DriverCall[] => {
  const input = { taskId: config.taskId };
  switch (state) {
    case 'starting':
      return [{ src: 'startTask', input }];
    case 'recovering':
      return [{ src: 'recoverTask', input }];
    case 'running':
      return [{ src: 'waitTask', input }];
    case 'killing.stopping':
      return [{ src: 'stopTask', input: { ...input, timeoutMs: config.killTimeoutMs } }];
    case 'exited':
    case 'killFailed':
      return [{ src: 'destroyTask', input }];
    default:
      return [];
  }
};

const enter = (
  record: RunnerRecord,
  state: RunnerState,
  effects: Effect[],
  config: RunnerConfig,
  label: string,
): RunnerStep => ({
  record: { ...record, state },
  effects: [...effects, ...entryEffects(state)],
  calls: callsOn(state, config),
  timerMs: undefined,
  label,
});

/** A step that changes the record and nothing else (an event remembered, no transition). */
const remember = (record: RunnerRecord, label: string): RunnerStep => ({
  record,
  effects: [],
  calls: [],
  timerMs: undefined,
  label,
});

/** Exited: the hooks hear of the exit first, the Terminated event, then the task is destroyed. */
function toExited(record: RunnerRecord, before: Effect[], config: RunnerConfig, label: string): RunnerStep {
  const exit = record.lastExit;
  return {
    record: { ...record, state: 'exited' },
    effects: [
      ...before,
      { type: 'runHooks', params: { phase: 'exited' } },
      {
        type: 'taskEvent',
        params: {
          type: 'Terminated',
          message: terminatedMessage(exit),
          exitCode: exit?.exitCode ?? null,
          signal: exit?.signal ?? null,
          oomKilled: exit?.oomKilled ?? false,
        },
      },
    ],
    calls: callsOn('exited', config),
    timerMs: undefined,
    label,
  };
}

/** The decision after an exit (or a retryable start error): killed, restart as asked, by policy, or not. */
function decided(record: RunnerRecord, before: Effect[], label: string): RunnerStep {
  const dead = (effect: Effect, why: string): RunnerStep => ({
    record: { ...record, state: 'dead' },
    effects: [...before, effect, ...entryEffects('dead')],
    calls: [],
    timerMs: undefined,
    label: `${label}, ${why}`,
  });
  const restarting = (message: string, delayMs: number, why: string): RunnerStep => ({
    record: { ...record, state: 'restarting' },
    effects: [
      ...before,
      { type: 'taskEvent', params: { type: 'Restarting', message, restartInMs: delayMs } },
    ],
    calls: [],
    timerMs: delayMs,
    label: `${label}, ${why}`,
  });
  if (record.killRequested)
    return dead(
      { type: 'taskEvent', params: { type: 'Killed', message: 'Task successfully killed' } },
      'killed',
    );
  if (record.restartRequested) return restarting('User requested restart', 0, 'restarting as asked');
  const verdict = record.verdict;
  if (verdict?.restart) return restarting(verdict.message, verdict.delayMs, 'restarting');
  return dead(
    {
      type: 'taskEvent',
      params: { type: 'Not Restarting', message: verdict?.message ?? '', failsTask: record.failed },
    },
    'not restarting',
  );
}

function decide(record: RunnerRecord, config: RunnerConfig, zero: boolean, now: number): RunnerRecord {
  const verdict = referenceRestart(config.policy, config.jobType, zero, record.window, now);
  return verdict.restart
    ? { ...record, verdict, window: verdict.window }
    : { ...record, verdict, failed: verdict.failed };
}

/** A kill asked: remembered, with its own deadline if it names one. */
const asked = (record: RunnerRecord, event: RunnerEvent): RunnerRecord => ({
  ...record,
  killRequested: true,
  killDeadlineMs: event.deadlineMs ?? record.killDeadlineMs,
});

/** A kill (or an asked restart) begins: its failed stops and their backoff count from zero. */
const freshKill = (record: RunnerRecord): RunnerRecord => ({
  ...record,
  stopFailures: 0,
  stopBackoffMs: 0,
  stopError: undefined,
});

/** A stop failed (not "no such task"): retry while the backoff so far plus the next fits the deadline. */
function stopFailed(record: RunnerRecord, event: RunnerEvent, config: RunnerConfig): RunnerStep {
  const error = event.message ?? STOP_ERRORS[event.stopError ?? 'engine-down'].message;
  const delay = referenceStopRetryMs(record.stopFailures, config.killRetry);
  const failures = {
    ...record,
    stopFailures: record.stopFailures + 1,
    stopBackoffMs: record.stopBackoffMs + delay,
    stopError: error,
  };
  if (record.stopBackoffMs + delay <= record.killDeadlineMs) {
    return {
      record: { ...failures, state: 'killing.retrying' },
      // One warn per kill; the retries after it at debug.
      effects: [{ type: 'log', params: { level: failures.stopFailures === 1 ? 'warn' : 'debug', error } }],
      calls: [],
      timerMs: delay,
      label: `killing.stopping + ${event.stopError} stop error → killing.retrying`,
    };
  }
  // Not confirmed stopped: said so (a failing Killing event naming the task, an error log), the
  // hooks stop, one forced destroy; never reported as killed.
  const id = record.driverId;
  return {
    record: {
      ...failures,
      state: 'killFailed',
      failed: true,
      lastExit: { exitCode: null, signal: null, oomKilled: false, error: `not confirmed stopped: ${error}` },
    },
    effects: [
      {
        type: 'taskEvent',
        params: {
          type: 'Killing',
          message: `Could not confirm the task stopped (${id ?? 'no driver id'}); it may still be running: ${error}`,
          failsTask: true,
        },
      },
      { type: 'log', params: { level: 'error', error, ...(id ? { driverId: id } : {}) } },
      { type: 'runHooks', params: { phase: 'exited' } },
    ],
    calls: callsOn('killFailed', config),
    timerMs: undefined,
    label: `killing.stopping + ${event.stopError} stop error, past the deadline → killFailed`,
  };
}

/** The table: one case per (state, event); `undefined` where the lifecycle says nothing happens. */
export function stepRunner(
  record: RunnerRecord,
  event: RunnerEvent,
  config: RunnerConfig,
  now: number,
): RunnerStep | undefined {
  const { state } = record;
  if (state === 'dead' || state === 'detached') return undefined;
  if (event.key === 'shutdown')
    return enter(record, 'detached', [], config, `${state} + shutdown → detached`);

  switch (`${state} ${event.key}`) {
    case 'pending start':
      return enter(record, 'starting', [], config, 'pending + start → starting');
    case 'pending kill':
      return enter(
        record,
        'dead',
        [{ type: 'taskEvent', params: { type: 'Killed', message: 'Task killed before it started' } }],
        config,
        'pending + kill → dead',
      );
    case 'pending recover':
      switch (event.mode ?? 'running') {
        // Nothing is started: the task runs, the driver only takes it up again by its handle.
        case 'running':
          return enter(record, 'recovering', [], config, 'pending + recover (running) → recovering');
        case 'start':
          return enter(
            record,
            'starting',
            [
              {
                type: 'taskEvent',
                params: {
                  type: 'Recovered',
                  message: 'Task was not running when the agent restarted: starting it',
                },
              },
            ],
            config,
            'pending + recover (start) → starting',
          );
        case 'dead':
          return enter(
            record,
            'dead',
            [
              {
                type: 'taskEvent',
                params: { type: 'Recovered', message: 'Task had already ended before the agent restarted' },
              },
            ],
            config,
            'pending + recover (dead) → dead',
          );
      }
      return undefined;
    case 'recovering done:recoverTask':
      // Running again without a start: the poststart hooks run again (the stats hook streams).
      return enter(
        record,
        'running',
        [
          {
            type: 'taskEvent',
            params: {
              type: 'Recovered',
              message: `Task recovered after the agent restarted${record.driverId ? ` (${record.driverId})` : ''}`,
            },
          },
        ],
        config,
        'recovering + re-attached → running',
      );
    case 'recovering error:recoverTask': {
      // A failed recovery is a failure the restart policy decides on (Nomad), said once at warn.
      const message = event.message ?? RECOVER_ERRORS[event.recoverError ?? 'other'].message;
      const exit: Exit = {
        exitCode: null,
        signal: null,
        oomKilled: false,
        error: `recovery failed: ${message}`,
      };
      const id = record.driverId;
      return decided(
        decide({ ...record, lastExit: exit }, config, false, now),
        [
          {
            type: 'taskEvent',
            params: { type: 'Driver Failure', message: `Task could not be recovered: ${message}` },
          },
          { type: 'log', params: { level: 'warn', error: message, ...(id ? { driverId: id } : {}) } },
        ],
        `recovering + ${event.recoverError} recover error`,
      );
    }
    case 'starting done:startTask':
      return enter(
        { ...record, driverId: event.driverId },
        'running',
        [{ type: 'taskEvent', params: { type: 'Started', message: 'Task started by client' } }],
        config,
        `starting + started${event.driverId ? ' (driver id)' : ''} → running`,
      );
    case 'starting error:startTask': {
      const kind = event.startError ?? 'other';
      const message = event.message ?? START_ERRORS[kind].message;
      if (RETRYABLE_START.has(kind)) {
        return decided(
          decide(record, config, false, now),
          [{ type: 'taskEvent', params: { type: 'Driver Failure', message } }],
          `starting + ${kind} start error`,
        );
      }
      const verdict = {
        restart: false,
        failed: true,
        message: `Error was unrecoverable: ${message}`,
      } as const;
      return decided(
        { ...record, failed: true, verdict },
        [
          { type: 'taskEvent', params: { type: 'Driver Failure', message, failsTask: true } },
          { type: 'log', params: { level: 'error', error: message } },
        ],
        `starting + ${kind} start error`,
      );
    }
    case 'starting kill':
    case 'recovering kill':
    case 'running kill':
      return enter(
        freshKill(asked(record, event)),
        'killing.stopping',
        [],
        config,
        `${state} + kill → killing`,
      );
    case 'running restart':
      return enter(
        { ...freshKill(record), restartRequested: true },
        'killing.stopping',
        [
          {
            type: 'taskEvent',
            params: { type: 'Restart Signaled', message: 'User requested task to restart' },
          },
        ],
        config,
        'running + restart → killing',
      );
    case 'running done:waitTask': {
      const exit = EXITS[event.exit ?? 'exit-0']!;
      const next = decide({ ...record, lastExit: exit }, config, isSuccess(exit), now);
      return toExited(next, [], config, `running + ${event.exit} → exited`);
    }
    case 'running error:waitTask': {
      const exit: Exit = { exitCode: null, signal: null, oomKilled: false, error: event.message ?? '' };
      const next = decide({ ...record, lastExit: exit }, config, false, now);
      return toExited(next, [], config, 'running + wait error → exited');
    }
    case 'killing.stopping kill':
    case 'killing.retrying kill':
      // A kill while stopping for a restart: the task stays dead; a later deadline counts.
      return remember(asked(record, event), `${state} + kill (remembered)`);
    case 'killing.stopping done:stopTask':
      return toExited(
        { ...record, lastExit: EXITS[event.exit ?? 'exit-1'] },
        [],
        config,
        'killing.stopping + stopped → exited',
      );
    case 'killing.stopping error:stopTask':
      if (event.stopError === 'not-found')
        return toExited(
          record,
          [{ type: 'log', params: { level: 'debug' } }],
          config,
          'killing.stopping + not-found stop error → exited',
        );
      return stopFailed(record, event, config);
    case 'killing.retrying after:stopRetryDelay':
      return {
        record: { ...record, state: 'killing.stopping' },
        effects: [],
        calls: callsOn('killing.stopping', config),
        timerMs: undefined,
        label: 'killing.retrying + delay → killing.stopping',
      };
    case 'killFailed done:destroyTask':
    case 'killFailed error:destroyTask':
      return enter(record, 'dead', [], config, `killFailed + ${event.key} → dead`);
    case 'exited kill':
      return remember(asked(record, event), 'exited + kill (remembered)');
    case 'exited done:destroyTask':
      return decided(record, [], 'exited + destroyed');
    case 'exited error:destroyTask':
      return decided(
        record,
        [{ type: 'log', params: { level: 'warn', error: event.message ?? '' } }],
        'exited + destroy failed',
      );
    case 'restarting after:restartDelay':
    case 'restarting restart':
      return enter(
        { ...record, restarts: record.restarts + 1, restartRequested: false },
        'starting',
        [],
        config,
        `restarting + ${event.key} → starting`,
      );
    case 'restarting kill':
      return enter(
        asked(record, event),
        'dead',
        [{ type: 'taskEvent', params: { type: 'Killed', message: 'Task killed while waiting to restart' } }],
        config,
        'restarting + kill → dead',
      );
    default:
      return undefined;
  }
}

export function runnerAlphabet(): RunnerEvent[] {
  return [
    { key: 'start' },
    ...(['running', 'start', 'dead'] as const).map((mode) => ({ key: 'recover' as const, mode })),
    { key: 'done:recoverTask' },
    ...(Object.keys(RECOVER_ERRORS) as RecoverError[]).map((recoverError) => ({
      key: 'error:recoverTask' as const,
      recoverError,
    })),
    { key: 'kill' },
    { key: 'kill', deadlineMs: 2_000 },
    { key: 'restart' },
    { key: 'shutdown' },
    { key: 'done:startTask' },
    { key: 'done:startTask', driverId: 'c-1234' },
    ...(Object.keys(START_ERRORS) as StartError[]).map((startError) => ({
      key: 'error:startTask' as const,
      startError,
    })),
    ...Object.keys(EXITS).map((exit) => ({ key: 'done:waitTask' as const, exit })),
    { key: 'error:waitTask', message: 'wait broke' },
    { key: 'done:stopTask', exit: 'signal-oom' },
    { key: 'done:stopTask', exit: 'exit-0' },
    ...(Object.keys(STOP_ERRORS) as StopError[]).map((stopError) => ({
      key: 'error:stopTask' as const,
      stopError,
    })),
    { key: 'after:stopRetryDelay' },
    { key: 'done:destroyTask' },
    { key: 'error:destroyTask', message: 'destroy broke' },
    { key: 'after:restartDelay' },
  ];
}
