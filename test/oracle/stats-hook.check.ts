/**
 * Shared by the stats hook oracle suites: the machine's events for the table's, and one checked step
 * (see `stats-hook.oracle.test.ts`).
 */
import { expect } from 'vitest';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import { statsHookMachine } from '../../machines/stats-hook.machine.js';
import { effectsOf, pureRunner } from './pure-step.js';
import {
  ERROR_VARIANTS,
  errorText,
  type HookConfig,
  type HookEvent,
  type HookRecord,
  hookAlphabet,
  initialRecord,
  SPEC_DEFAULTS,
  stepHook,
} from './stats-hook.spec-table.js';

export const TASK = 't1';
const CUSTOM: HookConfig = { intervalMs: 250, baseMs: 100, capMs: 700, openTimeoutMs: 3000 };
export const CONFIGS = [
  { name: 'defaults', input: { taskId: TASK }, config: SPEC_DEFAULTS },
  {
    name: 'custom',
    input: {
      taskId: TASK,
      intervalMs: CUSTOM.intervalMs,
      backoff: { baseMs: CUSTOM.baseMs, capMs: CUSTOM.capMs },
      openTimeoutMs: CUSTOM.openTimeoutMs,
    },
    config: CUSTOM,
  },
] as const;

export const STREAM = { samples: [], close() {} };
let nextTimestamp = 1_000;

export function toMachineEvent(runner: ReturnType<typeof pureRunner>, event: HookEvent): EventObject {
  const type = runner.typeOf(event.key);
  const error = event.error === undefined ? undefined : ERROR_VARIANTS[event.error];
  switch (event.key) {
    case 'done:openStats':
      return { type, output: STREAM } as EventObject;
    case 'error:openStats':
    case 'stats.failed':
      return { type, error } as EventObject;
    case 'stats.sample':
      return { type, sample: { timestamp: event.timestamp }, timestamp: event.timestamp } as EventObject;
    case 'stats.dropped':
      return { type, cause: event.cause, path: 'resourceUsage.memory.rss', value: -1 } as EventObject;
    default:
      return { type };
  }
}

export const describeEvent = (e: HookEvent) =>
  `${e.key}${e.error ? `(${e.error})` : e.cause ? `(${e.cause})` : ''}`;

export interface Walk {
  record: HookRecord;
  snapshot: AnyMachineSnapshot;
  twin: AnyMachineSnapshot;
  trail: string[];
}

/** One step on both sides; fails with the trail if the machine did anything but what the table says. */
export function checkStep(
  runner: ReturnType<typeof pureRunner>,
  config: HookConfig,
  walk: Walk,
  event: HookEvent,
  taken: Set<string>,
): Walk {
  const trail = [...walk.trail, describeEvent(event)];
  const where = `after ${trail.join(' → ')}`;
  const expected = stepHook(walk.record, event, config);
  const result = runner.step(walk, toMachineEvent(runner, event));
  for (const key of result.taken) taken.add(key);
  const effects = effectsOf(result.actions);

  if (!expected) {
    // No row: the spec says nothing happens, so the machine must not move, act or count.
    expect(
      result.taken,
      `${where}: the table has no row for ${walk.record.state} + ${describeEvent(event)}, but the machine took a transition`,
    ).toEqual([]);
    expect(result.snapshot.value, where).toEqual(walk.snapshot.value);
    expect(result.snapshot.context, where).toEqual(walk.snapshot.context);
    return { ...walk, trail };
  }
  const { record, step } = expected;
  const rowName = `row "${step.row.from} + ${step.row.label} → ${step.row.to}"`;
  expect(result.taken.length, `${where}: ${rowName} — the machine has no such transition`).toBeGreaterThan(0);
  expect(result.snapshot.value, `${where}: target of ${rowName}`).toBe(record.state);

  const logs = effects.named.filter((a) => a.type === 'log');
  expect(
    logs.map((a) => a.params.level),
    `${where}: log levels of ${rowName}`,
  ).toEqual(step.row.logs);
  for (const line of logs)
    expect(
      typeof line.params.msg === 'string' && line.params.msg.length > 0,
      `${where}: a log line says something`,
    ).toBe(true);
  const named = step.row.namesError && event.error ? errorText(event.error) : undefined;
  expect(
    logs.map((a) => a.params.error),
    `${where}: the log line of ${rowName} ${named ? 'names the error' : 'carries no error'}`,
  ).toEqual(logs.map(() => named));
  const published = effects.named.filter((a) => a.type === 'publishSample').map((a) => a.params.sample);
  const sent = toMachineEvent(runner, event) as { sample?: unknown };
  expect(published, `${where}: samples handed to the updater`).toEqual(step.row.publish ? [sent.sample] : []);
  expect(
    effects.named.filter((a) => a.type !== 'log' && a.type !== 'publishSample'),
    `${where}: no other effect`,
  ).toEqual([]);

  // Actors and timers: what the state left stops, what the state entered starts.
  const from = walk.record.state;
  expect(effects.stopped, `${where}: actors stopped`).toBe(
    step.stopsPrevious && (from === 'retrying' || from === 'streaming') ? 1 : 0,
  );
  expect(effects.cancelled.length, `${where}: timers cancelled`).toBe(
    step.stopsPrevious && (from === 'retrying' || from === 'backoff') ? 1 : 0,
  );
  const entered = step.stopsPrevious ? record.state : undefined;
  const spawned = effects.spawned.map((s) => s.src);
  const timers = effects.timers.map((t) => t.delay);
  switch (entered) {
    case 'retrying':
      expect(spawned, `${where}: one driver call`).toEqual(['openStats']);
      expect(effects.spawned[0]?.input, `${where}: the call's task and interval (rule 1)`).toEqual({
        taskId: TASK,
        intervalMs: config.intervalMs,
      });
      expect(timers, `${where}: the open time-out (rule 9)`).toEqual([config.openTimeoutMs]);
      break;
    case 'streaming':
      expect(spawned, `${where}: one stream reader`).toEqual(['readStats']);
      expect(
        effects.spawned[0]?.input,
        `${where}: the reader gets the stream and the last timestamp`,
      ).toEqual({
        stream: STREAM,
        lastTimestamp: walk.record.lastTimestamp,
        stallTimeoutMs: undefined,
      });
      expect(timers, `${where}: no timer while streaming`).toEqual([]);
      break;
    case 'backoff':
      expect(spawned, `${where}: nothing runs in backoff`).toEqual([]);
      expect(timers, `${where}: one timer of the ${record.backoff?.kind} delay`).toEqual([
        record.backoff?.delayMs,
      ]);
      break;
    default:
      expect(spawned, `${where}: nothing started`).toEqual([]);
      expect(timers, `${where}: no timer`).toEqual([]);
  }

  expect(result.snapshot.context.counts, `${where}: counters`).toEqual(record.counts);
  // What later steps read: the last published timestamp (rule 8, across reopened streams) and the
  // drop causes already warned (one warn per cause; a silent drop adds nothing).
  expect(result.snapshot.context.lastTimestamp, `${where}: the last timestamp kept`).toBe(
    record.lastTimestamp,
  );
  expect(result.snapshot.context.warnedDropCauses, `${where}: drop causes warned`).toEqual(record.warned);
  if (record.state === 'terminal') {
    expect(result.snapshot.status, where).toBe('done');
    expect(result.snapshot.output, `${where}: the output names the reason and counts`).toEqual({
      taskId: TASK,
      reason: record.reason,
      ...record.counts,
    });
  }
  return { record, snapshot: result.snapshot, twin: result.twin, trail };
}

export const alphabet = () => hookAlphabet(() => (nextTimestamp += 10));

/** The machine started with `input`, checked against the table's start. */
export function startWalk(runner: ReturnType<typeof pureRunner>, config: HookConfig): Walk {
  const { snapshot, twin, actions } = runner.start();
  const effects = effectsOf(actions);
  expect(snapshot.value, 'starts in retrying').toBe('retrying');
  expect(
    effects.spawned.map((s) => s.src),
    'the first call starts at once',
  ).toEqual(['openStats']);
  expect(effects.spawned[0]?.input).toEqual({ taskId: TASK, intervalMs: config.intervalMs });
  expect(
    effects.timers.map((t) => t.delay),
    'with its open time-out',
  ).toEqual([config.openTimeoutMs]);
  expect(snapshot.context.counts).toEqual(initialRecord().counts);
  expect(snapshot.context.lastTimestamp, 'no timestamp yet').toBeUndefined();
  expect(snapshot.context.warnedDropCauses, 'no drop cause warned yet').toEqual([]);
  return { record: initialRecord(), snapshot, twin, trail: ['init'] };
}

export const hookRunner = (input: object) => pureRunner(statsHookMachine, { ...input });
