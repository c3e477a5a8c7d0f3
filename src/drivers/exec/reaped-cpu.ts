/**
 * The CPU time of a task that ran without a cgroup, taken from the kernel once it has been reaped:
 * what wait4 would have returned as the child's rusage. Node reaps children itself and does not
 * expose that rusage, but the kernel adds it to the reaper's own `cutime`/`cstime` (this process's
 * /proc/self/stat), so the growth of those counters across one reap is exactly the child's user and
 * system time (its own and that of the children it waited for), at clock-tick resolution.
 *
 * libuv reaps every exited child first and then runs their exit callbacks, one after another in the
 * same turn of the loop: exits are grouped until `setImmediate`. A group of one is attributed; a
 * group of several (two tasks ending in the same instant) is not, and its callers get undefined (the
 * driver then keeps the last /proc reading). Children this process runs outside any exec driver
 * (a `ps` spawned by a test) are reaped into the same counters: the figure is exact when the agent
 * runs nothing but its tasks, which is how the agent runs.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_CLOCK_TICKS } from './proc-reader.js';

export interface ReapedCpu {
  userNs: number;
  systemNs: number;
}

const NS_PER_TICK = 1e9 / DEFAULT_CLOCK_TICKS;

/** This process's waited-for children's CPU (cutime, cstime) in clock ticks. */
function readChildTicks(): { user: number; system: number } | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[13]), system: Number(fields[14]) };
  } catch {
    return undefined;
  }
}

let baseline = readChildTicks();
let group:
  | { before: typeof baseline; now: typeof baseline; waiters: ((cpu: ReapedCpu | undefined) => void)[] }
  | undefined;

/**
 * Forgets children reaped so far (they ended before the task now starting did): call after a spawn.
 * Harmless while no exit group is open, which is always the case outside an exit callback.
 */
export function resetReapedBaseline(): void {
  if (!group) baseline = readChildTicks();
}

/**
 * Call synchronously from a child's `exit` event: resolves with that child's CPU, or undefined when
 * it cannot be told apart from another child reaped in the same turn.
 */
export function reapedCpu(): Promise<ReapedCpu | undefined> {
  return new Promise((resolve) => {
    if (!group) {
      group = { before: baseline, now: readChildTicks(), waiters: [] };
      baseline = group.now;
      setImmediate(() => {
        const { before, now, waiters } = group!;
        group = undefined;
        const alone = waiters.length === 1 && before !== undefined && now !== undefined;
        const cpu = alone
          ? {
              userNs: (now.user - before.user) * NS_PER_TICK,
              systemNs: (now.system - before.system) * NS_PER_TICK,
            }
          : undefined;
        for (const waiter of waiters) waiter(cpu);
      });
    }
    group.waiters.push(resolve);
  });
}
