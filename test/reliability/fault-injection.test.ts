/** `withFaults`: each fault does what it says, is counted by kind, and the schedule follows the seed. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  classifyOpenError,
  createMockDriver,
  PluginShutdownError,
  type TaskDriver,
  TaskNotFoundError,
} from '../../src/index.js';
import { OPEN_FAULTS, type OpenFault, withFaults } from '../../src/testing/fault-injection.js';
import { useLeakCheck } from '../support/leak-check.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});
useLeakCheck();

const TASK = { id: 'a/web', name: 'web', config: {} };
const only = (fault: OpenFault) =>
  Object.fromEntries(OPEN_FAULTS.map((f) => [f, f === fault ? 1 : 0])) as Record<OpenFault, number>;

async function started(driver: TaskDriver) {
  await driver.startTask(TASK);
  return driver;
}

async function drain(stream: AsyncIterable<unknown>): Promise<{ items: unknown[]; error?: unknown }> {
  const items: unknown[] = [];
  try {
    for await (const item of stream) items.push(item);
    return { items };
  } catch (error) {
    return { items, error };
  }
}

describe('withFaults', () => {
  it.each([
    ['open-not-implemented', 'not-implemented'],
    ['open-unrecoverable', 'unrecoverable'],
    ['open-plugin-shutdown', 'plugin-shutdown'],
    ['open-recoverable', 'other'],
    ['open-task-not-found', 'other'],
    ['open-plain-error', 'other'],
  ] as const)('%s rejects the open call with an error the hook classifies as %s', async (fault, kind) => {
    const driver = withFaults(createMockDriver(), {
      seed: 1,
      openFaultRate: 1,
      openFaultWeights: only(fault),
    });
    await started(driver);
    const error = await driver
      .taskStats(TASK.id, 1000, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(classifyOpenError(error)).toBe(kind);
    expect(driver.faults[fault]).toBe(1);
    await driver.destroyTask(TASK.id, { force: true });
  });

  it('open-hang never settles until the caller aborts', async () => {
    const driver = withFaults(createMockDriver(), {
      seed: 1,
      openFaultRate: 1,
      openFaultWeights: only('open-hang'),
    });
    await started(driver);
    const controller = new AbortController();
    let settled = false;
    const call = driver.taskStats(TASK.id, 1000, controller.signal).finally(() => {
      settled = true;
    });
    call.catch(() => {});
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(settled).toBe(false);
    expect(driver.active).toBe(1);
    controller.abort(new Error('gave up'));
    await expect(call).rejects.toThrow('gave up');
    expect(driver.active).toBe(0);
    await driver.destroyTask(TASK.id, { force: true });
  });

  it('stream-end and stream-throw strike within the first few samples', async () => {
    for (const [option, kind] of [
      ['streamEndRate', 'stream-end'],
      ['streamThrowRate', 'stream-throw'],
    ] as const) {
      const driver = withFaults(createMockDriver(), {
        seed: 9,
        openFaultRate: 0,
        [option]: 1,
        maxSamplesBeforeFault: 2,
      });
      await started(driver);
      const result = drain(await driver.taskStats(TASK.id, 100, new AbortController().signal));
      await vi.advanceTimersByTimeAsync(1000);
      const { items, error } = await result;
      expect(items.length).toBeLessThanOrEqual(2);
      expect(error !== undefined).toBe(kind === 'stream-throw');
      expect(driver.faults[kind]).toBe(1);
      await driver.destroyTask(TASK.id, { force: true });
    }
  });

  it('slow samples arrive 1–3 intervals late', async () => {
    const driver = withFaults(createMockDriver(), { seed: 4, openFaultRate: 0, slowSampleRate: 1 });
    await started(driver);
    const controller = new AbortController();
    const iterator = (await driver.taskStats(TASK.id, 1000, controller.signal))[Symbol.asyncIterator]();
    const first = iterator.next();
    let arrived = false;
    void first.then(() => {
      arrived = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(arrived).toBe(false);
    await vi.advanceTimersByTimeAsync(2001);
    expect(arrived).toBe(true);
    expect(driver.faults['slow-sample']).toBe(1);
    controller.abort();
    await iterator.return?.();
    await driver.destroyTask(TASK.id, { force: true });
  });

  it('a vanished task: its streams end, its waits and new stats calls say "not found"', async () => {
    const driver = withFaults(createMockDriver(), { seed: 2, openFaultRate: 0 });
    await started(driver);
    const stream = drain(await driver.taskStats(TASK.id, 1000, new AbortController().signal));
    const wait = driver.waitTask(TASK.id);
    await vi.advanceTimersByTimeAsync(1500);
    driver.vanish(TASK.id);
    await expect(wait).rejects.toBeInstanceOf(TaskNotFoundError);
    const { items, error } = await stream;
    expect(items).toHaveLength(2);
    expect(error).toBeUndefined();
    await expect(driver.taskStats(TASK.id, 1000, new AbortController().signal)).rejects.toBeInstanceOf(
      TaskNotFoundError,
    );
    expect(driver.faults['task-vanish']).toBe(1);
    expect(driver.active).toBe(0);
    await driver.destroyTask(TASK.id, { force: true });
  });

  it('the driver going away: starts and stats fail with PluginShutdownError until it is back; open streams throw it', async () => {
    const driver = withFaults(createMockDriver(), { seed: 5, openFaultRate: 0 });
    await started(driver);
    const stream = drain(await driver.taskStats(TASK.id, 1000, new AbortController().signal));
    await vi.advanceTimersByTimeAsync(1500);
    driver.goAway(5000);
    expect((await stream).error).toBeInstanceOf(PluginShutdownError);
    expect(driver.gone).toBe(true);
    const signal = new AbortController().signal;
    await expect(driver.taskStats(TASK.id, 1000, signal)).rejects.toBeInstanceOf(PluginShutdownError);
    await expect(driver.startTask({ ...TASK, id: 'a/x' })).rejects.toBeInstanceOf(PluginShutdownError);
    await vi.advanceTimersByTimeAsync(5000);
    expect(driver.gone).toBe(false);
    const back = await driver.taskStats(TASK.id, 1000, new AbortController().signal);
    expect(back).toBeDefined();
    expect(driver.faults['driver-gone']).toBe(1);
    await driver.destroyTask(TASK.id, { force: true });
  });

  it('drawn by the schedule, vanish and outage strike at a stats call', async () => {
    const vanishing = withFaults(createMockDriver(), { seed: 1, openFaultRate: 0, taskVanishRate: 1 });
    await started(vanishing);
    await expect(vanishing.taskStats(TASK.id, 10, new AbortController().signal)).rejects.toBeInstanceOf(
      TaskNotFoundError,
    );
    expect(vanishing.faults['task-vanish']).toBe(1);
    const going = withFaults(createMockDriver(), { seed: 1, openFaultRate: 0, driverGoneRate: 1 });
    await started(going);
    await expect(going.taskStats(TASK.id, 10, new AbortController().signal)).rejects.toBeInstanceOf(
      PluginShutdownError,
    );
    expect(going.faults['driver-gone']).toBe(1);
    await vanishing.destroyTask(TASK.id, { force: true });
    await going.destroyTask(TASK.id, { force: true });
    await vi.advanceTimersByTimeAsync(10_000);
  });

  it('the same seed gives the same faults, call for call', async () => {
    const outcomes = async (seed: number) => {
      const driver = withFaults(createMockDriver(), { seed, openFaultRate: 0.5, streamEndRate: 0.5 });
      await started(driver);
      const seen: string[] = [];
      for (let i = 0; i < 40; i++) {
        const controller = new AbortController();
        const outcome = driver.taskStats(TASK.id, 10, controller.signal).then(
          () => 'opened',
          (e: unknown) => (e instanceof Error ? e.name : String(e)),
        );
        await vi.advanceTimersByTimeAsync(0);
        controller.abort();
        seen.push(await outcome);
      }
      await driver.destroyTask(TASK.id, { force: true });
      return { seen, faults: { ...driver.faults } };
    };
    const a = await outcomes(11);
    expect(await outcomes(11)).toEqual(a);
    expect(await outcomes(12)).not.toEqual(a);
  });
});
