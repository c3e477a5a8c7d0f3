/**
 * Per-process figures from /proc, parsed by hand. Why not a library: pidusage reads one pid (no tree,
 * no user/system split) and is no faster; pidtree and systeminformation spawn `ps` (60–200 ms a call).
 * Every file is held open and re-read with `readSync` at offset 0, and `stat` is parsed without
 * splitting it into 50 strings: a sample costs a few µs a process (see docs/drivers/exec.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { HeldFile, isGoneError } from './held-file.js';

/** Linux reports utime/stime in USER_HZ, which the kernel ABI fixes at 100 on every common arch. */
export const DEFAULT_CLOCK_TICKS = 100;

/** The page size from the aux vector (AT_PAGESZ = 6, 64-bit entries); `stat` reports RSS in pages. */
export function readPageSize(): number {
  try {
    const auxv = readFileSync('/proc/self/auxv');
    for (let at = 0; at + 16 <= auxv.length; at += 16) {
      if (auxv.readBigUInt64LE(at) === 6n) return Number(auxv.readBigUInt64LE(at + 8));
    }
  } catch {
    // Not Linux, or a 32-bit layout: fall through.
  }
  return 4096;
}

export interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  /** Clock ticks, cumulative. */
  utime: number;
  stime: number;
  /** Clock ticks of the children this process has waited for (what wait4 added up), cumulative. */
  cutime: number;
  cstime: number;
  numThreads: number;
  /** Clock ticks since boot: with the pid, the process's identity (pids are reused). */
  starttime: number;
  /** Pages. */
  rss: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may hold spaces or `)`,
 * so fields are counted from the last `)`: state is f[0], ppid f[1], pgrp f[2], utime f[11],
 * stime f[12], cutime f[13], cstime f[14], num_threads f[17], starttime f[19], rss f[21].
 */
export function parseStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`unreadable /proc stat: ${text.slice(0, 40)}`);
  const fields: number[] = [];
  let start = close + 2;
  for (let index = 0; index <= 21; index++) {
    let end = text.indexOf(' ', start);
    if (end < 0) end = text.length;
    // Only the numeric fields we use are converted.
    if (index > 0) fields[index] = Number(text.slice(start, end));
    start = end + 1;
  }
  return {
    pid: Number.parseInt(text, 10),
    ppid: fields[1]!,
    pgrp: fields[2]!,
    utime: fields[11]!,
    stime: fields[12]!,
    cutime: fields[13]!,
    cstime: fields[14]!,
    numThreads: fields[17]!,
    starttime: fields[19]!,
    rss: fields[21]!,
  };
}

/** A `Name:   123 kB` line of /proc/<pid>/status in bytes, or undefined when the line is absent. */
export function statusKb(text: string, name: string): number | undefined {
  const at = text.indexOf(`\n${name}:`);
  if (at < 0) return undefined;
  const value = Number.parseInt(text.slice(at + name.length + 2).trimStart(), 10);
  return Number.isFinite(value) ? value * 1024 : undefined;
}

const CLOSE_PAREN = 0x29;
const SPACE = 0x20;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** The fields after the command name: what `PidReader` fills on each read (f[0] is the state, 0). */
const STAT_FIELDS = 22;
const statFields = new Float64Array(STAT_FIELDS);

/**
 * `parseStat` for the sampling loop: the same fields, taken straight from the bytes into
 * `statFields` (22 numbers); no text and no slice per field. Throws as `parseStat` does when there is
 * no command name.
 */
function parseStatBytes(bytes: Buffer, length: number): void {
  let close = length - 1;
  while (close >= 0 && bytes[close] !== CLOSE_PAREN) close--;
  if (close < 0)
    throw new Error(`unreadable /proc stat: ${bytes.toString('latin1', 0, Math.min(length, 40))}`);
  let at = close + 2;
  for (let index = 0; index < STAT_FIELDS; index++) {
    let value = 0;
    const negative = at < length && bytes[at] === MINUS;
    if (negative) at++;
    for (; at < length; at++) {
      const byte = bytes[at] as number;
      if (byte < DIGIT_0 || byte > DIGIT_9) break;
      value = value * 10 + (byte - DIGIT_0);
    }
    statFields[index] = negative ? -value : value;
    while (at < length && bytes[at] !== SPACE) at++;
    at++;
  }
}

/** The first run of digits after the first space: `statm`'s resident pages, from the bytes. */
function statmResidentBytes(bytes: Buffer, length: number): number {
  let at = bytes.indexOf(SPACE) + 1;
  if (at <= 0 || at >= length) return Number.NaN;
  let value = 0;
  const start = at;
  for (; at < length; at++) {
    const byte = bytes[at] as number;
    if (byte < DIGIT_0 || byte > DIGIT_9) break;
    value = value * 10 + (byte - DIGIT_0);
  }
  return at === start ? Number.NaN : value;
}

export interface ProcSample {
  ppid: number;
  /** Clock ticks, cumulative; `cutime`/`cstime` are the waited-for children's. */
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  numThreads: number;
  rssBytes: number;
  /** Only when swap is read, and undefined when the kernel has no `VmSwap` line. */
  swapBytes: number | undefined;
}

export interface PidReaderOptions {
  procRoot?: string;
  pageSize?: number;
  /** Also read /proc/<pid>/status for VmSwap (roughly doubles the cost). */
  readSwap?: boolean;
}

/** The resident pages (second field) of /proc/<pid>/statm. */
export function statmResident(text: string): number {
  const start = text.indexOf(' ') + 1;
  return Number.parseInt(text.slice(start), 10);
}

/**
 * Holds /proc/<pid>/stat, the RSS source (`statm`, or `status` when swap is read too) and the
 * `children` files open.
 *
 * RSS is what `ps` and `top` show, VmRSS: `statm`'s resident pages, or `status`'s VmRSS line. Not
 * `stat`'s rss field: since the kernel's RSS counters became per-CPU (6.2), `stat` reads them
 * approximately (a stable `sleep` read 28 pages, 6 %, below `ps` on this machine kind). A held fd keeps pointing at
 * the process it was opened for: once that process is reaped, reads fail with ESRCH even if the pid
 * is reused, so a reader never reports a stranger. `starttime` is recorded at open as its identity.
 */
export class PidReader {
  private readonly childrenFiles = new Map<string, HeldFile>();
  /** Thread count seen by the last `read()`, and the one the children files were opened for. */
  private lastThreads = 1;
  private knownThreads = -1;
  private readonly figures: ProcSample = {
    ppid: 0,
    utime: 0,
    stime: 0,
    cutime: 0,
    cstime: 0,
    numThreads: 0,
    rssBytes: 0,
    swapBytes: undefined,
  };

  private constructor(
    readonly pid: number,
    readonly starttime: number,
    private readonly stat: HeldFile,
    /** `status` when swap is read (it also has VmRSS), else `statm`. */
    private readonly memory: HeldFile,
    private readonly hasStatus: boolean,
    private readonly procRoot: string,
    private readonly pageSize: number,
  ) {}

  /** Opens a reader, or returns undefined when the process is already gone. */
  static open(pid: number, options: PidReaderOptions = {}): PidReader | undefined {
    const procRoot = options.procRoot ?? '/proc';
    let stat: HeldFile | undefined;
    try {
      stat = new HeldFile(`${procRoot}/${pid}/stat`, 512);
      const starttime = parseStat(stat.read()).starttime;
      const hasStatus = options.readSwap === true;
      const memory = hasStatus
        ? new HeldFile(`${procRoot}/${pid}/status`, 2048)
        : new HeldFile(`${procRoot}/${pid}/statm`, 128);
      return new PidReader(pid, starttime, stat, memory, hasStatus, procRoot, options.pageSize ?? 4096);
    } catch (error) {
      stat?.close();
      if (isGoneError(error)) return undefined;
      throw error;
    }
  }

  /**
   * The current figures, or undefined once the process is gone (normal mid-sample, not an error).
   * One object per reader, updated in place by each read that succeeds (a failed read leaves the
   * last figures): the sampler keeps it as the process's last reading.
   */
  read(): ProcSample | undefined {
    try {
      parseStatBytes(this.stat.bytes, this.stat.readBytes());
      const threads = statFields[17] as number;
      let rssBytes: number;
      let swapBytes: number | undefined;
      if (this.hasStatus) {
        const status = this.memory.read();
        rssBytes = statusKb(status, 'VmRSS') ?? (statFields[21] as number) * this.pageSize;
        swapBytes = statusKb(status, 'VmSwap');
      } else {
        rssBytes = statmResidentBytes(this.memory.bytes, this.memory.readBytes()) * this.pageSize;
      }
      this.lastThreads = threads;
      const figures = this.figures;
      figures.ppid = statFields[1] as number;
      figures.utime = statFields[11] as number;
      figures.stime = statFields[12] as number;
      figures.cutime = statFields[13] as number;
      figures.cstime = statFields[14] as number;
      figures.numThreads = threads;
      figures.rssBytes = rssBytes;
      figures.swapBytes = swapBytes;
      return figures;
    } catch (error) {
      if (isGoneError(error)) return undefined;
      throw error;
    }
  }

  /**
   * The process's children now, through every thread's `children` file (a child belongs to the thread
   * that forked it). The thread list is re-read only when `read()` saw the thread count change.
   */
  children(): number[] {
    if (this.lastThreads !== this.knownThreads) this.refreshThreads();
    const children: number[] = [];
    for (const [tid, file] of this.childrenFiles) {
      let text: string;
      try {
        text = file.read();
      } catch (error) {
        if (!isGoneError(error)) throw error;
        // That thread ended; the next thread-count change re-reads the list.
        file.close();
        this.childrenFiles.delete(tid);
        continue;
      }
      let start = 0;
      while (start < text.length) {
        let end = text.indexOf(' ', start);
        if (end < 0) end = text.length;
        const child = Number.parseInt(text.slice(start, end), 10);
        if (child > 0) children.push(child);
        start = end + 1;
      }
    }
    return children;
  }

  private refreshThreads(): void {
    this.knownThreads = this.lastThreads;
    let tids: string[];
    try {
      tids = readdirSync(`${this.procRoot}/${this.pid}/task`);
    } catch (error) {
      if (isGoneError(error)) return;
      throw error;
    }
    const alive = new Set(tids);
    for (const [tid, file] of this.childrenFiles) {
      if (alive.has(tid)) continue;
      file.close();
      this.childrenFiles.delete(tid);
    }
    for (const tid of tids) {
      if (this.childrenFiles.has(tid)) continue;
      const file = HeldFile.openOptional(`${this.procRoot}/${this.pid}/task/${tid}/children`, 256);
      if (file) this.childrenFiles.set(tid, file);
    }
  }

  close(): void {
    this.stat.close();
    this.memory.close();
    for (const file of this.childrenFiles.values()) file.close();
    this.childrenFiles.clear();
  }
}
