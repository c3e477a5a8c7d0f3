/**
 * `decideRestart` against Nomad's restart tracker (`test/oracle/nomad-restart.ts`): a table of
 * success/failure × batch/service × window × mode, Nomad's defaults, and fast-check sequences of
 * exits at random times compared decision by decision.
 */
import { fc, it as itProp } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RESTART_POLICIES,
  decideRestart,
  type RestartPolicy,
  type RestartWindow,
} from '../../machines/restart-policy.js';
import { NOMAD_DEFAULTS, referenceRestart } from '../oracle/nomad-restart.js';
import { propertySeeds } from '../property/seeds.js';

const MIN = 60_000;
const policy = (p: Partial<RestartPolicy> = {}): RestartPolicy => ({
  attempts: 2,
  intervalMs: 10 * MIN,
  delayMs: 15_000,
  mode: 'fail',
  ...p,
});

describe('restart policy: Nomad defaults', () => {
  it('batch: 3 attempts in 24 h, 15 s delay, mode fail; service: 2 attempts in 30 min', () => {
    expect(DEFAULT_RESTART_POLICIES).toEqual(NOMAD_DEFAULTS);
  });

  it.each(['batch', 'service'] as const)(
    '%s: the defaults decide as Nomad does, to the last attempt',
    (jobType) => {
      const p = DEFAULT_RESTART_POLICIES[jobType];
      let window: RestartWindow | undefined;
      const restarts: string[] = [];
      for (let i = 0; ; i++) {
        const d = decideRestart(p, jobType, 'failure', window, 1000 + i * 16_000);
        restarts.push(d.message);
        if (!d.restart) {
          expect(d.failed).toBe(true);
          break;
        }
        expect(d.delayMs).toBe(15_000);
        window = d.window;
      }
      expect(restarts).toHaveLength(NOMAD_DEFAULTS[jobType].attempts + 1);
    },
  );
});

type Row = [
  name: string,
  p: RestartPolicy,
  jobType: 'batch' | 'service',
  outcome: 'success' | 'failure',
  window: RestartWindow | undefined,
  now: number,
  expected: ReturnType<typeof decideRestart>,
];

const W = (startedAt: number, count: number): RestartWindow => ({ startedAt, count });

const rows: Row[] = [
  [
    'batch exits 0: done, not failed',
    policy(),
    'batch',
    'success',
    undefined,
    0,
    { restart: false, failed: false, message: 'Exited successfully' },
  ],
  [
    'batch exits 0 even past the attempts',
    policy(),
    'batch',
    'success',
    W(0, 2),
    1,
    { restart: false, failed: false, message: 'Exited successfully' },
  ],
  [
    'service exits 0: restarts within policy',
    policy(),
    'service',
    'success',
    undefined,
    5,
    { restart: true, delayMs: 15_000, window: W(5, 1), message: 'Restart within policy (1 of 2)' },
  ],
  [
    'batch fails: restarts, window opens now',
    policy(),
    'batch',
    'failure',
    undefined,
    7,
    { restart: true, delayMs: 15_000, window: W(7, 1), message: 'Restart within policy (1 of 2)' },
  ],
  [
    'second failure in the window',
    policy(),
    'service',
    'failure',
    W(100, 1),
    200,
    { restart: true, delayMs: 15_000, window: W(100, 2), message: 'Restart within policy (2 of 2)' },
  ],
  [
    'past the attempts, mode fail: dead, failed',
    policy(),
    'service',
    'failure',
    W(100, 2),
    200,
    { restart: false, failed: true, message: 'Exceeded allowed attempts' },
  ],
  [
    'service exits 0 past the attempts, mode fail: failed',
    policy(),
    'service',
    'success',
    W(100, 2),
    200,
    { restart: false, failed: true, message: 'Exceeded allowed attempts' },
  ],
  [
    'at the very end of the window: still in it',
    policy(),
    'service',
    'failure',
    W(0, 2),
    10 * MIN,
    { restart: false, failed: true, message: 'Exceeded allowed attempts' },
  ],
  [
    '1 ms after the window: a new one opens',
    policy(),
    'service',
    'failure',
    W(0, 2),
    10 * MIN + 1,
    { restart: true, delayMs: 15_000, window: W(10 * MIN + 1, 1), message: 'Restart within policy (1 of 2)' },
  ],
  [
    'past the attempts, mode delay: waits for the window, then the delay',
    policy({ mode: 'delay' }),
    'service',
    'failure',
    W(0, 2),
    4 * MIN,
    {
      restart: true,
      delayMs: 6 * MIN + 15_000,
      window: W(10 * MIN, 0),
      message: 'Exceeded allowed attempts, applying a delay',
    },
  ],
  [
    'mode delay at the end of the window: only the delay',
    policy({ mode: 'delay' }),
    'batch',
    'failure',
    W(0, 2),
    10 * MIN,
    {
      restart: true,
      delayMs: 15_000,
      window: W(10 * MIN, 0),
      message: 'Exceeded allowed attempts, applying a delay',
    },
  ],
  [
    'mode delay, in the new window: counts from 1',
    policy({ mode: 'delay' }),
    'service',
    'failure',
    W(10 * MIN, 0),
    10 * MIN + 20_000,
    { restart: true, delayMs: 15_000, window: W(10 * MIN, 1), message: 'Restart within policy (1 of 2)' },
  ],
  [
    'attempts 0, mode fail: no restart',
    policy({ attempts: 0 }),
    'service',
    'failure',
    undefined,
    0,
    { restart: false, failed: true, message: 'Restarts not allowed by the policy' },
  ],
  [
    'attempts 0, mode delay: no restart either (Nomad)',
    policy({ attempts: 0, mode: 'delay' }),
    'service',
    'failure',
    undefined,
    0,
    { restart: false, failed: true, message: 'Restarts not allowed by the policy' },
  ],
  [
    'attempts 0, batch exits 0: done',
    policy({ attempts: 0 }),
    'batch',
    'success',
    undefined,
    0,
    { restart: false, failed: false, message: 'Exited successfully' },
  ],
];

describe('restart policy: decisions, table-driven against Nomad', () => {
  it.each(rows)('%s', (_, p, jobType, outcome, window, now, expected) => {
    expect(decideRestart(p, jobType, outcome, window, now)).toEqual(expected);
    expect(referenceRestart(p, jobType, outcome === 'success', window, now), 'the reference agrees').toEqual(
      expected,
    );
  });
});

const policyArb = fc.record({
  attempts: fc.integer({ min: 0, max: 4 }),
  intervalMs: fc.integer({ min: 1, max: 100_000 }),
  delayMs: fc.integer({ min: 0, max: 20_000 }),
  mode: fc.constantFrom('fail' as const, 'delay' as const),
});
const exitsArb = fc.array(fc.record({ afterMs: fc.integer({ min: 0, max: 60_000 }), zero: fc.boolean() }), {
  minLength: 1,
  maxLength: 12,
});

describe('restart policy: properties', () => {
  for (const seed of propertySeeds()) {
    itProp.prop([policyArb, fc.constantFrom('batch' as const, 'service' as const), exitsArb], {
      seed,
      numRuns: 200,
    })(
      'a run of exits decides as the reference at every exit, the task restarting after each delay',
      (p, jobType, exits) => {
        let now = 0;
        let window: RestartWindow | undefined;
        let reference: RestartWindow | undefined;
        for (const exit of exits) {
          now += exit.afterMs;
          const actual = decideRestart(p, jobType, exit.zero ? 'success' : 'failure', window, now);
          const expected = referenceRestart(p, jobType, exit.zero, reference, now);
          expect(actual).toEqual(expected);
          if (!actual.restart || !expected.restart) return;
          window = actual.window;
          reference = expected.window;
          now += actual.delayMs; // the next run starts after the delay
        }
      },
    );
  }
});
