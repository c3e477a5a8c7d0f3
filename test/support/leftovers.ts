/**
 * What a test checks after an agent is gone: no live process whose command line carries the test's
 * marker (a unique `sleep` duration), and no cgroup directory of its allocations in any hierarchy.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout, parentDirs } from '../../src/drivers/exec/cgroups.js';
import { TEST_CGROUP_PARENT } from './cli-cgroups.js';

/**
 * Live (non-zombie) `sleep` processes whose argv contains `marker` (not the CLI that passed it on);
 * with `anyCommand`, every process with `marker` anywhere in its command line (a task's `sh -c`).
 */
export function processesWith(
  marker: string,
  { anyCommand = false }: { anyCommand?: boolean } = {},
): { pid: number; argv: string[] }[] {
  const found: { pid: number; argv: string[] }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const ours = anyCommand
        ? argv.some((arg) => arg.includes(marker))
        : argv.includes(marker) && /(^|\/)sleep$/.test(argv[0] ?? '');
      if (!ours) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      if (stat[stat.lastIndexOf(')') + 2] === 'Z') continue;
      found.push({ pid: Number(name), argv });
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

/** SIGKILLs what a failed test left (so one failure does not leak into the next). */
export function killProcessesWith(marker: string, options: { anyCommand?: boolean } = {}): void {
  for (const { pid } of processesWith(marker, options)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
}

/** Cgroup directories (any hierarchy, under `parent`, one level of nesting deep) named after an alloc id. */
export function cgroupDirsOf(allocIds: readonly string[], parent = TEST_CGROUP_PARENT): string[] {
  const layout = detectCgroupLayout();
  if (layout.version === 'none') return [];
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch {
      return;
    }
    for (const entry of entries) {
      if (allocIds.some((id) => entry.startsWith(id))) found.push(join(dir, entry));
      else if (depth > 0) walk(join(dir, entry), depth - 1);
    }
  };
  for (const dir of parentDirs(layout, parent)) walk(dir, 1);
  return found;
}
