import { describe, expect, it } from 'vitest';
import { findSampleProblem, sumResourceUsage } from '../../src/index.js';
import { sampleAt } from '../support/sample.js';

const withMemory = (patch: Record<string, unknown>) => {
  const sample = sampleAt(100);
  return { ...sample, resourceUsage: { memory: { ...sample.resourceUsage.memory, ...patch } } };
};

describe('findSampleProblem', () => {
  it('accepts a valid sample, with or without pids', () => {
    expect(findSampleProblem(sampleAt(100))).toBeUndefined();
    expect(
      findSampleProblem({ ...sampleAt(100), pids: { 42: sampleAt(100).resourceUsage } }),
    ).toBeUndefined();
  });

  it.each([
    ['not-an-object', null, ''],
    ['missing-field', { resourceUsage: {} }, 'timestamp'],
    ['wrong-type', { timestamp: '1', resourceUsage: {} }, 'timestamp'],
    ['not-finite', withMemory({ rss: Number.POSITIVE_INFINITY }), 'resourceUsage.memory.rss'],
    ['not-finite', withMemory({ cache: Number.NaN }), 'resourceUsage.memory.cache'],
    ['negative', withMemory({ swap: -1 }), 'resourceUsage.memory.swap'],
    ['wrong-type', withMemory({ usage: '5' }), 'resourceUsage.memory.usage'],
    ['missing-field', withMemory({ maxUsage: undefined }), 'resourceUsage.memory.maxUsage'],
    ['unknown-measured', withMemory({ measured: ['RSS', 'Bogus'] }), 'resourceUsage.memory.measured'],
    ['missing-field', { timestamp: 1 }, 'resourceUsage'],
    ['wrong-type', { ...sampleAt(1), pids: { 7: 'x' } }, 'pids.7'],
  ])('reports %s at the field', (cause, sample, path) => {
    expect(findSampleProblem(sample)).toMatchObject({ cause, path });
  });

  it("names the pid and the field of a problem in one pid's usage, after valid pids", () => {
    const valid = sampleAt(100).resourceUsage;
    const bad = { ...valid, memory: { ...valid.memory!, rss: -5 } };
    expect(findSampleProblem({ ...sampleAt(100), pids: { 7: valid, 42: bad, 43: valid } })).toEqual({
      cause: 'negative',
      path: 'pids.42.memory.rss',
      value: -5,
    });
  });

  it('refuses a timestamp going backwards', () => {
    expect(findSampleProblem(sampleAt(99), 100)).toMatchObject({ cause: 'timestamp-backwards', value: 99 });
    expect(findSampleProblem(sampleAt(100), 100)).toBeUndefined();
  });
});

it('sums per-pid usage and merges measured lists in order', () => {
  const a = sampleAt(1, 10).resourceUsage;
  const b = {
    memory: {
      ...sampleAt(1, 5).resourceUsage.memory!,
      cache: 3,
      measured: ['Cache' as const, 'RSS' as const],
    },
  };
  const total = sumResourceUsage([a, b]);
  expect(total.memory).toMatchObject({ rss: 15, cache: 3, measured: ['RSS', 'Cache'] });
  expect(total.cpu).toBeUndefined();
});
