/**
 * Where an exec task's output goes, and how it is rotated and retained, as Nomad's
 * `logs { max_files, max_file_size }` (defaults 10 files of 10 MB per stream).
 *
 * Layout: `<logDir>/<alloc id>/<task>.stdout` is the live file the process writes (opened with
 * O_APPEND by the process itself, so it never waits on the agent and outlives a detaching one);
 * `<task>.stdout.<n>` are the rotated copies, a higher `n` newer. At most `max_files` files per
 * stream (the live one included): the oldest copies are deleted.
 *
 * Rotation is copy-truncate (as logrotate's `copytruncate`): when the live file is past
 * `max_file_size` its bytes are copied to the next `<n>` and it is truncated to 0, where the process's
 * appends continue. The copy re-reads until the size is stable just before truncating, so only bytes
 * written in that instant can be lost; in exchange the task never shares a pipe with the agent.
 */
import {
  closeSync,
  copyFileSync,
  fstatSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskLogPolicy } from '../contract.js';

export const DEFAULT_EXEC_LOG_DIR = join(tmpdir(), 'taskpulse-exec-logs');

export type LogStream = 'stdout' | 'stderr';

/** Files kept per stream (the live one included), and the size past which the live one rotates. */
export type LogPolicy = TaskLogPolicy;

export const DEFAULT_LOG_POLICY: LogPolicy = { maxFiles: 10, maxFileSizeBytes: 10 * 2 ** 20 };

/** File-name safe: a task or allocation id as a path segment. */
const segment = (name: string) => name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');

/** The directory of an allocation's task logs (a task without allocation: its own id). */
export function allocationLogDir(logDir: string, allocId: string): string {
  return join(logDir, segment(allocId));
}

export interface TaskLogPaths {
  dir: string;
  /** File name prefix of the task's stream, e.g. `web.stdout`. */
  base: (stream: LogStream) => string;
  live: (stream: LogStream) => string;
}

/** `owner`: the allocation id (or, for a task outside any allocation, the task's id). */
export function taskLogPaths(logDir: string, owner: string, task: string): TaskLogPaths {
  const dir = allocationLogDir(logDir, owner);
  const base = (stream: LogStream) => `${segment(task)}.${stream}`;
  return { dir, base, live: (stream) => join(dir, base(stream)) };
}

export interface LogFile {
  path: string;
  /** The rotation number; the live file has none. */
  index: number | undefined;
  size: number;
}

/** The rotated copies' numbers, oldest first. */
function rotatedIndexes(paths: TaskLogPaths, stream: LogStream): number[] {
  const prefix = `${paths.base(stream)}.`;
  let names: string[];
  try {
    names = readdirSync(paths.dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)))
    .map((name) => Number(name.slice(prefix.length)))
    .sort((a, b) => a - b);
}

const sizeOf = (path: string) => {
  try {
    return statSync(path, { throwIfNoEntry: false })?.size;
  } catch {
    return undefined;
  }
};

/**
 * Whether a live log file (its path computed once) is past the limit: the check every task's
 * rotation timer makes each second. One `stat`; no path is built and nothing is listed.
 */
export function pastSizeLimit(livePath: string, policy: LogPolicy): boolean {
  const size = sizeOf(livePath);
  return size !== undefined && size > policy.maxFileSizeBytes;
}

/** A stream's files in order, oldest first, the live one last (absent before the task first ran). */
export function listLogFiles(paths: TaskLogPaths, stream: LogStream): LogFile[] {
  const files: LogFile[] = [];
  for (const index of rotatedIndexes(paths, stream)) {
    const path = join(paths.dir, `${paths.base(stream)}.${index}`);
    const size = sizeOf(path);
    if (size !== undefined) files.push({ path, index, size });
  }
  const live = paths.live(stream);
  const size = sizeOf(live);
  if (size !== undefined) files.push({ path: live, index: undefined, size });
  return files;
}

/** Appends `from`'s bytes after `offset` to `to`; returns the new copied length. */
function copyTail(from: number, to: number, offset: number): number {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let position = offset;
  for (;;) {
    const read = readSync(from, buffer, 0, buffer.length, position);
    if (read === 0) return position;
    writeSync(to, buffer, 0, read);
    position += read;
  }
}

/** Rotates the live file when past the limit and trims old copies. Returns true when it rotated. */
export function rotateLog(paths: TaskLogPaths, stream: LogStream, policy: LogPolicy): boolean {
  const live = paths.live(stream);
  const size = sizeOf(live);
  if (size === undefined || size <= policy.maxFileSizeBytes) return false;
  const indexes = rotatedIndexes(paths, stream);
  const next = (indexes.at(-1) ?? -1) + 1;
  const copy = join(paths.dir, `${paths.base(stream)}.${next}`);
  copyFileSync(live, copy);
  // What the task wrote during the copy: appended, then the live file is cut at once.
  const from = openSync(live, 'r');
  const to = openSync(copy, 'a');
  try {
    let copied = fstatSync(to).size;
    while (fstatSync(from).size > copied) copied = copyTail(from, to, copied);
    truncateSync(live, 0);
  } finally {
    closeSync(from);
    closeSync(to);
  }
  const keep = Math.max(0, policy.maxFiles - 1);
  const all = [...indexes, next];
  for (const index of all.slice(0, Math.max(0, all.length - keep))) {
    rmSync(join(paths.dir, `${paths.base(stream)}.${index}`), { force: true });
  }
  return true;
}

/** Removes an allocation's logs (its directory under `logDir`). */
export function removeAllocationLogs(logDir: string, allocId: string): void {
  rmSync(allocationLogDir(logDir, allocId), { recursive: true, force: true });
}
