/**
 * Which cgroup layout the host has, detected once when the driver is created, and the shape every
 * layout's per-task cgroup shares. Rules, in order:
 * - not root → none (creating cgroups and moving processes needs it);
 * - v1 hierarchies for `cpuacct` and `memory` mounted → v1. Hybrid hosts (this machine kind: v1 plus a
 *   v2 mount at /sys/fs/cgroup/unified with no controllers) land here, which is right: the v2 part
 *   there has no memory or pids files;
 * - a cgroup2 mount → v2;
 * - else none.
 * The parent directory is then created (or found) once, which proves the host lets us write there.
 */
import { mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The v1 controllers the driver uses; each may be its own mount or share one (`cpu,cpuacct`). */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export type CgroupLayout =
  | { version: 'v1'; mounts: Partial<Record<V1Controller, string>> }
  | { version: 'v2'; mount: string };

export type CgroupSupport = CgroupLayout | { version: 'none'; reason: string };

/**
 * Raw figures read from a task's cgroup; a field is absent when its file is. The cgroup's anonymous
 * memory (v1 `rss`, v2 `anon`) is not read: RSS is the processes' resident pages from /proc, and
 * anonymous memory is part of `usage`.
 */
export interface CgroupUsage {
  cpuUsageNs?: number;
  cpuUserNs?: number;
  cpuSystemNs?: number;
  throttledPeriods?: number;
  throttledTimeNs?: number;
  cache?: number;
  swap?: number;
  mappedFile?: number;
  usage?: number;
  maxUsage?: number;
  kernelUsage?: number;
  kernelMaxUsage?: number;
}

/** Resource limits of one task, in kernel units (see `limitsOf` for how Nomad's figures map). */
export interface CgroupLimits {
  /** Hard memory limit: v1 `memory.limit_in_bytes` (and `memsw`, so swap cannot extend it), v2 `memory.max`. */
  memoryBytes?: number;
  /** CPU weight as v1 `cpu.shares` (2–262144); v2 writes `cpu.weight` converted as runc does. */
  cpuShares?: number;
  /** Hard CPU cap: CFS quota and period in µs (v1 `cpu.cfs_quota_us`/`cfs_period_us`, v2 `cpu.max`). */
  cpuQuota?: { quotaUs: number; periodUs: number };
}

export const CFS_PERIOD_US = 100_000;

/**
 * Nomad's mapping of a task's `resources`: `memory` MiB → a hard limit in bytes; `cpu` MHz → that
 * many `cpu.shares` (at least 2, Linux's minimum, at most 262144); `cores` → a CFS quota of that
 * many cores (a hard cap on CPU time; Nomad's `cores` pins cpusets, which this driver does not).
 */
export function limitsOf(resources: { memoryMb?: number; cpuMhz?: number; cores?: number }): CgroupLimits {
  const limits: CgroupLimits = {};
  if (resources.memoryMb !== undefined) limits.memoryBytes = Math.round(resources.memoryMb * 1024 * 1024);
  if (resources.cpuMhz !== undefined)
    limits.cpuShares = Math.min(262_144, Math.max(2, Math.round(resources.cpuMhz)));
  if (resources.cores !== undefined)
    limits.cpuQuota = { quotaUs: Math.round(resources.cores * CFS_PERIOD_US), periodUs: CFS_PERIOD_US };
  return limits;
}

/** runc's `ConvertCPUSharesToCgroupV2Value`, which Nomad's v2 path uses: [2, 262144] → [1, 10000]. */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262_142);
}

export type CgroupLocation =
  | { version: 'v1'; dirs: Partial<Record<V1Controller, string>> }
  | { version: 'v2'; dir: string };

/** One task's cgroup (a directory per v1 hierarchy, or one v2 directory). */
export interface TaskCgroup {
  readonly version: 'v1' | 'v2';
  /** The directories, one per hierarchy. */
  readonly paths: readonly string[];
  /** Where it is, as a re-attach needs it (`ExecDriverState.cgroup`): v1 by controller. */
  readonly location: CgroupLocation;
  /** The `cgroup.procs` files the task's pid is written into before it execs. */
  readonly procsFiles: readonly string[];
  /** Pids in the cgroup now (the reliable process set). */
  pids(): number[];
  read(): CgroupUsage;
  /** OOM kills in the cgroup so far (v1 `memory.oom_control`, v2 `memory.events` oom_kill). */
  oomKills(): number | undefined;
  /**
   * Writes the limits before the task's process joins. Returns the limits the host cannot enforce
   * (a controller that is not there); throws when the kernel refuses a value.
   */
  applyLimits(limits: CgroupLimits): string[];
  /** Closes held fds, kills what is left, removes the directories; true once all are gone. */
  remove(): Promise<boolean>;
}

/** Mount points of cgroup filesystems from /proc/self/mountinfo text. */
export function parseCgroupMounts(mountinfo: string): {
  v1: Partial<Record<V1Controller, string>>;
  v2: string | undefined;
} {
  const v1: Partial<Record<V1Controller, string>> = {};
  let v2: string | undefined;
  for (const line of mountinfo.split('\n')) {
    // `<id> <parent> <maj:min> <root> <mount point> <options> [optional…] - <fstype> <source> <super options>`
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const mountPoint = line.slice(0, dash).split(' ')[4];
    const [fsType, , superOptions = ''] = line.slice(dash + 3).split(' ');
    if (!mountPoint) continue;
    const point = mountPoint.replace(/\\040/g, ' ');
    if (fsType === 'cgroup2') v2 ??= point;
    if (fsType !== 'cgroup') continue;
    const options = new Set(superOptions.split(','));
    for (const controller of V1_CONTROLLERS) if (options.has(controller)) v1[controller] ??= point;
  }
  return { v1, v2 };
}

export interface DetectOptions {
  mountinfo?: string;
  uid?: number;
}

/** Which layout to use, from mount facts only (no writes). */
export function detectCgroupLayout(options: DetectOptions = {}): CgroupSupport {
  const uid = options.uid ?? process.getuid?.() ?? -1;
  if (uid !== 0) return { version: 'none', reason: 'not running as root' };
  let mountinfo = options.mountinfo;
  if (mountinfo === undefined) {
    try {
      mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch (error) {
      return { version: 'none', reason: `cannot read /proc/self/mountinfo: ${String(error)}` };
    }
  }
  const { v1, v2 } = parseCgroupMounts(mountinfo);
  if (v1.cpuacct && v1.memory) return { version: 'v1', mounts: v1 };
  if (v2) return { version: 'v2', mount: v2 };
  return { version: 'none', reason: 'no cgroup v1 cpuacct+memory hierarchies and no cgroup2 mount' };
}

/**
 * Why `parent` cannot be a cgroup parent, or undefined when it can: a relative path of plain names
 * (`taskpulse`, `batch/taskpulse`), never `..`, `.`, an absolute path or an empty segment (`..` made
 * directories on the tmpfs above the hierarchies).
 */
export function cgroupParentProblem(parent: string): string | undefined {
  if (parent === '') return 'must not be empty';
  if (parent.startsWith('/')) return 'must be relative to the cgroup hierarchies (no leading "/")';
  if (parent.length > 255) return 'must be at most 255 characters';
  for (const segment of parent.split('/')) {
    if (segment === '') return 'must not have an empty segment ("a//b" or a trailing "/")';
    if (segment === '.' || segment === '..') return `must not contain "${segment}"`;
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(segment)) {
      return `segment "${segment}" must be letters, digits, "_", "-" or "." (not first)`;
    }
  }
  return undefined;
}

/** The mount points a layout uses (a co-mount such as `cpu,cpuacct` once). */
function mountsOf(layout: CgroupLayout): string[] {
  return layout.version === 'v2' ? [layout.mount] : [...new Set(Object.values(layout.mounts))];
}

/** The parent directories of task cgroups for a layout. */
export function parentDirs(layout: CgroupLayout, parent: string): string[] {
  return mountsOf(layout).map((mount) => join(mount, parent));
}

/** Every level of the parent in every hierarchy, outermost first (`<mount>/a`, `<mount>/a/b`). */
export function parentLevels(layout: CgroupLayout, parent: string): string[] {
  const segments = parent.split('/');
  return mountsOf(layout).flatMap((mount) =>
    segments.map((_, index) => join(mount, ...segments.slice(0, index + 1))),
  );
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Makes sure the parent directories exist and are writable, creating missing levels one by one
 * (never a recursive mkdir). Returns the layout, or `none` with the reason when the host refuses
 * (read-only cgroupfs, no delegation); `created` lists what this call made.
 */
export function prepareCgroups(layout: CgroupSupport, parent: string, created: string[] = []): CgroupSupport {
  if (layout.version === 'none') return layout;
  const made: string[] = [];
  try {
    for (const dir of parentLevels(layout, parent)) {
      if (isDirectory(dir)) continue;
      mkdirSync(dir);
      made.push(dir);
    }
    created.push(...made);
    return layout;
  } catch (error) {
    for (const dir of made.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // Best effort: an empty directory left behind holds nothing.
      }
    }
    return { version: 'none', reason: `cannot create ${parent} cgroup: ${(error as Error).message}` };
  }
}

/** A task id as one path segment: `alloc/web` → `alloc_web`. */
export function cgroupName(taskId: string): string {
  return taskId.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_');
}
