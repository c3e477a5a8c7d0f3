/**
 * Random walks of the stats hook machine, checked against the spec table at every step (fast-check,
 * fixed seeds): counters accumulate, delays grow and reset, timestamps carry across reopened streams.
 */
import { fc, it as itProp } from '@fast-check/vitest';
import { describe } from 'vitest';
import { propertyRuns, propertySeeds } from '../property/seeds.js';
import { alphabet, CONFIGS, checkStep, hookRunner, startWalk } from './stats-hook.check.js';
import { stepHook } from './stats-hook.spec-table.js';

describe.each(CONFIGS)('stats hook machine, random walks ($name)', ({ input, config }) => {
  const runner = hookRunner(input);
  const start = () => startWalk(runner, config);
  for (const seed of propertySeeds()) {
    itProp.prop([fc.array(fc.nat({ max: 64 }), { minLength: 1, maxLength: 40 })], {
      numRuns: propertyRuns(40),
      seed,
    })('random walks agree with the table at every step (counters, delays, timestamps)', (picks) => {
      const events = alphabet();
      let walk = start();
      for (const pick of picks) {
        if (walk.record.state === 'terminal') break;
        // Favour events the current state handles, so walks go deep.
        const handled = events.filter((e) => stepHook(walk.record, e, config) !== undefined);
        const pool = pick % 4 === 0 ? events : handled;
        walk = checkStep(runner, config, walk, pool[pick % pool.length]!, new Set());
      }
    });
  }
});
