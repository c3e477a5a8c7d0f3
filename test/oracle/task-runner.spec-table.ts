/**
 * The task runner's behaviour as a table, written from Nomad's task lifecycle (task runner, task
 * events, restart tracker) and taskpulse's docs, not from the machine: (state, event) → the target
 * and the effects in order (task events with their payload, hook phases, log levels, driver calls).
 * The restart decision comes from the independent reference in `nomad-restart.ts`. Nothing here
 * imports `machines/`.
 */
import {
  type ReferenceJobType,
  type ReferencePolicy,
  type ReferenceVerdict,
  type ReferenceWindow,
  referenceRestart,
} from './nomad-restart.js';

export type RunnerState =
  | 'pending'
  | 'starting'
  | 'running'
  | 'killing'
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
};

/** Start errors on the wire (codes), as a driver or a plugin across a process sends them. */
export const START_ERRORS = {
  recoverable: { code: 'TASKPULSE_RECOVERABLE', recoverable: true, message: 'image pull failed' },
  'plugin-shutdown': { code: 'TASKPULSE_PLUGIN_SHUTDOWN', message: 'plugin is shut down' },
  unrecoverable: { code: 'TASKPULSE_RECOVERABLE', recoverable: false, message: 'bad config' },
  'recoverable-unflagged': { code: 'TASKPULSE_RECOVERABLE', message: 'no flag' },
  'not-found': { code: 'TASKPULSE_TASK_NOT_FOUND', message: 'task not found: t1' },
  other: { message: 'boom' },
} as const;
export type StartError = keyof typeof START_ERRORS;
/** Nomad restarts a task after a start error only when the driver marked it recoverable. */
const RETRYABLE_START: ReadonlySet<StartError> = new Set(['recoverable', 'plugin-shutdown']);

export type RunnerEventKey =
  | 'start'
  | 'kill'
  | 'restart'
  | 'shutdown'
  | 'done:startTask'
  | 'error:startTask'
  | 'done:waitTask'
  | 'error:waitTask'
  | 'done:stopTask'
  | 'error:stopTask'
  | 'done:destroyTask'
  | 'error:destroyTask'
  | 'after:restartDelay';

export interface RunnerEvent {
  key: RunnerEventKey;
  /** A key of `EXITS`, or the exit itself. */
  exit?: string;
  exitValue?: Exit;
  startError?: StartError;
  message?: string;
}

/** One expected effect, in order. */
export type Effect =
  | { type: 'taskEvent'; params: Record<string, unknown> }
  | { type: 'runHooks'; params: { phase: string } }
  | { type: 'log'; params: { level: string } };

export interface RunnerConfig {
  taskId: string;
  jobType: ReferenceJobType;
  policy: ReferencePolicy;
  killTimeoutMs: number;
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
  /** The delay of the current `restarting` state. */
  restartDelayMs: number | undefined;
}

export const initialRunnerRecord = (): RunnerRecord => ({
  state: 'pending',
  killRequested: false,
  restartRequested: false,
  restarts: 0,
  failed: false,
  lastExit: undefined,
  window: undefined,
  verdict: undefined,
  restartDelayMs: undefined,
});

/** Effects of entering a state (Nomad: task events on entry, hooks by phase). */
export function entryEffects(state: RunnerState): Effect[] {
  switch (state) {
    case 'pending':
      return [{ type: 'taskEvent', params: { type: 'Received', message: 'Task received by client' } }];
    case 'starting':
      return [{ type: 'taskEvent', params: { type: 'Task Setup', message: 'Building task' } }];
    case 'running':
      return [{ type: 'runHooks', params: { phase: 'poststart' } }];
    case 'killing':
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

const isSuccess = (exit: Exit) => exit.exitCode === 0 && exit.signal === null && !exit.error;

export interface RunnerStep {
  record: RunnerRecord;
  /** Effects in order: the transition's, then those of the states entered. */
  effects: Effect[];
  /** Driver calls started by the step (the invoked actor of the state entered). */
  calls: { src: string; input: Record<string, unknown> }[];
  /** The restart timer set, if any. */
  timerMs: number | undefined;
  /** The label of the table row taken, for messages. */
  label: string;
}

/** The exited state: hooks first, the Terminated event, then the destroy call. */
function exitedEntry(exit: Exit | undefined): Effect[] {
  return [
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
  ];
}

/** The decision after an exit (or a retryable start error): killed, restart, or not. */
function decided(record: RunnerRecord, before: Effect[], label: string): RunnerStep {
  if (record.killRequested) {
    return {
      record: { ...record, state: 'dead' },
      effects: [
        ...before,
        { type: 'taskEvent', params: { type: 'Killed', message: 'Task successfully killed' } },
        ...entryEffects('dead'),
      ],
      calls: [],
      timerMs: undefined,
      label: `${label}, killed`,
    };
  }
  if (record.restartRequested) {
    return {
      record: { ...record, state: 'restarting', restartDelayMs: 0 },
      effects: [
        ...before,
        {
          type: 'taskEvent',
          params: { type: 'Restarting', message: 'User requested restart', restartInMs: 0 },
        },
      ],
      calls: [],
      timerMs: 0,
      label: `${label}, restarting as asked`,
    };
  }
  const verdict = record.verdict;
  if (verdict?.restart) {
    return {
      record: { ...record, state: 'restarting', restartDelayMs: verdict.delayMs },
      effects: [
        ...before,
        {
          type: 'taskEvent',
          params: { type: 'Restarting', message: verdict.message, restartInMs: verdict.delayMs },
        },
      ],
      calls: [],
      timerMs: verdict.delayMs,
      label: `${label}, restarting`,
    };
  }
  return {
    record: { ...record, state: 'dead' },
    effects: [
      ...before,
      {
        type: 'taskEvent',
        params: { type: 'Not Restarting', message: verdict?.message ?? '', failsTask: record.failed },
      },
      ...entryEffects('dead'),
    ],
    calls: [],
    timerMs: undefined,
    label: `${label}, not restarting`,
  };
}

function decide(record: RunnerRecord, config: RunnerConfig, zero: boolean, now: number): RunnerRecord {
  const verdict = referenceRestart(config.policy, config.jobType, zero, record.window, now);
  return verdict.restart
    ? { ...record, verdict, window: verdict.window }
    : { ...record, verdict, failed: verdict.failed };
}

const enter = (
  record: RunnerRecord,
  state: RunnerState,
  effects: Effect[],
  config: RunnerConfig,
  label: string,
) => {
  const calls: RunnerStep['calls'] = [];
  const input = { taskId: config.taskId };
  if (state === 'starting') calls.push({ src: 'startTask', input });
  if (state === 'running') calls.push({ src: 'waitTask', input });
  if (state === 'killing')
    calls.push({ src: 'stopTask', input: { ...input, timeoutMs: config.killTimeoutMs } });
  return {
    record: { ...record, state },
    effects: [...effects, ...entryEffects(state)],
    calls,
    timerMs: undefined,
    label,
  };
};

const toExited = (
  record: RunnerRecord,
  before: Effect[],
  config: RunnerConfig,
  label: string,
): RunnerStep => ({
  record: { ...record, state: 'exited' },
  effects: [...before, ...exitedEntry(record.lastExit)],
  calls: [{ src: 'destroyTask', input: { taskId: config.taskId } }],
  timerMs: undefined,
  label,
});

/** The table: one case per (state, event); `undefined` where the lifecycle says nothing happens. */
export function stepRunner(
  record: RunnerRecord,
  event: RunnerEvent,
  config: RunnerConfig,
  now: number,
): RunnerStep | undefined {
  const { state } = record;
  const live = state !== 'dead' && state !== 'detached';
  if (!live) return undefined;
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
    case 'starting done:startTask':
      return enter(
        record,
        'running',
        [{ type: 'taskEvent', params: { type: 'Started', message: 'Task started by client' } }],
        config,
        'starting + started → running',
      );
    case 'starting error:startTask': {
      const kind = event.startError ?? 'other';
      const message = event.message ?? START_ERRORS[kind].message;
      if (RETRYABLE_START.has(kind)) {
        const next = decide(record, config, false, now);
        return decided(
          next,
          [{ type: 'taskEvent', params: { type: 'Driver Failure', message } }],
          `starting + ${kind} start error`,
        );
      }
      const next = { ...record, failed: true, verdict: undefined };
      return {
        record: { ...next, state: 'dead' },
        effects: [
          { type: 'taskEvent', params: { type: 'Driver Failure', message, failsTask: true } },
          { type: 'log', params: { level: 'error' } },
          {
            type: 'taskEvent',
            params: {
              type: 'Not Restarting',
              message: `Error was unrecoverable: ${message}`,
              failsTask: true,
            },
          },
          ...entryEffects('dead'),
        ],
        calls: [],
        timerMs: undefined,
        label: `starting + ${kind} start error → dead`,
      };
    }
    case 'starting kill':
    case 'running kill':
      return enter({ ...record, killRequested: true }, 'killing', [], config, `${state} + kill → killing`);
    case 'running restart':
      return enter(
        { ...record, restartRequested: true },
        'killing',
        [
          {
            type: 'taskEvent',
            params: { type: 'Restart Signaled', message: 'User requested task to restart' },
          },
        ],
        config,
        'running + restart → killing',
      );
    case 'killing kill':
      return {
        record: { ...record, killRequested: true },
        effects: [],
        calls: [],
        timerMs: undefined,
        label: 'killing + kill (the task stays dead)',
      };
    case 'running done:waitTask': {
      const exit = event.exitValue ?? EXITS[event.exit ?? 'exit-0']!;
      const next = decide({ ...record, lastExit: exit }, config, isSuccess(exit), now);
      return toExited(next, [], config, `running + ${event.exit} → exited`);
    }
    case 'running error:waitTask': {
      const exit: Exit = {
        exitCode: null,
        signal: null,
        oomKilled: false,
        error: event.message ?? 'wait broke',
      };
      const next = decide({ ...record, lastExit: exit }, config, false, now);
      return toExited(next, [], config, 'running + wait error → exited');
    }
    case 'killing done:stopTask':
      return toExited(
        { ...record, lastExit: event.exitValue ?? EXITS[event.exit ?? 'exit-1'] },
        [],
        config,
        'killing + stopped → exited',
      );
    case 'killing error:stopTask':
      return toExited(
        record,
        [{ type: 'log', params: { level: 'warn' } }],
        config,
        'killing + stop failed → exited',
      );
    case 'exited kill':
      return {
        record: { ...record, killRequested: true },
        effects: [],
        calls: [],
        timerMs: undefined,
        label: 'exited + kill (remembered)',
      };
    case 'exited done:destroyTask':
      return decided(record, [], 'exited + destroyed');
    case 'exited error:destroyTask':
      return decided(record, [{ type: 'log', params: { level: 'warn' } }], 'exited + destroy failed');
    case 'restarting after:restartDelay':
    case 'restarting restart': {
      const next = {
        ...record,
        restarts: record.restarts + 1,
        restartRequested: false,
        restartDelayMs: undefined,
      };
      return enter(next, 'starting', [], config, `restarting + ${event.key} → starting`);
    }
    case 'restarting kill':
      return enter(
        { ...record, killRequested: true },
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
    { key: 'kill' },
    { key: 'restart' },
    { key: 'shutdown' },
    { key: 'done:startTask' },
    ...(Object.keys(START_ERRORS) as StartError[]).map((startError) => ({
      key: 'error:startTask' as const,
      startError,
    })),
    ...Object.keys(EXITS).map((exit) => ({ key: 'done:waitTask' as const, exit })),
    { key: 'error:waitTask', message: 'wait broke' },
    { key: 'done:stopTask', exit: 'signal-oom' },
    { key: 'done:stopTask', exit: 'exit-0' },
    { key: 'error:stopTask', message: 'stop broke' },
    { key: 'done:destroyTask' },
    { key: 'error:destroyTask', message: 'destroy broke' },
    { key: 'after:restartDelay' },
  ];
}
