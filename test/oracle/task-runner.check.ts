/**
 * Shared by the task runner oracle suites: the machine's events for the table's, and one checked
 * step (see `task-runner.oracle.test.ts`). Steps move fake time (the restart window reads
 * Date.now()): the suites use vitest fake timers.
 */
import { expect, vi } from 'vitest';
import type { AnyMachineSnapshot, EventObject, StateValue } from 'xstate';
import { taskRunnerMachine } from '../../machines/task-runner.machine.js';
import { NOMAD_DEFAULTS } from './nomad-restart.js';
import { effectsOf, pureRunner } from './pure-step.js';
import {
  EXITS,
  entryEffects,
  initialRunnerRecord,
  RECOVER_ERRORS,
  type RunnerConfig,
  type RunnerEvent,
  type RunnerRecord,
  type RunnerState,
  START_ERRORS,
  STOP_ERRORS,
  stepRunner,
} from './task-runner.spec-table.js';

export const TASK = 't1';
/** The docs' defaults: kill timeout 5 s, deadline kill timeout + 30 s, stop backoff 500 ms to 5 s. */
const KILL_DEFAULTS = {
  killTimeoutMs: 5000,
  killDeadlineMs: 35_000,
  killRetry: { baseMs: 500, capMs: 5000 },
};

export const CONFIGS: { name: string; input: Record<string, unknown>; config: RunnerConfig }[] = [
  {
    name: 'service, 1 attempt, mode fail, short kill deadline',
    input: {
      taskId: TASK,
      jobType: 'service',
      restartPolicy: { attempts: 1, intervalMs: 600_000, delayMs: 15_000, mode: 'fail' },
      killTimeoutMs: 2500,
      killDeadlineMs: 3000,
      killRetry: { baseMs: 1000 },
    },
    config: {
      taskId: TASK,
      jobType: 'service',
      policy: { attempts: 1, intervalMs: 600_000, delayMs: 15_000, mode: 'fail' },
      killTimeoutMs: 2500,
      killDeadlineMs: 3000,
      killRetry: { baseMs: 1000, capMs: 5000 },
    },
  },
  {
    name: 'batch, 2 attempts in 20 s, mode delay, kill timeout 1 s',
    input: {
      taskId: TASK,
      jobType: 'batch',
      restartPolicy: { attempts: 2, intervalMs: 20_000, mode: 'delay' },
      killTimeoutMs: 1000,
      killRetry: { capMs: 1500 },
    },
    config: {
      taskId: TASK,
      jobType: 'batch',
      policy: { ...NOMAD_DEFAULTS.batch, attempts: 2, intervalMs: 20_000, mode: 'delay' },
      killTimeoutMs: 1000,
      killDeadlineMs: 31_000,
      killRetry: { baseMs: 500, capMs: 1500 },
    },
  },
  {
    name: 'defaults (service, Nomad policy, 5 s kill timeout, 35 s deadline)',
    input: { taskId: TASK },
    config: { taskId: TASK, jobType: 'service', policy: NOMAD_DEFAULTS.service, ...KILL_DEFAULTS },
  },
];

export const STEP_MS = 7_000;

/** The machine's state value as the table names it. */
export function tableState(value: StateValue): string {
  if (typeof value === 'string') return value;
  const [parent, child] = Object.entries(value)[0]!;
  if (parent === 'exited' && child === 'destroying') return 'exited';
  return `${parent}.${String(child)}`;
}

export function toMachineEvent(
  runner: ReturnType<typeof pureRunner>,
  event: RunnerEvent,
  snapshot: AnyMachineSnapshot,
): EventObject {
  const type = runner.typeOf(event.key, snapshot);
  switch (event.key) {
    case 'kill':
      return (
        event.deadlineMs === undefined ? { type } : { type, deadlineMs: event.deadlineMs }
      ) as EventObject;
    case 'done:startTask':
      // A driver may resolve with no handle at all (nothing to name in a failed kill).
      return { type, output: event.driverId ? { driverId: event.driverId } : undefined } as EventObject;
    case 'error:startTask':
      return { type, error: START_ERRORS[event.startError ?? 'other'] } as EventObject;
    case 'error:stopTask':
      return {
        type,
        error: event.stopError === 'nothing' ? undefined : STOP_ERRORS[event.stopError ?? 'engine-down'],
      } as EventObject;
    case 'recover':
      return { type, mode: event.mode ?? 'running' } as EventObject;
    case 'error:recoverTask':
      return { type, error: RECOVER_ERRORS[event.recoverError ?? 'other'] } as EventObject;
    case 'done:waitTask':
    case 'done:stopTask':
      return { type, output: EXITS[event.exit ?? 'exit-0'] } as EventObject;
    case 'error:waitTask':
    case 'error:destroyTask':
      return { type, error: new Error(event.message) } as EventObject;
    default:
      return { type };
  }
}

export const describeEvent = (e: RunnerEvent) => {
  const detail =
    e.exit ?? e.startError ?? e.stopError ?? e.recoverError ?? e.mode ?? e.driverId ?? e.deadlineMs;
  return `${e.key}${detail === undefined ? '' : `(${detail})`}`;
};

export interface Walk {
  record: RunnerRecord;
  snapshot: AnyMachineSnapshot;
  twin: AnyMachineSnapshot;
  trail: string[];
}

/** What the machine's context must hold after a step, as the table keeps it. */
export function expectRecord(context: Record<string, unknown>, record: RunnerRecord, where: string): void {
  expect(
    {
      restarts: context.restarts,
      failed: context.failed,
      killRequested: context.killRequested,
      restartRequested: context.restartRequested,
      lastExit: context.lastExit,
      decision: context.decision,
      restartWindow: context.restartWindow,
      driverId: context.driverId,
      killDeadlineMs: context.killDeadlineMs,
      stopFailures: context.stopFailures,
      stopBackoffMs: context.stopBackoffMs,
      stopError: context.stopError,
    },
    `${where}: counters, flags, exit, restart decision and window, kill deadline and failed stops`,
  ).toEqual({
    restarts: record.restarts,
    failed: record.failed,
    killRequested: record.killRequested,
    restartRequested: record.restartRequested,
    lastExit: record.lastExit,
    decision: record.verdict,
    restartWindow: record.window,
    driverId: record.driverId,
    killDeadlineMs: record.killDeadlineMs,
    stopFailures: record.stopFailures,
    stopBackoffMs: record.stopBackoffMs,
    stopError: record.stopError,
  });
}

export function checkStep(
  runner: ReturnType<typeof pureRunner>,
  config: RunnerConfig,
  walk: Walk,
  event: RunnerEvent,
  taken: Set<string>,
  stepMs = STEP_MS,
): Walk {
  vi.advanceTimersByTime(stepMs); // the machine reads Date.now() for the restart window
  const trail = [...walk.trail, describeEvent(event)];
  const where = `after ${trail.join(' → ')}`;
  const expected = stepRunner(walk.record, event, config, Date.now());
  const result = runner.step(walk, toMachineEvent(runner, event, walk.snapshot));
  for (const key of result.taken) taken.add(key);
  if (!expected) {
    expect(
      result.taken,
      `${where}: the table has nothing for ${walk.record.state} + ${describeEvent(event)}, but the machine took a transition`,
    ).toEqual([]);
    expect(result.snapshot.value, where).toEqual(walk.snapshot.value);
    expect(result.snapshot.context, where).toEqual(walk.snapshot.context);
    return { ...walk, trail };
  }
  const { record } = expected;
  const row = `row "${expected.label}"`;
  expect(result.taken.length, `${where}: ${row} — the machine has no such transition`).toBeGreaterThan(0);
  expect(tableState(result.snapshot.value), `${where}: target of ${row}`).toBe(record.state);

  const effects = effectsOf(result.actions);
  const named = effects.named.map(({ type, params }) => {
    if (type !== 'log') return { type, params };
    const { msg: _text, ...rest } = params;
    return { type, params: rest };
  });
  expect(named, `${where}: task events, hook phases and log levels of ${row}, in order`).toEqual(
    expected.effects,
  );
  for (const line of effects.named.filter((a) => a.type === 'log')) {
    expect(
      typeof line.params.msg === 'string' && line.params.msg.length > 0,
      `${where}: a log line says something`,
    ).toBe(true);
  }
  expect(
    effects.spawned.map((s) => ({ src: s.src, input: s.input })),
    `${where}: driver calls of ${row}`,
  ).toEqual(expected.calls);
  expect(
    effects.timers.map((t) => t.delay),
    `${where}: the timer of ${row}`,
  ).toEqual(expected.timerMs === undefined ? [] : [expected.timerMs]);

  expectRecord(result.snapshot.context, record, where);
  if (record.state === 'dead' || record.state === 'detached') {
    expect(result.snapshot.status, where).toBe('done');
    expect(result.snapshot.output, `${where}: output`).toEqual({
      taskId: TASK,
      state: record.state,
      failed: record.failed,
      restarts: record.restarts,
      lastExit: record.lastExit,
    });
  } else {
    expect(result.snapshot.status, `${where}: still live`).toBe('active');
  }
  return { record, snapshot: result.snapshot, twin: result.twin, trail };
}

export const runnerFor = (input: Record<string, unknown>) => pureRunner(taskRunnerMachine, input);

/** The machine created: pending, the Received event, no driver call. */
export function startWalk(runner: ReturnType<typeof pureRunner>, config: RunnerConfig): Walk {
  const { snapshot, twin, actions } = runner.start();
  expect(snapshot.value).toBe('pending');
  expect(effectsOf(actions).named, 'Received on creation').toEqual(entryEffects('pending'));
  expect(effectsOf(actions).spawned, 'no driver call before start').toEqual([]);
  const record = initialRunnerRecord(config);
  expectRecord(snapshot.context, record, 'on creation');
  expect(snapshot.context.jobType, 'job type').toBe(config.jobType);
  expect(snapshot.context.restartPolicy, 'the restart policy, defaults filled in').toEqual(config.policy);
  expect(snapshot.context.killTimeoutMs, 'kill timeout').toBe(config.killTimeoutMs);
  expect(snapshot.context.killRetry, 'stop backoff').toEqual(config.killRetry);
  return { record, snapshot, twin, trail: ['init'] };
}

export const LIVE_STATES: RunnerState[] = [
  'pending',
  'starting',
  'recovering',
  'running',
  'killing.stopping',
  'killing.retrying',
  'killFailed',
  'exited',
  'restarting',
];
