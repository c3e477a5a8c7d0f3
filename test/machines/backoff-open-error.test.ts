/**
 * The pure helpers of the stats hook against plain reference formulas: retry delays and jitter
 * (spec rule 5) and the classification of driver errors (rule 4), with fast-check.
 */
import { fc, it as itProp } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { applyJitter, DEFAULT_BACKOFF, retryDelayMs } from '../../machines/backoff.js';
import {
  classifyOpenError,
  DRIVER_ERROR_CODES,
  describeError,
  describeValue,
  isFinalError,
} from '../../machines/open-error.js';
import { referenceRetryDelay } from '../oracle/stats-hook.spec-table.js';
import { propertySeeds } from '../property/seeds.js';

describe('backoff', () => {
  it('defaults: base 1 s, cap 5 s, no jitter', () => {
    expect(DEFAULT_BACKOFF).toEqual({ baseMs: 1000, capMs: 5000, jitter: 'none' });
  });

  it('1 s, 2 s, 4 s, 5 s, 5 s …; a negative count is the first error', () => {
    expect([0, 1, 2, 3, 4, 100, 1e9, -3].map((n) => retryDelayMs(n, DEFAULT_BACKOFF))).toEqual([
      1000, 2000, 4000, 5000, 5000, 5000, 5000, 1000,
    ]);
  });

  for (const seed of propertySeeds()) {
    itProp.prop(
      [
        fc.integer({ min: -5, max: 5000 }),
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 0, max: 1e9 }),
      ],
      { seed, numRuns: 300 },
    )('retryDelayMs is min(base × 2^n, cap) for any n, finite', (n, baseMs, capMs) => {
      const delay = retryDelayMs(n, { baseMs, capMs });
      expect(delay).toBe(referenceRetryDelay(Math.max(n, 0), baseMs, capMs));
      expect(Number.isFinite(delay)).toBe(true);
    });

    itProp.prop(
      [fc.integer({ min: 0, max: 1e7 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })],
      {
        seed,
        numRuns: 300,
      },
    )('jitter: none = d, full = r·d, equal = d/2 + r·d/2', (d, r) => {
      const random = () => r;
      expect(applyJitter(d, 'none', random)).toBe(d);
      expect(applyJitter(d, 'full', random)).toBeCloseTo(r * d, 6);
      expect(applyJitter(d, 'equal', random)).toBeCloseTo(d / 2 + (r * d) / 2, 6);
      expect(applyJitter(d, 'equal', random)).toBeGreaterThanOrEqual(d / 2);
      expect(applyJitter(d, 'full', random)).toBeLessThanOrEqual(d);
    });
  }

  it('jitter with fixed randoms', () => {
    expect(applyJitter(1000, 'full', () => 0.3)).toBe(300);
    expect(applyJitter(1000, 'equal', () => 0.3)).toBe(650);
    expect(applyJitter(1000, 'equal', () => 0)).toBe(500);
    expect(applyJitter(1000, 'none', () => 0.3)).toBe(1000);
  });
});

describe('open-error', () => {
  it('the wire codes', () => {
    expect(DRIVER_ERROR_CODES).toEqual({
      recoverable: 'TASKPULSE_RECOVERABLE',
      statsNotImplemented: 'TASKPULSE_STATS_NOT_IMPLEMENTED',
      taskNotFound: 'TASKPULSE_TASK_NOT_FOUND',
      pluginShutdown: 'TASKPULSE_PLUGIN_SHUTDOWN',
    });
  });

  it.each([
    [{ code: 'TASKPULSE_STATS_NOT_IMPLEMENTED' }, 'not-implemented', true],
    [{ code: 'TASKPULSE_RECOVERABLE', recoverable: false }, 'unrecoverable', true],
    [{ code: 'TASKPULSE_RECOVERABLE', recoverable: true }, 'other', false],
    [{ code: 'TASKPULSE_RECOVERABLE' }, 'other', false],
    [{ code: 'TASKPULSE_RECOVERABLE', recoverable: 0 }, 'other', false],
    [{ code: 'TASKPULSE_PLUGIN_SHUTDOWN' }, 'plugin-shutdown', false],
    [{ code: 'TASKPULSE_TASK_NOT_FOUND' }, 'other', false],
    [{ recoverable: false }, 'other', false],
    [{ code: 'EPIPE', message: 'stats not implemented' }, 'other', false],
    [new Error('stats not implemented'), 'other', false],
    [null, 'other', false],
    [undefined, 'other', false],
    ['TASKPULSE_STATS_NOT_IMPLEMENTED', 'other', false],
  ] as const)('classifies %o as %s (final: %s), by code, never by message', (error, kind, final) => {
    expect(classifyOpenError(error)).toBe(kind);
    expect(isFinalError(error)).toBe(final);
  });

  const reference = (value: unknown, max: number) => {
    let text: string;
    try {
      text = String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
    return text.length > max ? `${text.slice(0, max)}…` : text;
  };

  for (const seed of propertySeeds()) {
    itProp.prop([fc.anything(), fc.integer({ min: 0, max: 200 })], { seed, numRuns: 200 })(
      'describeValue is String(value), cut to the limit with an ellipsis, and never throws',
      (value, max) => {
        expect(describeValue(value, max)).toBe(reference(value, max));
      },
    );
  }

  it('describeValue: the default limit is 120 characters, exactly', () => {
    expect(describeValue('x'.repeat(120))).toBe('x'.repeat(120));
    expect(describeValue('x'.repeat(121))).toBe(`${'x'.repeat(120)}…`);
    expect(describeValue(Object.create(null))).toBe('[object Object]');
    const throwing = {
      toString() {
        throw new Error('no');
      },
    };
    expect(describeValue(throwing)).toBe('[object Object]');
  });

  it('describeError: an Error by its message, else a string message field, else the value', () => {
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describeError({ message: 'from a plugin' })).toBe('from a plugin');
    expect(describeError({ message: 42 })).toBe('[object Object]');
    expect(describeError('plain')).toBe('plain');
    const getter = Object.defineProperty({}, 'message', {
      get() {
        throw new Error('no');
      },
    });
    expect(describeError(getter)).toBe('[object Object]');
    expect(describeError(null)).toBe('null');
  });

  it('describeError: an Error whose message is not a string, or throws, is described, never thrown or passed on', () => {
    expect(describeError(Object.assign(new Error('x'), { message: 42 }))).toBe('Error: 42');
    const hostile = Object.defineProperty(new Error('x'), 'message', {
      get() {
        throw new Error('no');
      },
    });
    expect(describeError(hostile)).toBe('[object Error]');
  });
});
