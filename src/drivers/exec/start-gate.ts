/**
 * Bounds the exec driver's task starts: at most `concurrency` at a time, and none while the driver's
 * held files (cgroup and /proc fds, `HeldFile.openCount`) plus what the starts in flight may open
 * would pass the fd budget. 10,000 tasks started at once no longer exhaust RLIMIT_NOFILE (EMFILE):
 * the later ones wait in `starting` until earlier ones end or their streams close. Waiting costs
 * nothing while there is room: a counter check, no timer.
 */
import { readFileSync } from 'node:fs';

/** What one start may hold at its peak: two log fds, the spawn pipe, a v1 cgroup's held files. */
export const FDS_PER_START = 16;
const RECHECK_MS = 25;

export interface StartGate {
  run<T>(start: () => Promise<T>): Promise<T>;
  /** Starts waiting for room now. */
  readonly waiting: number;
}

export interface StartGateOptions {
  concurrency: number;
  fdBudget: number;
  /** Fds the driver holds now. */
  fdsInUse: () => number;
  /** Called once each time starts begin to wait for fds (to say so in a log line). */
  onFdWait?: (waiting: number) => void;
}

/** This process's soft RLIMIT_NOFILE, from /proc/self/limits; undefined when unknown or unlimited. */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limitsFile, 'latin1')
      .split('\n')
      .find((entry) => entry.startsWith('Max open files'));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    return Number.isFinite(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}

/** The fds the driver may hold: the limit less a reserve for everything else (sockets, logs, Node). */
export function fdBudgetOf(limit: number | undefined): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  const reserve = Math.min(1024, Math.max(64, Math.floor(limit / 4)));
  return Math.max(FDS_PER_START, limit - reserve);
}

export function createStartGate(options: StartGateOptions): StartGate {
  const { concurrency, fdBudget, fdsInUse } = options;
  let active = 0;
  let fdWaiting = false;
  let timer: NodeJS.Timeout | undefined;
  const queue: (() => void)[] = [];

  const hasRoom = () => active < concurrency && fdsInUse() + (active + 1) * FDS_PER_START <= fdBudget;
  const pump = () => {
    while (queue.length > 0 && hasRoom()) {
      active += 1;
      queue.shift()!();
    }
    const blocked = queue.length > 0 && active < concurrency;
    if (blocked && !fdWaiting) options.onFdWait?.(queue.length);
    fdWaiting = blocked;
    // Blocked on fds, which are freed without a start ending (a task's stream closes): look again soon.
    if (fdWaiting && !timer) {
      timer = setTimeout(() => {
        timer = undefined;
        pump();
      }, RECHECK_MS);
    }
  };

  return {
    async run(start) {
      if (queue.length === 0 && hasRoom()) active += 1;
      else {
        await new Promise<void>((resolve) => {
          queue.push(resolve);
          pump();
        });
      }
      try {
        return await start();
      } finally {
        active -= 1;
        pump();
      }
    },
    get waiting() {
      return queue.length;
    },
  };
}
