/**
 * Random lifecycles of the task runner machine, checked against the spec table at every step
 * (fast-check, fixed seeds): restart windows fill and expire, restarts count, exits are kept, failed
 * stops back off until the kill deadline.
 */
import { fc, it as itProp } from '@fast-check/vitest';
import { afterEach, beforeEach, describe, vi } from 'vitest';
import { propertyRuns, propertySeeds } from '../property/seeds.js';
import { CONFIGS, checkStep, runnerFor, startWalk } from './task-runner.check.js';
import { runnerAlphabet, stepRunner } from './task-runner.spec-table.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe.each(CONFIGS)('task runner machine, random lifecycles ($name)', ({ input, config }) => {
  const runner = runnerFor(input);
  const start = () => startWalk(runner, config);

  for (const seed of propertySeeds()) {
    itProp.prop([fc.array(fc.nat({ max: 60 }), { minLength: 1, maxLength: 40 })], {
      numRuns: propertyRuns(30),
      seed,
    })('random lifecycles agree with the table at every step (restart windows, counts, exits)', (picks) => {
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
    });
  }
});
