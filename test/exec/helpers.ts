/** Shared plumbing of the exec driver tests: bounded condition polls, /proc scans, stream reading. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExecDriver, type ExecDriver, type ExecDriverOptions } from '../../src/drivers/exec/index.js';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';

export const isRoot = process.getuid?.() === 0;

/** Polls `condition` every 10 ms; throws with `what` if it is not true within `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  condition: () => T | undefined | false,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Live pids whose process group is `pgid` (a /proc scan: the check that nothing is left behind).
 * Zombies are not counted: killed grandchildren go to init, which reaps them on its own schedule.
 */
export function pidsInGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(name));
    } catch {
      // Exited during the scan.
    }
  }
  return pids;
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Node one-liners for child tasks. */
export const node = (code: string) => ({ command: process.execPath, args: ['-e', code] });

/**
 * Reads a task's stats stream until `until` says so (or the stream ends), aborting after
 * `timeoutMs` at most. Returns every sample read.
 */
export async function readStats(
  driver: ExecDriver,
  taskId: string,
  intervalMs: number,
  until: (samples: TaskResourceUsage[]) => boolean,
  timeoutMs = 8000,
): Promise<{ samples: TaskResourceUsage[]; ended: boolean }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error('test time-out')), timeoutMs);
  const samples: TaskResourceUsage[] = [];
  let ended = true;
  try {
    for await (const sample of await driver.taskStats(taskId, intervalMs, abort.signal)) {
      samples.push(sample);
      if (until(samples)) {
        ended = false;
        break;
      }
    }
  } finally {
    clearTimeout(timer);
  }
  if (abort.signal.aborted)
    throw new Error(`stats of ${taskId} did not meet the condition in ${timeoutMs} ms`);
  return { samples, ended };
}

/** A driver with its own log dir, and a cleanup that destroys every task it started. */
export function testDriver(options: ExecDriverOptions = {}) {
  const logDir = mkdtempSync(join(tmpdir(), 'taskpulse-exec-test-'));
  // Walk process trees often, so a freshly forked child is seen within a few short intervals.
  const driver = createExecDriver({ logDir, treeRescanMs: 300, ...options });
  const started: string[] = [];
  const start: ExecDriver['startTask'] = async (spec) => {
    const handle = await driver.startTask(spec);
    started.push(spec.id);
    return handle;
  };
  const cleanup = async () => {
    for (const id of started) await driver.destroyTask(id, { force: true });
    rmSync(logDir, { recursive: true, force: true });
  };
  return { driver, start, logDir, cleanup };
}

let counter = 0;
/** A task spec with a unique id. */
export function spec(config: Record<string, unknown>, env?: Record<string, string>) {
  counter += 1;
  const id = `exec-test-${process.pid}/${counter}`;
  return { id, name: `t${counter}`, config, ...(env ? { env } : {}) };
}
