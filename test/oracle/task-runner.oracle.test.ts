/**
 * The task runner machine against its independent table (`task-runner.spec-table.ts`), purely through
 * XState's `transition()`: target, task events with their payload, hook phases, log levels, driver
 * calls with their input, the restart timer, counters and output, at every step. Checked both ways:
 * a row the machine does not take fails by name; a machine transition no row accounts for fails by
 * name; an event the table leaves unhandled must change nothing. Kill and shutdown are sent from
 * every live state, pending included.
 */
import { fc, it as itProp } from '@fast-check/vitest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import { taskRunnerMachine } from '../../machines/task-runner.machine.js';
import { propertySeeds } from '../property/seeds.js';
import { machineTransitions } from './machine-transitions.js';
import { NOMAD_DEFAULTS } from './nomad-restart.js';
import { effectsOf, pureRunner } from './pure-step.js';
import {
  EXITS,
  entryEffects,
  initialRunnerRecord,
  type RunnerConfig,
  type RunnerEvent,
  type RunnerRecord,
  runnerAlphabet,
  START_ERRORS,
  stepRunner,
} from './task-runner.spec-table.js';

const TASK = 't1';
const CONFIGS: { name: string; input: Record<string, unknown>; config: RunnerConfig }[] = [
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

const STEP_MS = 7_000;
const stateOf = (value: unknown) => (typeof value === 'string' ? value : Object.keys(value as object)[0]);

function toMachineEvent(runner: ReturnType<typeof pureRunner>, event: RunnerEvent): EventObject {
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

const describeEvent = (e: RunnerEvent) =>
  `${e.key}${e.exit ? `(${e.exit})` : e.startError ? `(${e.startError})` : ''}`;

interface Walk {
  record: RunnerRecord;
  snapshot: AnyMachineSnapshot;
  twin: AnyMachineSnapshot;
  trail: string[];
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

function checkStep(
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
    expect(String(line.params.msg), where).not.toBe('');
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

const signature = (r: RunnerRecord) =>
  JSON.stringify([
    r.state,
    r.killRequested,
    r.window?.count ?? 0,
    r.lastExit !== undefined,
    r.verdict?.restart,
  ]);

describe.each(CONFIGS)('task runner machine against the spec table ($name)', ({ input, config }) => {
  const runner = pureRunner(taskRunnerMachine, input);

  const start = (): Walk => {
    const { snapshot, twin, actions } = runner.start();
    expect(snapshot.value).toBe('pending');
    expect(effectsOf(actions).named, 'Received on creation').toEqual(entryEffects('pending'));
    expect(effectsOf(actions).spawned, 'no driver call before start').toEqual([]);
    return { record: initialRunnerRecord(), snapshot, twin, trail: ['init'] };
  };

  it('every (state, event) does what the table says; every machine transition is accounted for', () => {
    const taken = new Set<string>();
    const seen = new Set<string>();
    const labels = new Set<string>();
    let frontier = [start()];
    for (let depth = 0; depth < 12 && frontier.length > 0; depth++) {
      const next: Walk[] = [];
      for (const walk of frontier) {
        const live = walk.record.state !== 'dead' && walk.record.state !== 'detached';
        if (!live || seen.has(signature(walk.record))) continue;
        seen.add(signature(walk.record));
        for (const event of runnerAlphabet()) {
          const label = stepRunner(walk.record, event, config, Date.now() + STEP_MS)?.label;
          if (label) labels.add(label.replace(/, (killed|restarting|not restarting)$/, ''));
          next.push(checkStep(runner, config, walk, event, taken));
        }
      }
      frontier = next;
    }
    const missing = [...machineTransitions(taskRunnerMachine).entries()].filter(([key]) => !taken.has(key));
    expect(
      missing.map(([, name]) => name),
      'machine transitions no row of the table accounts for',
    ).toEqual([]);
    // Kill and shutdown from every live state (pending included), each a row of its own.
    for (const state of ['pending', 'starting', 'running', 'killing', 'exited', 'restarting']) {
      expect(
        [...labels].some((l) => l.startsWith(`${state} + shutdown`)),
        `${state} + shutdown`,
      ).toBe(true);
    }
    for (const row of [
      'pending + kill',
      'starting + kill',
      'running + kill',
      'exited + kill',
      'restarting + kill',
    ]) {
      expect(
        [...labels].some((l) => l.startsWith(row)),
        row,
      ).toBe(true);
    }
  });

  for (const seed of propertySeeds()) {
    itProp.prop([fc.array(fc.nat({ max: 60 }), { minLength: 1, maxLength: 40 })], { numRuns: 30, seed })(
      'random lifecycles agree with the table at every step (restart windows, counts, exits)',
      (picks) => {
        const events = runnerAlphabet();
        let walk = start();
        for (const pick of picks) {
          if (walk.record.state === 'dead' || walk.record.state === 'detached') break;
          const handled = events.filter((e) => stepRunner(walk.record, e, config, Date.now()) !== undefined);
          // Kill and shutdown are rare, so lifecycles live long enough to use up restart windows.
          const calm = handled.filter((e) => e.key !== 'kill' && e.key !== 'shutdown');
          const pool = pick % 9 === 0 ? events : calm.length > 0 ? calm : handled;
          walk = checkStep(runner, config, walk, pool[pick % pool.length]!, new Set());
        }
      },
    );
  }
});
