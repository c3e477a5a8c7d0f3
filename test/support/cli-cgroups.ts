/**
 * The CLI tests run real agents whose exec tasks get cgroups (CI runs as root). An agent that
 * detaches, or is forced out by a second signal, leaves its tasks' cgroups behind by design; the tests
 * give their agents a cgroup parent of their own (`TASKPULSE_CGROUP_PARENT`) and remove it afterwards,
 * so a test run leaves nothing on the host. The parent is named after the checkout: two checkouts
 * testing at once on one host (worktrees, CI beside a developer) never remove each other's cgroups.
 */
import { createHash } from 'node:crypto';
import { readdirSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectCgroupLayout, parentDirs } from '../../src/drivers/exec/cgroups.js';

const checkout = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TEST_CGROUP_PARENT = `taskpulse-test-${createHash('sha256').update(checkout).digest('hex').slice(0, 8)}`;

/** Removes every (empty) task cgroup under the test parent, then the parent, in every hierarchy. */
export function removeTestCgroups(name = TEST_CGROUP_PARENT): void {
  const layout = detectCgroupLayout();
  if (layout.version === 'none') return;
  for (const parent of parentDirs(layout, name)) {
    let children: string[];
    try {
      children = readdirSync(parent, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch {
      continue; // never created
    }
    for (const child of children) rmdirSync(join(parent, child));
    rmdirSync(parent);
  }
}
