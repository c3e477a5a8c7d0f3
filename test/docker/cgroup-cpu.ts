/**
 * The CPU time a container really used, from its own cgroup: `cpuacct.usage` (cgroup v1, ns) or
 * `cpu.stat` `usage_usec` (v2). The real-engine tests compare each CPU percent the driver reports
 * with this counter over the same window, so they hold on a loaded host (where a 0.5 CPU quota may
 * get less than half a core) instead of expecting a fixed band.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CgroupMount {
  dir: string;
  version: 1 | 2;
}

/** Where the cpuacct controller (v1) or the unified hierarchy (v2) is mounted. */
function cpuMounts(): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const dir = left.split(' ')[4];
    const [fstype, , options] = right.split(' ');
    if (!dir) continue;
    if (fstype === 'cgroup' && options?.split(',').includes('cpuacct')) mounts.push({ dir, version: 1 });
    if (fstype === 'cgroup2') mounts.push({ dir, version: 2 });
  }
  return mounts.sort((a, b) => a.version - b.version); // v1 cpuacct first where both exist
}

/** A reader of a process's cgroup CPU time in ns (the container's, for its init process). */
export function cgroupCpuReader(pid: number): () => number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const pathIn = (version: 1 | 2) =>
    lines
      .map((line) => line.split(':'))
      .find(([, controllers]) =>
        version === 1 ? controllers?.split(',').includes('cpuacct') : controllers === '',
      )?.[2];
  for (const mount of cpuMounts()) {
    const path = pathIn(mount.version);
    if (path === undefined) continue;
    const dir = join(mount.dir, path);
    try {
      if (mount.version === 1) {
        const file = join(dir, 'cpuacct.usage');
        readFileSync(file);
        return () => Number(readFileSync(file, 'utf8').trim());
      }
      const file = join(dir, 'cpu.stat');
      if (!/usage_usec/.test(readFileSync(file, 'utf8'))) continue;
      return () => Number(/usage_usec (\d+)/.exec(readFileSync(file, 'utf8'))![1]) * 1000;
    } catch {}
  }
  throw new Error(`no cgroup CPU counter found for pid ${pid}`);
}

/** Reads the counter every `everyMs` until stopped; `usedNs(from, to)` interpolates between readings. */
export function pollCgroupCpu(read: () => number, everyMs = 20) {
  const readings: { at: number; ns: number }[] = [{ at: Date.now(), ns: read() }];
  const timer = setInterval(() => {
    try {
      readings.push({ at: Date.now(), ns: read() });
    } catch {
      clearInterval(timer); // the container is gone
    }
  }, everyMs);
  const at = (time: number) => {
    const after = readings.findIndex((reading) => reading.at >= time);
    if (after <= 0) return undefined; // outside what was read
    const a = readings[after - 1]!;
    const b = readings[after]!;
    return a.ns + ((b.ns - a.ns) * (time - a.at)) / Math.max(1, b.at - a.at);
  };
  return {
    stop: () => clearInterval(timer),
    /** CPU percent of one core the counter shows over [from, to] (ms since the epoch). */
    percent(from: number, to: number): number | undefined {
      const start = at(from);
      const end = at(to);
      return start === undefined || end === undefined ? undefined : ((end - start) / 1e6 / (to - from)) * 100;
    },
  };
}
