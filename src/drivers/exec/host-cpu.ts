/**
 * The host's CPU capacity for `totalTicks` (Nomad: percent / 100 × total MHz / cores). Read once:
 * the sum of `cpu MHz` lines in /proc/cpuinfo, else `os.cpus()` speeds; cores from `os.cpus()`.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface HostCpu {
  totalMhz: number;
  cores: number;
}

export function parseCpuinfoMhz(cpuinfo: string): number {
  let total = 0;
  for (const match of cpuinfo.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)) total += Number(match[1]);
  return total;
}

export function readHostCpu(): HostCpu {
  const list = cpus();
  let totalMhz = 0;
  try {
    totalMhz = parseCpuinfoMhz(readFileSync('/proc/cpuinfo', 'latin1'));
  } catch {
    // Not Linux-like: fall back to what libuv reports.
  }
  if (totalMhz <= 0) totalMhz = list.reduce((sum, cpu) => sum + cpu.speed, 0);
  return { totalMhz, cores: list.length };
}

/**
 * Whether the host has any swap (`SwapTotal` in /proc/meminfo). Without swap, no process can have
 * swapped memory: its swap is a measured 0, and /proc/<pid>/status (the costliest file per sample,
 * read only for `VmSwap`) need not be read.
 */
export function hostHasSwap(meminfo = '/proc/meminfo'): boolean {
  try {
    const match = /^SwapTotal:\s*(\d+)/m.exec(readFileSync(meminfo, 'latin1'));
    return match === null || Number(match[1]) > 0;
  } catch {
    return true; // unknown: read it per process
  }
}
