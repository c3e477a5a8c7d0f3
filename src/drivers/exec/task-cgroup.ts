/** Creates a task's cgroup for whichever layout was detected; removes the parent once it is empty. */
import { existsSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { RecoverableError } from '../errors.js';
import { readProcs } from './cgroup-remove.js';
import { createCgroupV1 } from './cgroup-v1.js';
import { createCgroupV2 } from './cgroup-v2.js';
import {
  type CgroupLayout,
  type CgroupSupport,
  cgroupName,
  parentDirs,
  parentLevels,
  prepareCgroups,
  type TaskCgroup,
} from './cgroups.js';

export interface CgroupManager {
  readonly layout: CgroupLayout;
  /** Creates the parent directories; `none` with the reason when the host refuses. */
  prepare(): CgroupSupport;
  /** A fresh cgroup for `taskId` (mkdir before the process starts). Throws when the host refuses. */
  create(taskId: string): TaskCgroup;
  /** Removes the parent directories when no task cgroup is left in them (ours by name). */
  release(): void;
}

export function createCgroupManager(layout: CgroupLayout, parent: string): CgroupManager {
  /** Outer levels of a nested parent that did not exist before: removed again once empty. */
  const ownLevels = new Set(parentLevels(layout, parent).filter((dir) => !existsSync(dir)));
  const make = (name: string) =>
    layout.version === 'v1'
      ? createCgroupV1(layout.mounts, parent, name)
      : createCgroupV2(layout.mount, parent, name);
  return {
    layout,
    prepare() {
      // A probe: create the parent to prove we may, and leave nothing behind until a task needs it.
      const created: string[] = [];
      const ready = prepareCgroups(layout, parent, created);
      removeEmpty(created.reverse());
      return ready;
    },
    create(taskId) {
      const name = cgroupName(taskId);
      // An empty cgroup of this task's name is what an agent killed mid-start left (one agent per
      // data dir, so no other run owns it): removed, or the mkdir below would fail. A busy one stays.
      removeEmpty(parentDirs(layout, parent).map((dir) => join(dir, name)));
      for (let attempt = 1; ; attempt++) {
        const ready = prepareCgroups(layout, parent);
        if (ready.version === 'none') throw new Error(ready.reason);
        try {
          return make(name);
        } catch (error) {
          const { code } = error as NodeJS.ErrnoException;
          if (code === 'EEXIST') throw busyCgroup(taskId, error);
          // Another driver released the (empty) parent between our mkdir and the task's: once more.
          if (code !== 'ENOENT' || attempt >= 2) throw error;
        }
      }
    },
    release() {
      removeEmpty(parentDirs(layout, parent));
      removeEmpty(
        parentLevels(layout, parent)
          .filter((dir) => ownLevels.has(dir))
          .reverse(),
      );
    },
  };
}

/**
 * The task's cgroup exists and holds processes (`create` removed it were it empty): another run of
 * this task id lives there (an agent with another data dir, an escaped process). Only this start
 * fails, naming the directory and its pids; the host's cgroups stay in use for every other task.
 */
function busyCgroup(taskId: string, error: unknown): RecoverableError {
  const dir = (error as NodeJS.ErrnoException).path ?? cgroupName(taskId);
  let pids: number[] = [];
  try {
    pids = readProcs(join(dir, 'cgroup.procs'));
  } catch {
    // Unreadable: the message says so.
  }
  return new RecoverableError(
    `cannot start ${taskId}: its cgroup ${dir} already exists and holds processes (pids: ${pids.join(', ') || 'unknown'}); stop the other run of this task, or kill those processes and remove the directory`,
    true,
    { cause: error },
  );
}

/** Removes directories that are empty of child cgroups; a busy one (another task) stays. */
function removeEmpty(dirs: string[]): void {
  for (const dir of dirs) {
    try {
      rmdirSync(dir);
    } catch {
      // Another task still has a cgroup in it, or it is already gone.
    }
  }
}
