/**
 * The stats hook machine against its independent table (`stats-hook.spec-table.ts`), purely: every
 * step goes through XState's `transition()` on the production machine, and what it did (target, log
 * levels, published sample, actors started and stopped, timers and their delays, counters, output)
 * must be what the table says. Checked both ways: a row the machine does not take fails by name, a
 * machine transition no row accounts for fails by name, and an event the table leaves unhandled in a
 * state must change nothing. Random walks: `stats-hook.walks.test.ts`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EventObject } from 'xstate';
import { statsHookMachine } from '../../machines/stats-hook.machine.js';
import { machineTransitions } from './machine-transitions.js';
import { effectsOf, pureRunner } from './pure-step.js';
import { alphabet, checkStep, STREAM, startWalk, TASK, type Walk } from './stats-hook.check.js';
import {
  HOOK_TABLE,
  type HookRecord,
  type HookRow,
  referenceRetryDelay,
  SPEC_DEFAULTS,
  stepHook,
} from './stats-hook.spec-table.js';

const signature = (r: HookRecord) =>
  JSON.stringify([
    r.state,
    Math.min(r.failedOpens, 1),
    r.warned.length > 0,
    r.backoff?.kind,
    // A reopened stream's reader gets the last timestamp: explore with and without one.
    r.lastTimestamp !== undefined,
  ]);

describe('stats hook machine against the spec table', () => {
  const config = SPEC_DEFAULTS;
  const runner = pureRunner(statsHookMachine, { taskId: TASK });
  const start = () => startWalk(runner, config);

  // Breadth-first over every kind of record the oracle can be in, and every event in each.
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
