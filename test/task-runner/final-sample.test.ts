/**
 * A driver's final sample (exact figures from the kernel after the exit, on `ExitResult.usage`) is
 * the run's last sample: published before the task is marked exited, kept readable afterwards, and
 * the source of the summary's CPU seconds.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { trackUsage } from '../../src/agent/usage-summary.js';
import { emptyCpuStats } from '../../src/drivers/usage.js';
import {
  createBus,
  createMockDriver,
  createTaskRunner,
  type TaskBusEvents,
  type TaskResourceUsage,
} from '../../src/index.js';
import { useLeakCheck } from '../support/leak-check.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 10_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});
const leaks = useLeakCheck();

const finalSample = (totalNs: number): TaskResourceUsage => ({
  timestamp: Date.now(),
  resourceUsage: {
    cpu: { ...emptyCpuStats(), percent: 90, totalTime: totalNs, measured: ['Percent', 'Total Time'] },
  },
});

it('publishes the exit sample last, marks it exited, and the summary takes its CPU seconds', async () => {
  const driver = createMockDriver({ defaults: { cpuPercent: 50 } });
  const bus = createBus();
  const usage = trackUsage(bus);
  const order: string[] = [];
  bus.on('task:stats', ({ sample }) => order.push(`stats ${sample.resourceUsage.cpu?.totalTime ?? '-'}`));
  bus.on('task:stats-ended', () => order.push('ended'));
  const runner = createTaskRunner({
    task: { id: 'a/web', name: 'web', allocId: 'a', config: {} },
    driver,
    bus,
    jobType: 'batch',
    statsIntervalMs: 100,
  });
  leaks.track(runner.actor);
  runner.start();
  await vi.advanceTimersByTimeAsync(350);
  // The mock's samples have percents only: until the exit, CPU seconds are integrated from them.
  expect(usage.get('a/web')?.cpuSecondsExact).toBe(false);
  driver.exit('a/web', { exitCode: 0, usage: finalSample(1_234_000_000) });
  await runner.done;
  expect(order.slice(-2)).toEqual(['stats 1234000000', 'ended']);
  const latest = runner.latestResourceUsage();
  expect(latest?.exited).toBe(true);
  expect(latest?.sample.resourceUsage.cpu?.totalTime).toBe(1_234_000_000);
  expect(usage.get('a/web')?.cpuSeconds).toBeCloseTo(1.234, 6);
  usage.close();
});

it('sums CPU seconds over runs: each run counts from 0 again', () => {
  const bus = createBus();
  const usage = trackUsage(bus);
  const ref = { taskId: 't', name: 't' };
  const emit = (totalNs: number) => {
    const sample = finalSample(totalNs);
    bus.emit('task:stats', { ...ref, sample, metrics: new Map() } satisfies TaskBusEvents['task:stats']);
  };
  emit(1e9);
  emit(2e9);
  bus.emit('task:stats-ended', ref);
  emit(0.5e9);
  expect(usage.get('t')).toMatchObject({ cpuSeconds: 2.5, cpuSecondsExact: true, samples: 3 });
  // Never measured: absent, not 0.
  expect(usage.get('t')?.peakRssBytes).toBeUndefined();
  usage.close();
});
