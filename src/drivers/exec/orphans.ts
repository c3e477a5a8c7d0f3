/**
 * Tasks without a cgroup (a non-root agent): keeping hold of processes that left the task's process
 * tree. A `setsid` (or double-forked) child whose parent exits is an orphan; Linux re-parents it to
 * the nearest ancestor that is a "child subreaper", else to init. With the native helper
 * (native/subreaper.cc) the agent makes itself that subreaper, so every orphan of every task becomes
 * the agent's own child; the task it came from is told by the `TASKPULSE_TASK_ID` variable every exec
 * task gets in its environment (read from /proc/<pid>/environ, which the agent's uid may read).
 *
 * Adopted processes are found by a scan of the agent's children (/proc/self/task/<tid>/children):
 * when a task is stopped or destroyed and whenever a child of the agent exits (SIGCHLD). libuv reaps
 * only the children Node spawned, so an adopted child seen alive is reaped here once it exits; one
 * that was never seen alive cannot be told from a child of someone else in the process (which must not
 * be reaped here) and stays a zombie, holding nothing but its pid, until the agent exits.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from '../../runtime/logger.js';
import { listProcessTree } from './process-tree.js';
import { taskIdOf } from './task-marker.js';

interface NativeHelper {
  setChildSubreaper(): boolean;
  isChildSubreaper(): boolean;
  reap(pid: number): boolean;
}

let helper: NativeHelper | string | undefined;

/** The native helper, or why it cannot be loaded. Built by scripts/build-native.mjs into dist/native. */
export function loadSubreaperHelper(): NativeHelper | string {
  if (helper !== undefined) return helper;
  const require = createRequire(import.meta.url);
  // Found from the package root (by the package's own name), so the same path works from src/
  // (development), dist/src/ (the library) and dist/cli/ (the bundled CLI).
  const root = dirname(require.resolve('taskpulse/package.json'));
  const candidates = [join(root, 'dist', 'native', 'subreaper.node')];
  const errors: string[] = [];
  for (const candidate of candidates) {
    try {
      helper = require(candidate) as NativeHelper;
      return helper;
    } catch (error) {
      errors.push((error as Error).message.split('\n')[0] ?? String(error));
    }
  }
  helper = `native helper not built (npm run build): ${errors[0]}`;
  return helper;
}

/** Direct children of this process, from every thread's `children` file. */
function ownChildren(): number[] {
  const children: number[] = [];
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return children;
  }
  for (const tid of tids) {
    try {
      for (const part of readFileSync(`/proc/self/task/${tid}/children`, 'latin1').split(' ')) {
        const pid = Number.parseInt(part, 10);
        if (pid > 0) children.push(pid);
      }
    } catch {
      // A thread that ended during the scan.
    }
  }
  return children;
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return false;
  }
}

export interface OrphanTracker {
  /** Why orphans are not tracked (no helper, prctl refused); undefined when they are. */
  readonly unavailable: string | undefined;
  /** Adopted processes of a task, and their descendants, alive now. */
  pidsOf(taskId: string): number[];
}

/** Task main processes (spawned by Node, reaped by libuv): never taken for adopted ones. */
const taskPids = new Set<number>();
/** Adopted processes seen alive, by pid, with their task: the only ones reaped here. */
const adopted = new Map<number, string>();
let tracker: OrphanTracker | undefined;

export function addTaskPid(pid: number): void {
  taskPids.add(pid);
}

export function deleteTaskPid(pid: number): void {
  taskPids.delete(pid);
}

function scan(native: NativeHelper): void {
  for (const pid of ownChildren()) {
    if (taskPids.has(pid)) continue;
    if (adopted.has(pid)) {
      if (isZombie(pid) && native.reap(pid)) adopted.delete(pid);
      continue;
    }
    const taskId = taskIdOf(pid);
    if (taskId !== undefined) adopted.set(pid, taskId);
  }
  // Reaped elsewhere or never ours after all (a pid that is no longer our child).
  for (const pid of adopted.keys()) if (!pidExists(pid)) adopted.delete(pid);
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes this process a child subreaper (once per process; it is not undone, and need not be: an
 * adopted orphan is killed with its task) and tracks the orphans it adopts.
 */
export function trackOrphans(logger: Logger): OrphanTracker {
  if (tracker) return tracker;
  const native = loadSubreaperHelper();
  let unavailable: string | undefined;
  if (typeof native === 'string') unavailable = native;
  else {
    try {
      native.setChildSubreaper();
    } catch (error) {
      unavailable = (error as Error).message;
    }
  }
  if (unavailable || typeof native === 'string') {
    logger.info(
      { reason: unavailable },
      'no child subreaper: processes that leave a task (setsid) and outlive their parent are not tracked',
    );
    tracker = { unavailable, pidsOf: () => [] };
    return tracker;
  }
  // Signal listeners do not keep the process alive: this one stays for the process's life.
  process.on('SIGCHLD', () => scan(native));
  tracker = {
    unavailable: undefined,
    pidsOf(taskId) {
      scan(native);
      const pids: number[] = [];
      for (const [pid, owner] of adopted) if (owner === taskId) pids.push(...listProcessTree(pid));
      return pids;
    },
  };
  return tracker;
}
