/**
 * The process tree of a task without cgroups: the root pid and its descendants, found through
 * /proc/<pid>/task/<tid>/children (every thread: a child belongs to the thread that forked it).
 * proc(5) calls these files reliable only for a frozen tree; a child forked between two reads shows up
 * at the next scan. Used when stopping and destroying a task; the sampler walks the same files through
 * held fds instead (see `PidReader.children`), since this scan costs 30–45 µs a process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { isGoneError } from './held-file.js';

/** The children of `pid`, or undefined when `pid` is gone. */
function childrenOf(pid: number, procRoot: string): number[] | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`${procRoot}/${pid}/task`);
  } catch (error) {
    if (isGoneError(error)) return undefined;
    throw error;
  }
  const children: number[] = [];
  for (const tid of tids) {
    let text: string;
    try {
      text = readFileSync(`${procRoot}/${pid}/task/${tid}/children`, 'latin1');
    } catch (error) {
      if (isGoneError(error)) continue;
      throw error;
    }
    for (const part of text.split(' ')) {
      const child = Number.parseInt(part, 10);
      if (child > 0) children.push(child);
    }
  }
  return children;
}

/** `root` and every descendant alive now (breadth first); empty when `root` is gone. */
export function listProcessTree(root: number, procRoot = '/proc'): number[] {
  const seen = new Set<number>([root]);
  const queue = [root];
  for (let i = 0; i < queue.length; i++) {
    const children = childrenOf(queue[i]!, procRoot);
    // A root that is gone has no task dir: report nothing rather than a dead pid.
    if (children === undefined && i === 0) return [];
    for (const child of children ?? []) {
      if (seen.has(child)) continue;
      seen.add(child);
      queue.push(child);
    }
  }
  return queue;
}

/**
 * Live (non-zombie) processes in process group `pgid`, by a /proc scan: used only when stopping and
 * destroying, never per sample. Zombies are skipped: killed grandchildren are reparented to init,
 * which reaps them on its own schedule (some container inits take over a second); they hold nothing.
 */
export function liveGroupMembers(pgid: number, procRoot = '/proc'): number[] {
  const members: number[] = [];
  for (const name of readdirSync(procRoot)) {
    const code = name.charCodeAt(0);
    if (code < 48 || code > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`${procRoot}/${name}/stat`, 'latin1');
    } catch {
      continue; // Exited during the scan.
    }
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2, close + 64).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number(name));
  }
  return members;
}
