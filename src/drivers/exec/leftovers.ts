/**
 * Processes of a task that no driver watches: what an agent killed after the exec driver forked the
 * task, and before the state write that saved its handle, left running (the state names no pid), or
 * what outlived a task's main process while no agent watched. Found by what marks them, never by a
 * pid a state may have wrong:
 *
 * - its cgroup, `<parent>/<alloc id>_<task>` in every hierarchy (with cgroups: nothing in it leaves);
 * - the `TASKPULSE_TASK_ID` every task process gets in its environment (/proc/<pid>/environ, which
 *   root and the agent's own uid may read), with cgroups or without;
 * - the sessions of those processes and their descendants: a process that cleared its environment
 *   (`env -i`) is still in its task's session (every task is started in a session of its own) or
 *   below a marked process.
 *
 * They are SIGKILLed and waited for (the cgroup removed), so the task can be started again with no
 * second copy beside it. Task ids name an allocation (a UUID) and one agent at a time owns it (the
 * data dir lock), so a marked process is this task's and no other agent's.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { abortableSleep } from '../abortable-sleep.js';
import { emptyAndRemove, readProcs } from './cgroup-remove.js';
import { taskIdOf } from './task-marker.js';

interface ProcessEntry {
  pid: number;
  ppid: number;
  session: number;
  /** The `TASKPULSE_TASK_ID` in its environment, if any. */
  taskId: string | undefined;
}

/** Every live (not zombie) process with its parent, session and task marker: one /proc scan. */
function scanProcesses(procRoot: string): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync(procRoot)) {
    const code = name.charCodeAt(0);
    if (code < 48 || code > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`${procRoot}/${name}/stat`, 'latin1');
    } catch {
      continue; // exited during the scan
    }
    // Fields after the command's `)`: state, ppid, pgrp, session.
    const fields = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 80).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') continue;
    const pid = Number(name);
    entries.push({
      pid,
      ppid: Number(fields[1]),
      session: Number(fields[3]),
      taskId: taskIdOf(pid, procRoot),
    });
  }
  return entries;
}

/**
 * Live pids of each of `taskIds` outside `exclude` (the driver's own tasks, this process): the
 * marked processes, the other members of their sessions, and their descendants.
 */
export function findLeftovers(
  taskIds: ReadonlySet<string>,
  exclude: ReadonlySet<number>,
  procRoot = '/proc',
): Map<string, number[]> {
  const entries = scanProcesses(procRoot);
  /** Each process found, with the task it is of. */
  const owner = new Map<number, string>();
  const add = (pid: number, taskId: string) => {
    if (!exclude.has(pid) && !owner.has(pid)) owner.set(pid, taskId);
  };
  const ownSession = entries.find((entry) => entry.pid === process.pid)?.session;
  /** Sessions of marked processes (never this process's own, should it run inside one). */
  const sessions = new Map<number, string>();
  for (const entry of entries) {
    if (!entry.taskId || !taskIds.has(entry.taskId)) continue;
    add(entry.pid, entry.taskId);
    if (entry.session > 1 && entry.session !== ownSession) sessions.set(entry.session, entry.taskId);
  }
  for (const entry of entries) {
    const taskId = sessions.get(entry.session);
    if (taskId) add(entry.pid, taskId);
  }
  // Descendants, breadth first from every process found so far.
  const children = new Map<number, number[]>();
  for (const entry of entries) children.set(entry.ppid, [...(children.get(entry.ppid) ?? []), entry.pid]);
  const queue = [...owner.keys()];
  for (let i = 0; i < queue.length; i++) {
    const parent = queue[i]!;
    for (const child of children.get(parent) ?? []) {
      if (owner.has(child) || exclude.has(child)) continue;
      add(child, owner.get(parent)!);
      queue.push(child);
    }
  }
  const found = new Map<string, number[]>();
  for (const [pid, taskId] of owner) found.set(taskId, [...(found.get(taskId) ?? []), pid]);
  return found;
}

function isLive(pid: number, procRoot: string): boolean {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'latin1');
    const state = stat[stat.lastIndexOf(')') + 2];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

export interface KillLeftoversOptions {
  /** Pids never touched: the driver's own tasks, this process. */
  exclude: ReadonlySet<number>;
  /** Each task's cgroup directories (any hierarchy, existing or not): emptied and removed. */
  cgroupDirsOf?: ((taskId: string) => readonly string[]) | undefined;
  /** How long to wait for the killed processes to go and the cgroups to be removed. */
  timeoutMs: number;
  procRoot?: string | undefined;
}

/**
 * SIGKILLs every leftover process of `taskIds` (cgroup members and marked processes), again until a
 * scan finds none (a process forked while the first were killed), then removes the tasks' cgroups.
 * Resolves with the pids killed, by task; a task with nothing left is absent.
 */
export async function killLeftovers(
  taskIds: readonly string[],
  options: KillLeftoversOptions,
): Promise<Map<string, number[]>> {
  const { exclude, cgroupDirsOf, timeoutMs, procRoot = '/proc' } = options;
  const ids = new Set(taskIds);
  const killed = new Map<string, Set<number>>();
  /** SIGKILLs `pid` as one of `taskId`'s; false for a pid never to be touched. */
  const kill = (taskId: string, pid: number) => {
    if (exclude.has(pid)) return false;
    const pids = killed.get(taskId) ?? new Set<number>();
    killed.set(taskId, pids.add(pid));
    killQuietly(pid);
    return true;
  };
  const cgroups = new Map<string, string[]>();
  for (const taskId of ids) {
    const dirs = (cgroupDirsOf?.(taskId) ?? []).filter((dir) => existsSync(dir));
    if (dirs.length > 0) cgroups.set(taskId, dirs);
  }
  const deadline = Date.now() + timeoutMs;
  const never = new AbortController().signal;
  for (;;) {
    let found = 0;
    const live = findLeftovers(ids, exclude, procRoot);
    // Cgroup members that are still alive (an exiting one stays listed a moment).
    for (const [taskId, dirs] of cgroups)
      for (const pid of readProcs(join(dirs[0]!, 'cgroup.procs')))
        if (isLive(pid, procRoot) && kill(taskId, pid)) found += 1;
    for (const [taskId, pids] of live) for (const pid of pids) if (kill(taskId, pid)) found += 1;
    if (found === 0 || Date.now() >= deadline) break;
    await abortableSleep(10, never);
  }
  const left = Math.max(0, deadline - Date.now());
  await Promise.all(
    [...cgroups.values()].map((dirs) => emptyAndRemove(dirs, join(dirs[0]!, 'cgroup.procs'), left)),
  );
  return new Map([...killed].map(([taskId, pids]) => [taskId, [...pids]]));
}
