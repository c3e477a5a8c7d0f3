/**
 * What `status`, `logs`, `restart` and `stop` are pointed at: an allocation by id prefix (the
 * 8 characters the tables show, or any other length), a task by name, or both as `<alloc>/<task>`;
 * `<group>/<task>` as the live table writes it works too. An ambiguous prefix or name is an error
 * that lists the candidates; both exit 1, as `docker stop` does for a name it does not know.
 */

import { EXIT_API } from './api-client.js';
import type { ApiAllocation } from './api-types.js';
import { CliError } from './errors.js';

export interface Target {
  alloc: ApiAllocation;
  /** Absent when the whole allocation was named. */
  task?: string;
}

const short = (id: string) => id.slice(0, 8);

function byPrefix(allocs: readonly ApiAllocation[], prefix: string): ApiAllocation[] {
  return allocs.filter((alloc) => alloc.ID.startsWith(prefix) || alloc.Name === prefix);
}

function one<T>(matches: T[], what: string, describe: (match: T) => string, hint: string): T | undefined {
  if (matches.length <= 1) return matches[0];
  throw new CliError(
    `${what} is ambiguous: it matches ${matches.map(describe).join(', ')}; ${hint}`,
    EXIT_API,
  );
}

/** Resolves `spec` against the agent's allocations. `needTask` refuses a bare allocation. */
export function resolveTarget(allocs: readonly ApiAllocation[], spec: string, needTask = false): Target {
  if (spec === '') throw new CliError('an allocation id or task name is needed', EXIT_API);
  const slash = spec.indexOf('/');
  if (slash > 0) {
    const [head, task] = [spec.slice(0, slash), spec.slice(slash + 1)];
    const candidates = [
      ...byPrefix(allocs, head),
      ...allocs.filter((alloc) => alloc.TaskGroup === head && !alloc.ID.startsWith(head)),
    ].filter((alloc) => task in alloc.TaskStates || task in alloc.AllocatedResources.Tasks);
    const alloc = one(
      candidates,
      `"${spec}"`,
      (match) => `${short(match.ID)}/${task} (${match.Name})`,
      'give more of the allocation id',
    );
    if (!alloc) throw new CliError(`no task "${task}" in an allocation matching "${head}"`, EXIT_API);
    return { alloc, task };
  }
  const prefixed = byPrefix(allocs, spec);
  const alloc = one(
    prefixed,
    `id prefix "${spec}"`,
    (match) => `${short(match.ID)} (${match.Name})`,
    'give more of the id',
  );
  const tasks = allocs.filter((candidate) => spec in candidate.AllocatedResources.Tasks);
  if (alloc && tasks.length > 0) {
    throw new CliError(
      `"${spec}" is both an allocation id prefix and a task name: write <alloc>/<task>`,
      EXIT_API,
    );
  }
  if (alloc) {
    if (needTask) {
      const names = Object.keys(alloc.AllocatedResources.Tasks);
      if (names.length !== 1) {
        throw new CliError(
          `allocation ${short(alloc.ID)} has ${names.length} tasks (${names.join(', ')}): write ${short(alloc.ID)}/<task>`,
          EXIT_API,
        );
      }
      return { alloc, task: names[0]! };
    }
    return { alloc };
  }
  const task = one(
    tasks,
    `task "${spec}"`,
    (match) => `${short(match.ID)}/${spec} (${match.Name})`,
    'write <alloc>/<task>',
  );
  if (!task) throw new CliError(`no allocation id or task matches "${spec}"`, EXIT_API);
  return { alloc: task, task: spec };
}
