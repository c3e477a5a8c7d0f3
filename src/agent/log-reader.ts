/**
 * Reads a task's output across its rotated files (`task-logs.ts`) as one stream, from an offset
 * (Nomad's `origin` and `offset`) or from the start of its last N lines, and follows it as it grows,
 * through rotations. An async generator: it reads the next chunk only when asked, so a slow reader
 * (an HTTP client, a pipe) holds at most one chunk in memory here; that is the backpressure.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { abortableSleep } from '../drivers/abortable-sleep.js';
import { type LogFile, type LogStream, listLogFiles, type TaskLogPaths } from '../drivers/exec/task-logs.js';

const CHUNK_BYTES = 64 * 1024;

export interface LogReadOptions {
  /** Where `offset` counts from: the start of the oldest kept file, or the end of the live one. */
  origin: 'start' | 'end';
  /** Bytes from `origin`. */
  offset: number;
  /** Start at the last `lines` lines instead (overrides origin and offset). */
  lines?: number;
  /** Keep reading as the task writes, until `ended()` says it will write no more. */
  follow: boolean;
  ended?: () => boolean;
  /** How often a followed file is checked for growth. Default 250 ms. */
  pollMs?: number;
  signal: AbortSignal;
}

export interface LogChunk {
  /** The file's name, e.g. `web.stdout.3` (rotated) or `web.stdout` (live). */
  file: string;
  /** Byte offset of `data` in that file. */
  offset: number;
  data: Buffer;
}

interface Position {
  /** Index into the file list. */
  file: number;
  offset: number;
}

/** The position `skip` bytes from the start of the list. */
function positionAt(files: LogFile[], skip: number): Position {
  let left = Math.max(0, skip);
  for (let file = 0; file < files.length; file++) {
    const size = files[file]!.size;
    if (left < size) return { file, offset: left };
    left -= size;
  }
  const last = files.length - 1;
  return { file: Math.max(0, last), offset: files[last]?.size ?? 0 };
}

async function withFile<T>(path: string, use: (handle: FileHandle) => Promise<T>): Promise<T | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    // Rotated away (max_files) or never written: nothing to read there.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return await use(handle);
  } finally {
    await handle.close();
  }
}

/** Where the last `lines` lines start (a final newline does not start an empty line). */
async function lastLinesStart(files: LogFile[], lines: number): Promise<Position> {
  const total = files.reduce((sum, file) => sum + file.size, 0);
  let wanted = lines;
  let end = total;
  let skipFinalNewline = true;
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  // Backwards, file by file, chunk by chunk.
  for (let file = files.length - 1; file >= 0; file--) {
    const { path, size } = files[file]!;
    const found = await withFile(path, async (handle) => {
      let position = size;
      while (position > 0) {
        const length = Math.min(CHUNK_BYTES, position);
        position -= length;
        const { bytesRead } = await handle.read(buffer, 0, length, position);
        for (let i = bytesRead - 1; i >= 0; i--) {
          if (buffer[i] !== 0x0a) {
            skipFinalNewline = false;
            continue;
          }
          if (skipFinalNewline) {
            skipFinalNewline = false;
            continue;
          }
          wanted -= 1;
          if (wanted === 0) return position + i + 1;
        }
      }
      return undefined;
    });
    end -= size;
    if (found !== undefined) return positionAt(files, end + found);
  }
  return { file: 0, offset: 0 };
}

/** Reads `path` from `offset` to `end` (default: its current end), chunk by chunk. */
async function* readFile(
  path: string,
  offset: number,
  signal: AbortSignal,
  end = Number.POSITIVE_INFINITY,
): AsyncGenerator<LogChunk, number> {
  let position = offset;
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!handle) return position;
  try {
    while (!signal.aborted && position < end) {
      const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
      const length = Math.min(CHUNK_BYTES, end - position);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      if (bytesRead === 0) break;
      yield { file: basename(path), offset: position, data: buffer.subarray(0, bytesRead) };
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return position;
}

export async function* readTaskLog(
  paths: TaskLogPaths,
  stream: LogStream,
  options: LogReadOptions,
): AsyncGenerator<LogChunk> {
  const { signal } = options;
  const files = listLogFiles(paths, stream);
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const start =
    options.lines !== undefined
      ? options.lines === 0
        ? positionAt(files, total)
        : await lastLinesStart(files, options.lines)
      : positionAt(files, options.origin === 'start' ? options.offset : total - options.offset);

  // The kept files as they were, then the live one (its path stays; rotations copy it away).
  let newestRotated = files.findLast((file) => file.index !== undefined)?.index ?? -1;
  let liveOffset = 0;
  for (let file = start.file; file < files.length; file++) {
    const { path, index, size } = files[file]!;
    const from = file === start.file ? start.offset : 0;
    // Without follow, the files as they were listed: a line written meanwhile would make a
    // `--tail N` answer N + 1 lines. Following, whatever came since is read next anyway.
    const reached = yield* readFile(path, from, signal, options.follow ? undefined : size);
    if (index === undefined) liveOffset = reached;
  }
  if (files.at(-1)?.index !== undefined) liveOffset = 0; // no live file yet: it starts at 0

  while (options.follow && !signal.aborted) {
    const done = options.ended?.() ?? false;
    const now = listLogFiles(paths, stream);
    const rotated = now.filter((file) => file.index !== undefined && file.index > newestRotated);
    if (rotated.length > 0) {
      // The first new copy holds what the live file had: go on from where we were in it.
      for (const [position, file] of rotated.entries()) {
        yield* readFile(file.path, position === 0 ? liveOffset : 0, signal);
      }
      newestRotated = rotated.at(-1)!.index!;
      liveOffset = 0;
    }
    const live = now.find((file) => file.index === undefined);
    if (live && live.size < liveOffset) liveOffset = 0; // cut without a copy we could see
    if (live) liveOffset = yield* readFile(live.path, liveOffset, signal);
    // Read once more after the task ended: what it wrote last is in the file by now.
    if (done) return;
    if (!(await abortableSleep(options.pollMs ?? 250, signal))) return;
  }
}
