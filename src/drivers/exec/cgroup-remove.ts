/** Shared by both layouts: list a cgroup's pids, and empty and remove its directories. */
import { readFileSync, rmdirSync } from 'node:fs';
import { abortableSleep } from '../abortable-sleep.js';
import { isGoneError } from './held-file.js';

/**
 * Pids in a `cgroup.procs` file; empty when the cgroup is gone. Opened afresh on every call: v1 caches
 * the pid list per open file (a held fd re-read at offset 0 kept answering "empty" for a second).
 */
export function readProcs(file: string): number[] {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (error) {
    if (isGoneError(error)) return [];
    throw error;
  }
  return parsePids(text);
}

/** One pid a line, as in `cgroup.procs`. */
export function parsePids(text: string): number[] {
  const pids: number[] = [];
  for (const line of text.split('\n')) {
    const pid = Number.parseInt(line, 10);
    if (pid > 0) pids.push(pid);
  }
  return pids;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/**
 * SIGKILLs whatever is left in the cgroup (a process that left the task's process group is still
 * here), then removes the directories, innermost caller's order. An exiting process keeps a cgroup busy
 * (EBUSY) for a moment, so removal is retried for up to `timeoutMs`. True when every directory is gone.
 */
export async function emptyAndRemove(
  dirs: readonly string[],
  procsFile: string,
  timeoutMs = 2000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const never = new AbortController().signal;
  for (;;) {
    for (const pid of readProcs(procsFile)) killQuietly(pid);
    let left = 0;
    for (const dir of dirs) {
      try {
        rmdirSync(dir);
      } catch (error) {
        if (!isGoneError(error)) left += 1;
      }
    }
    if (left === 0) return true;
    if (Date.now() >= deadline) return false;
    await abortableSleep(10, never);
  }
}
