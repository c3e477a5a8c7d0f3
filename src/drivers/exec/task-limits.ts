/**
 * A task's `resources` written into its cgroup before it starts (see `limitsOf` for Nomad's mapping),
 * and the `info` line, once per reason, where they cannot be enforced: never silently.
 */
import type { Logger } from '../../runtime/logger.js';
import type { TaskSpec } from '../contract.js';
import { RecoverableError } from '../errors.js';
import { type CgroupSupport, limitsOf, type TaskCgroup } from './cgroups.js';

const NAMES = { memoryMb: 'memory', cpuMhz: 'cpu', cores: 'cores' } as const;

/** Returns `apply(spec, cgroup)`: throws a final `RecoverableError` when the kernel refuses a value. */
export function createLimitsApplier(logger: Logger, support: () => CgroupSupport) {
  const said = new Set<string>();
  const sayUnenforced = (what: string[], reason: string) => {
    const key = `${what.join(',')}:${reason}`;
    if (said.has(key)) return;
    said.add(key);
    logger.info({ resources: what, reason }, `exec task resources not enforced: ${what.join(', ')}`);
  };

  return (spec: TaskSpec, cgroup: TaskCgroup | undefined): void => {
    const resources = spec.resources ?? {};
    const asked = (Object.keys(NAMES) as (keyof typeof NAMES)[]).filter(
      (key) => resources[key] !== undefined,
    );
    if (asked.length === 0) return;
    if (!cgroup) {
      const now = support();
      sayUnenforced(
        asked.map((key) => NAMES[key]),
        `no cgroups: ${now.version === 'none' ? now.reason : 'task cgroup not created'}`,
      );
      return;
    }
    let unenforced: string[];
    try {
      unenforced = cgroup.applyLimits(limitsOf(resources));
    } catch (error) {
      throw new RecoverableError(
        `exec task ${spec.id}: cannot set resources ${JSON.stringify(resources)}: ${(error as Error).message}`,
        false,
        { cause: error },
      );
    }
    if (unenforced.length > 0)
      sayUnenforced(unenforced, `controller missing in the task's cgroup (${cgroup.version})`);
  };
}
