/**
 * One agent per data dir: `agent.lock` holds the owner's pid and its start time (from
 * /proc/<pid>/stat, as pids are reused). A lock whose owner is gone (crashed, `kill -9`) or whose
 * pid now belongs to another process is stale and taken over; a live owner makes the second agent
 * refuse to start, naming it.
 */
import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseStat } from '../../drivers/exec/proc-reader.js';
import { StateError } from './errors.js';

export const LOCK_FILE = 'agent.lock';

interface LockOwner {
  pid: number;
  /** Clock ticks since boot (field 22 of /proc/<pid>/stat). */
  starttime: number;
}

/** The process's start time in clock ticks since boot, or undefined when there is no such process. */
export function processStartTime(pid: number): number | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).starttime;
  } catch {
    return undefined;
  }
}

const isLive = (owner: LockOwner) => processStartTime(owner.pid) === owner.starttime;

function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>;
    return Number.isInteger(owner.pid) && Number.isFinite(owner.starttime) ? (owner as LockOwner) : undefined;
  } catch {
    return undefined; // half-written by a crash between open and write: stale
  }
}

export interface DataDirLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Takes the data dir's lock; a `StateError` when a live agent holds it. `dir` must exist. */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, starttime: processStartTime(process.pid) ?? 0 };
  for (let attempt = 0; ; attempt++) {
    try {
      const file = await open(path, 'wx', 0o600);
      try {
        await file.writeFile(`${JSON.stringify(me)}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StateError(`cannot lock the data dir: ${path}: ${(error as Error).message}`);
      }
    }
    const owner = parseOwner(await readFile(path, 'utf8').catch(() => ''));
    if (owner && isLive(owner)) {
      throw new StateError(
        `data dir ${dir} is in use by another agent (pid ${owner.pid}, ${path}); stop it first, or give this one another --data-dir`,
      );
    }
    // Stale (its agent is gone): taken over. Two agents racing for it both unlink; one `wx` wins.
    if (attempt > 2) throw new StateError(`cannot take the stale lock ${path}`);
    await unlink(path).catch(() => {});
  }
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      const owner = parseOwner(await readFile(path, 'utf8').catch(() => ''));
      if (owner?.pid === me.pid && owner.starttime === me.starttime) await unlink(path).catch(() => {});
    },
  };
}
