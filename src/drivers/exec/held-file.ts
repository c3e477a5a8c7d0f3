/**
 * A file kept open and re-read from offset 0 with `fs.readSync`: about 5 µs for a /proc or cgroupfs
 * file, against 12–22 µs for open+read+close and 90–200 µs for `fs.promises.readFile` (which also
 * queues on libuv's 4-thread pool). The sampling loop only ever reads through these.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** Errors that mean "the process or cgroup is gone", not a failure: ENOENT after reap, ESRCH on a held fd. */
export function isGoneError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ESRCH' || code === 'ENODEV';
}

export class HeldFile {
  /** Held files open now in this process: the exec driver's fd budget counts them. */
  static openCount = 0;

  /**
   * Opens a set of optional files, all or none: when one throws (EMFILE), those already opened are
   * closed before the error goes on.
   */
  static openAll<K extends string>(
    openers: Record<K, () => HeldFile | undefined>,
  ): Record<K, HeldFile | undefined> {
    const files = {} as Record<K, HeldFile | undefined>;
    try {
      for (const key of Object.keys(openers) as K[]) files[key] = openers[key]();
    } catch (error) {
      for (const file of Object.values<HeldFile | undefined>(files)) file?.close();
      throw error;
    }
    return files;
  }

  private fd: number | undefined;
  private buffer: Buffer;

  /** Opens `path` at once; throws as `openSync` does (ENOENT when it does not exist). */
  constructor(
    readonly path: string,
    initialSize = 1024,
  ) {
    this.fd = openSync(path, 'r');
    HeldFile.openCount += 1;
    this.buffer = Buffer.allocUnsafe(initialSize);
  }

  /** Opens `path`, or returns undefined when it does not exist (an optional cgroup file). */
  static openOptional(path: string, initialSize?: number): HeldFile | undefined {
    try {
      return new HeldFile(path, initialSize);
    } catch (error) {
      if (isGoneError(error) || (error as NodeJS.ErrnoException).code === 'EACCES') return undefined;
      throw error;
    }
  }

  /** The whole file as latin1 text (these files are ASCII). Throws ESRCH/ENOENT once the owner is gone. */
  read(): string {
    const length = this.readBytes();
    return this.buffer.toString('latin1', 0, length);
  }

  /**
   * Reads the whole file into `bytes` and returns its length: for parsers that take numbers straight
   * from the bytes (no string per read). `bytes` is valid until the next read.
   */
  readBytes(): number {
    if (this.fd === undefined) throw Object.assign(new Error(`closed: ${this.path}`), { code: 'ESRCH' });
    for (;;) {
      const length = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
      // A full buffer may mean the file is longer: grow and read again (rare; memory.stat, status).
      if (length < this.buffer.length) return length;
      this.buffer = Buffer.allocUnsafe(this.buffer.length * 2);
    }
  }

  /** The buffer the last `readBytes()` filled. */
  get bytes(): Buffer {
    return this.buffer;
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Already closed by the OS side; nothing to free.
    }
    this.fd = undefined;
    HeldFile.openCount -= 1;
  }
}

/** `key value` lines (cpu.stat, memory.stat, cpuacct.stat) into a map of numbers. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value)) values.set(line.slice(0, space), value);
  }
  return values;
}

/**
 * One figure of a `key value` text, or undefined when the key is absent: what a sample reads from
 * memory.stat (~40 lines) or cpu.stat, without building a map of every line.
 */
export function flatKeyValue(text: string, key: string): number | undefined {
  let at = text.startsWith(`${key} `) ? 0 : text.indexOf(`\n${key} `);
  if (at < 0) return undefined;
  if (at > 0) at += 1;
  const start = at + key.length + 1;
  let end = text.indexOf('\n', start);
  if (end < 0) end = text.length;
  const value = Number(text.slice(start, end));
  return Number.isFinite(value) ? value : undefined;
}

/**
 * One `key value` figure of a file read once (not a sampling-loop read: at exit, for OOM kills), or
 * undefined when the file or the key is absent.
 */
export function readFlatKey(path: string, key: string): number | undefined {
  const file = HeldFile.openOptional(path);
  if (!file) return undefined;
  try {
    return parseFlatKeyed(file.read()).get(key);
  } finally {
    file.close();
  }
}

/** A file holding one integer (cpuacct.usage, memory.current); `max` and blanks read as undefined. */
export function parseSingleValue(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'max') return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}
