/**
 * Shared by the task runner oracle suites: the machine's events for the table's, and one checked
 * step (see `task-runner.oracle.test.ts`). Steps move fake time (the restart window reads Date.now()):
 * the suites use vitest fake timers.
 */
import { expect, vi } from 'vitest';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import { taskRunnerMachine } from '../../machines/task-runner.machine.js';
import { NOMAD_DEFAULTS } from './nomad-restart.js';
import { effectsOf, pureRunner } from './pure-step.js';
import {
  EXITS,
  entryEffects,
  initialRunnerRecord,
  type RunnerConfig,
  type RunnerEvent,
  type RunnerRecord,
  START_ERRORS,
  stepRunner,
} from './task-runner.spec-table.js';

export const TASK = 't1';
export const CONFIGS: { name: string; input: Record<string, unknown>; config: RunnerConfig }[] = [
  {
    name: 'service, 1 attempt, mode fail',
    input: {
      taskId: TASK,
      jobType: 'service',
      restartPolicy: { attempts: 1, intervalMs: 600_000, delayMs: 15_000, mode: 'fail' },
      killTimeoutMs: 2500,
    },
    config: {
      taskId: TASK,
      jobType: 'service',
      policy: { attempts: 1, intervalMs: 600_000, delayMs: 15_000, mode: 'fail' },
      killTimeoutMs: 2500,
    },
  },
  {
    name: 'batch, 2 attempts in 20 s, mode delay',
    input: {
      taskId: TASK,
      jobType: 'batch',
      restartPolicy: { attempts: 2, intervalMs: 20_000, mode: 'delay' },
    },
    config: {
      taskId: TASK,
      jobType: 'batch',
      policy: { ...NOMAD_DEFAULTS.batch, attempts: 2, intervalMs: 20_000, mode: 'delay' },
      killTimeoutMs: 5000,
    },
  },
  {
    name: 'defaults (service, Nomad policy, 5 s kill timeout)',
    input: { taskId: TASK },
    config: { taskId: TASK, jobType: 'service', policy: NOMAD_DEFAULTS.service, killTimeoutMs: 5000 },
  },
];

export const STEP_MS = 7_000;
const stateOf = (value: unknown) => (typeof value === 'string' ? value : Object.keys(value as object)[0]);

export function toMachineEvent(runner: ReturnType<typeof pureRunner>, event: RunnerEvent): EventObject {
  const type = runner.typeOf(event.key);
  switch (event.key) {
    case 'error:startTask':
      return { type, error: START_ERRORS[event.startError ?? 'other'] } as EventObject;
    case 'done:waitTask':
    case 'done:stopTask':
      return { type, output: EXITS[event.exit ?? 'exit-0'] } as EventObject;
    case 'error:waitTask':
    case 'error:stopTask':
    case 'error:destroyTask':
      return { type, error: new Error(event.message) } as EventObject;
    default:
      return { type };
  }
}

export const describeEvent = (e: RunnerEvent) =>
  `${e.key}${e.exit ? `(${e.exit})` : e.startError ? `(${e.startError})` : ''}`;

export interface Walk {
  record: RunnerRecord;
  snapshot: AnyMachineSnapshot;
  twin: AnyMachineSnapshot;
  trail: string[];
}

export function checkStep(
  runner: ReturnType<typeof pureRunner>,
  config: RunnerConfig,
  walk: Walk,
  event: RunnerEvent,
  taken: Set<string>,
): Walk {
  vi.advanceTimersByTime(STEP_MS); // the machine reads Date.now() for the restart window
  const trail = [...walk.trail, describeEvent(event)];
  const where = `after ${trail.join(' → ')}`;
  const expected = stepRunner(walk.record, event, config, Date.now());
  const result = runner.step(walk, toMachineEvent(runner, event));
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
  expect(stateOf(result.snapshot.value), `${where}: target of ${row}`).toBe(record.state);
  if (record.state === 'exited') expect(result.snapshot.value).toEqual({ exited: 'destroying' });

  const effects = effectsOf(result.actions);
  const named = effects.named.map((a) =>
    a.type === 'log'
      ? { type: 'log', params: { level: a.params.level } }
      : { type: a.type, params: a.params },
  );
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
    `${where}: the restart timer of ${row}`,
  ).toEqual(expected.timerMs === undefined ? [] : [expected.timerMs]);

  const context = result.snapshot.context;
  expect(context.restarts, `${where}: restarts`).toBe(record.restarts);
  expect(context.failed, `${where}: failed`).toBe(record.failed);
  expect(context.killRequested, `${where}: kill requested`).toBe(record.killRequested);
  expect(context.restartRequested, `${where}: restart requested`).toBe(record.restartRequested);
  expect(context.lastExit, `${where}: last exit`).toEqual(record.lastExit);
  if (record.state === 'dead' || record.state === 'detached') {
    expect(result.snapshot.status, where).toBe('done');
    expect(result.snapshot.output, `${where}: output`).toEqual({
      taskId: TASK,
      state: record.state,
      failed: record.failed,
      restarts: record.restarts,
      lastExit: record.lastExit,
    });
  }
  return { record, snapshot: result.snapshot, twin: result.twin, trail };
}

export const runnerFor = (input: Record<string, unknown>) => pureRunner(taskRunnerMachine, input);

/** The machine created: pending, the Received event, no driver call. */
export function startWalk(runner: ReturnType<typeof pureRunner>): Walk {
  const { snapshot, twin, actions } = runner.start();
  expect(snapshot.value).toBe('pending');
  expect(effectsOf(actions).named, 'Received on creation').toEqual(entryEffects('pending'));
  expect(effectsOf(actions).spawned, 'no driver call before start').toEqual([]);
  return { record: initialRunnerRecord(), snapshot, twin, trail: ['init'] };
}
