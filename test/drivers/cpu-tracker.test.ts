import { expect, it } from 'vitest';
import { createCpuTracker } from '../../src/index.js';

it('gives 0 for the first sample, then Δcpu/Δwall × 100', () => {
  const tracker = createCpuTracker({ totalMhz: 4000, cores: 2 });
  expect(tracker.percent(1000, 10_000)).toBe(0);
  expect(tracker.percent(1500, 11_000)).toBe(50);
  expect(tracker.percent(3500, 12_000)).toBe(200);
});

it('gives 0 when either delta is not positive (counter reset, clock step)', () => {
  const tracker = createCpuTracker({ totalMhz: 4000, cores: 2 });
  tracker.percent(1000, 10_000);
  expect(tracker.percent(900, 11_000)).toBe(0);
  expect(tracker.percent(1900, 11_000)).toBe(0);
  expect(tracker.percent(2900, 10_500)).toBe(0);
});

it('turns a percent into MHz: percent / 100 × total MHz / cores', () => {
  const tracker = createCpuTracker({ totalMhz: 4800, cores: 2 });
  expect(tracker.ticks(100)).toBe(2400);
  expect(tracker.ticks(50)).toBe(1200);
  expect(createCpuTracker({ totalMhz: 4800, cores: 0 }).ticks(100)).toBe(0);
});
