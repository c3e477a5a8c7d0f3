/**
 * The stats hook machine against its independent table (`stats-hook.spec-table.ts`), purely: every
 * step goes through XState's `transition()` on the production machine, and what it did (target, log
 * levels, published sample, actors started and stopped, timers and their delays, counters, output)
 * must be what the table says. Checked both ways: a row the machine does not take fails by name, a
 * machine transition no row accounts for fails by name, and an event the table leaves unhandled in a
 * state must change nothing.
 */
import { fc, it as itProp } from '@fast-check/vitest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import { statsHookMachine } from '../../machines/stats-hook.machine.js';
import { propertySeeds } from '../property/seeds.js';
import { machineTransitions } from './machine-transitions.js';
import { effectsOf, pureRunner } from './pure-step.js';
import {
  ERROR_VARIANTS,
  HOOK_TABLE,
  type HookConfig,
  type HookEvent,
  type HookRecord,
  type HookRow,
  hookAlphabet,
  initialRecord,
  referenceRetryDelay,
  SPEC_DEFAULTS,
  stepHook,
} from './stats-hook.spec-table.js';

const TASK = 't1';
const CUSTOM: HookConfig = { intervalMs: 250, baseMs: 100, capMs: 700, openTimeoutMs: 3000 };
const CONFIGS = [
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

const STREAM = { samples: [], close() {} };
let nextTimestamp = 1_000;

function toMachineEvent(runner: ReturnType<typeof pureRunner>, event: HookEvent): EventObject {
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

const describeEvent = (e: HookEvent) => `${e.key}${e.error ? `(${e.error})` : e.cause ? `(${e.cause})` : ''}`;

interface Walk {
  record: HookRecord;
  snapshot: AnyMachineSnapshot;
  twin: AnyMachineSnapshot;
  trail: string[];
}

/** One step on both sides; fails with the trail if the machine did anything but what the table says. */
function checkStep(
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
    expect(String(line.params.msg), `${where}: a log line says something`).not.toBe('');
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

const signature = (r: HookRecord) =>
  JSON.stringify([r.state, Math.min(r.failedOpens, 1), r.warned.length > 0, r.backoff?.kind]);

describe.each(CONFIGS)('stats hook machine against the spec table ($name)', ({ input, config }) => {
  const runner = pureRunner(statsHookMachine, input);
  const alphabet = () => hookAlphabet(() => (nextTimestamp += 10));

  const start = (): Walk => {
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
    return { record: initialRecord(), snapshot, twin, trail: ['init'] };
  };

  // Breadth-first over every state the oracle can be in (one walk per kind of record) and every event:
  // once, with the defaults; the custom input is exercised by the random walks.
  if (config === SPEC_DEFAULTS)
    it('every (state, event) the hook can meet does what the table says; every row and every machine transition is taken', () => {
      const taken = new Set<string>();
      const rows = new Set<HookRow>();
      const seen = new Set<string>();
      let frontier = [start()];
      for (let depth = 0; depth < 9 && frontier.length > 0; depth++) {
        const next: Walk[] = [];
        for (const walk of frontier) {
          if (walk.record.state === 'terminal' || seen.has(signature(walk.record))) continue;
          seen.add(signature(walk.record));
          for (const event of alphabet()) {
            const row = stepHook(walk.record, event, config)?.step.row;
            if (row) rows.add(row);
            next.push(checkStep(runner, config, walk, event, taken));
          }
        }
        frontier = next;
      }
      expect(
        HOOK_TABLE.filter((row) => !rows.has(row)).map((row) => `${row.from} + ${row.label} → ${row.to}`),
        'rows of the table never reached',
      ).toEqual([]);
      const missing = [...machineTransitions(statsHookMachine).entries()].filter(([key]) => !taken.has(key));
      expect(
        missing.map(([, name]) => name),
        'machine transitions that no row of the table accounts for',
      ).toEqual([]);
    });

  for (const seed of propertySeeds()) {
    itProp.prop([fc.array(fc.nat({ max: 64 }), { minLength: 1, maxLength: 40 })], { numRuns: 40, seed })(
      'random walks agree with the table at every step (counters, delays, timestamps)',
      (picks) => {
        const events = alphabet();
        let walk = start();
        for (const pick of picks) {
          if (walk.record.state === 'terminal') break;
          // Favour events the current state handles, so walks go deep.
          const handled = events.filter((e) => stepHook(walk.record, e, config) !== undefined);
          const pool = pick % 4 === 0 ? events : handled;
          walk = checkStep(runner, config, walk, pool[pick % pool.length]!, new Set());
        }
      },
    );
  }
});

describe('stats hook machine: delays and jitter against the plain formulas', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const openErrors = (input: object, errors: number, random = 0.25) => {
    vi.spyOn(Math, 'random').mockReturnValue(random);
    const runner = pureRunner(statsHookMachine, { taskId: TASK, ...input });
    let { snapshot, twin } = runner.start();
    const delays: number[] = [];
    for (let i = 0; i < errors; i++) {
      const failed = runner.step({ snapshot, twin }, {
        type: runner.typeOf('error:openStats'),
        error: new Error('x'),
      } as EventObject);
      delays.push(...effectsOf(failed.actions).timers.map((t) => t.delay));
      const retried = runner.step(failed, { type: runner.typeOf('after:retryDelay') });
      ({ snapshot, twin } = retried);
    }
    return { delays, runner, snapshot, twin };
  };

  it('rule 5: 1 s, 2 s, 4 s, 5 s, 5 s … by default, and no overflow for any n', () => {
    const { delays } = openErrors({}, 80);
    expect(delays.slice(0, 5)).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(delays).toEqual(delays.map((_, n) => referenceRetryDelay(n, 1000, 5000)));
  });

  it('rule 5: base and cap from the input, merged over the defaults', () => {
    expect(openErrors({ backoff: { baseMs: 300 } }, 6).delays).toEqual([300, 600, 1200, 2400, 4800, 5000]);
    expect(openErrors({ backoff: { capMs: 3000 } }, 4).delays).toEqual([1000, 2000, 3000, 3000]);
  });

  it.each([
    ['full', 0.25, (d: number) => 0.25 * d],
    ['equal', 0.25, (d: number) => d / 2 + (0.25 * d) / 2],
    ['none', 0.25, (d: number) => d],
  ] as const)('rule 5: %s jitter spreads each retry delay (random %d)', (jitter, random, spread) => {
    const { delays } = openErrors({ backoff: { jitter } }, 5, random);
    expect(delays).toEqual([1000, 2000, 4000, 5000, 5000].map(spread));
  });

  it('rule 3: after a stream ends the delay is one interval, never jittered; an open resets the count', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.1);
    const runner = pureRunner(statsHookMachine, {
      taskId: TASK,
      intervalMs: 777,
      backoff: { jitter: 'full' },
    });
    let walk = runner.start();
    walk = runner.step(walk, {
      type: runner.typeOf('error:openStats'),
      error: new Error('x'),
    } as EventObject) as never;
    walk = runner.step(walk, { type: runner.typeOf('after:retryDelay') }) as never;
    walk = runner.step(walk, {
      type: runner.typeOf('done:openStats'),
      output: STREAM,
    } as EventObject) as never;
    const ended = runner.step(walk, { type: runner.typeOf('stats.ended') });
    expect(effectsOf(ended.actions).timers.map((t) => t.delay)).toEqual([777]);
    const again = runner.step(runner.step(ended, { type: runner.typeOf('after:retryDelay') }), {
      type: runner.typeOf('error:openStats'),
      error: new Error('y'),
    } as EventObject);
    expect(
      effectsOf(again.actions).timers.map((t) => t.delay),
      'n is back to 0: base × random',
    ).toEqual([1000 * 0.1]);
  });
});
