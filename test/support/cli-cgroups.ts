/**
 * The CLI tests run real agents whose exec tasks get cgroups (CI runs as root). An agent that
 * detaches, or is forced out by a second signal, leaves its tasks' cgroups behind by design; the tests
 * give their agents a cgroup parent of their own (`TASKPULSE_CGROUP_PARENT`) and remove it afterwards,
 * so a test run leaves nothing on the host.
 */
import { readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout, parentDirs } from '../../src/drivers/exec/cgroups.js';

export const TEST_CGROUP_PARENT = 'taskpulse-test';

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
