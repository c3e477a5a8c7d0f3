/**
 * The mark every exec task process carries: `TASKPULSE_TASK_ID=<task id>` in its environment (set
 * by spawn-task.ts, inherited by what it forks). It tells a task's processes apart once they have
 * left its process tree (orphans.ts) or when no state names their pid (leftovers.ts).
 */
import { readFileSync } from 'node:fs';

/** The environment variable naming the task a process belongs to. */
export const TASK_ID_ENV = 'TASKPULSE_TASK_ID';

const PREFIX = `${TASK_ID_ENV}=`;

/** The `TASKPULSE_TASK_ID` of a process, or undefined (gone, a zombie, another uid, no variable). */
export function taskIdOf(pid: number, procRoot = '/proc'): string | undefined {
  let environ: string;
  try {
    environ = readFileSync(`${procRoot}/${pid}/environ`, 'latin1');
  } catch {
    return undefined;
  }
  for (const entry of environ.split('\0')) if (entry.startsWith(PREFIX)) return entry.slice(PREFIX.length);
  return undefined;
}
