/**
 * One driver contract suite, run against every driver both in process and over RPC (through
 * `createPluginDriver` and a real plugin process), so the two cannot drift. Each target says how to
 * make a task that runs until stopped and one that exits with code 3 on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyOpenError } from '../../machines/open-error.js';
import type { TaskDriver, TaskSpec } from '../../src/drivers/contract.js';
import { RecoverableError, TaskNotFoundError } from '../../src/drivers/errors.js';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';
import { findSampleProblem } from '../../src/drivers/validate-sample.js';

export interface ContractTarget {
  name: string;
  /** The driver's own name (`capabilities` and `name` must say it). */
  driverName: string;
  create(): Promise<{ driver: TaskDriver; close(): Promise<void> }>;
  longTask(id: string): TaskSpec;
  /** A task that exits on its own, and the exit code it exits with. */
  exitingTask(id: string): { spec: TaskSpec; exitCode: number };
  /** The stats interval the suite asks for. */
  intervalMs: number;
}

let counter = 0;
const nextId = (what: string) => `contract-${process.pid}-${++counter}/${what}`;

async function take(stream: AsyncIterable<TaskResourceUsage>, count: number): Promise<TaskResourceUsage[]> {
  const samples: TaskResourceUsage[] = [];
  for await (const sample of stream) {
    samples.push(sample);
    if (samples.length === count) break;
  }
  return samples;
}

export function describeDriverContract(target: ContractTarget): void {
  describe(`driver contract: ${target.name}`, () => {
    let driver: TaskDriver;
    let close: () => Promise<void>;
    const started: string[] = [];
    const start = async (spec: TaskSpec) => {
      started.push(spec.id);
      return driver.startTask(spec);
    };

    beforeAll(async () => {
      ({ driver, close } = await target.create());
    }, 30_000);

    afterAll(async () => {
      for (const id of started) await driver.destroyTask(id, { force: true }).catch(() => {});
      await close();
    }, 30_000);

    it('names itself and its capabilities', () => {
      expect(driver.name).toBe(target.driverName);
      expect(driver.capabilities.stats).toBe(true);
      expect(['none', 'chroot', 'image']).toContain(driver.capabilities.fsIsolation);
    });

    it('streams valid samples with their measured lists; aborting is a clean end', async () => {
      const spec = target.longTask(nextId('long'));
      const handle = await start(spec);
      expect(handle.taskId).toBe(spec.id);
      const abort = new AbortController();
      const stream = await driver.taskStats(spec.id, target.intervalMs, abort.signal);
      const samples = await take(stream, 2);
      expect(samples).toHaveLength(2);
      for (const sample of samples) {
        expect(findSampleProblem(sample)).toBeUndefined();
        const measured = [
          ...(sample.resourceUsage.memory?.measured ?? []),
          ...(sample.resourceUsage.cpu?.measured ?? []),
        ];
        expect(measured.length).toBeGreaterThan(0);
        expect(sample.timestamp).toBeGreaterThan(0);
      }
      // A second stream, ended by its signal while it waits for the next sample.
      const second = await driver.taskStats(spec.id, target.intervalMs, abort.signal);
      const iterator = second[Symbol.asyncIterator]();
      await iterator.next();
      const pending = iterator.next();
      abort.abort();
      await expect(pending).resolves.toMatchObject({ done: true });

      await driver.stopTask(spec.id, { timeoutMs: 2000 });
      const exit = await driver.waitTask(spec.id);
      expect(exit.exitCode === 0 && exit.signal === null).toBe(false);
      await driver.destroyTask(spec.id);
    });

    it('reports the exit code of a task that ends on its own', async () => {
      const { spec, exitCode } = target.exitingTask(nextId('exiting'));
      await start(spec);
      const exit = await driver.waitTask(spec.id);
      expect(exit).toMatchObject({ exitCode, signal: null });
      // An exited task's stats: "task exited" is final (never an error line per batch job).
      const error = await driver.taskStats(spec.id, target.intervalMs, new AbortController().signal).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RecoverableError);
      expect(classifyOpenError(error)).toBe('unrecoverable');
      await driver.destroyTask(spec.id);
    });

    it('answers "task not found" for an unknown or destroyed task, by class', async () => {
      const unknown = nextId('unknown');
      await expect(driver.waitTask(unknown)).rejects.toBeInstanceOf(TaskNotFoundError);
      await expect(
        driver.taskStats(unknown, target.intervalMs, new AbortController().signal),
      ).rejects.toSatisfy((e: unknown) => e instanceof TaskNotFoundError && e.taskId === unknown);
      await expect(driver.stopTask(unknown, { timeoutMs: 100 })).rejects.toBeInstanceOf(TaskNotFoundError);
      await expect(driver.destroyTask(unknown)).resolves.toBeUndefined();
    });

    it('stops waiting, not the task, when the wait is aborted', async () => {
      const spec = target.longTask(nextId('wait-abort'));
      await start(spec);
      const abort = new AbortController();
      const waiting = driver.waitTask(spec.id, abort.signal);
      abort.abort(new Error('no longer waiting'));
      await expect(waiting).rejects.toThrow('no longer waiting');
      // Still running: its stats stream opens.
      const stream = await driver.taskStats(spec.id, target.intervalMs, new AbortController().signal);
      expect(await take(stream, 1)).toHaveLength(1);
      await driver.destroyTask(spec.id, { force: true });
      await expect(driver.waitTask(spec.id)).rejects.toBeInstanceOf(TaskNotFoundError);
    });

    it('refuses to destroy a running task without force', async () => {
      const spec = target.longTask(nextId('no-force'));
      await start(spec);
      await expect(driver.destroyTask(spec.id)).rejects.toThrow(/force/);
      const stream = await driver.taskStats(spec.id, target.intervalMs, new AbortController().signal);
      expect(await take(stream, 1)).toHaveLength(1);
      await driver.destroyTask(spec.id, { force: true });
    });
  });
}
