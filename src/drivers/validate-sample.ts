/**
 * Checks a driver's sample before anything publishes it (spec rule 2). Hand-written rather than a
 * schema library: it runs once per sample per task, so it must cost next to nothing and allocate
 * nothing on the happy path.
 */
import {
  CPU_FIELDS,
  CPU_MEASUREMENTS,
  CPU_TIME_FIELDS,
  MEMORY_FIELDS,
  MEMORY_MEASUREMENTS,
  type TaskResourceUsage,
} from './usage.js';

export type SampleProblemCause =
  | 'not-an-object'
  | 'missing-field'
  | 'wrong-type'
  | 'not-finite'
  | 'negative'
  | 'unknown-measured'
  | 'timestamp-backwards';

export interface SampleProblem {
  cause: SampleProblemCause;
  /** Where in the sample, e.g. `resourceUsage.memory.rss` or `pids.42.cpu.percent`. */
  path: string;
  value: unknown;
}

const memoryNames: ReadonlySet<string> = new Set(MEMORY_MEASUREMENTS);
const cpuNames: ReadonlySet<string> = new Set(CPU_MEASUREMENTS);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why a number field is unfit, or undefined. */
function numberProblem(value: unknown): SampleProblemCause | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return 'not-finite';
    return value < 0 ? 'negative' : undefined;
  }
  return value === undefined ? 'missing-field' : 'wrong-type';
}

// Paths are built only once a problem is found: a valid sample allocates nothing here.
function checkSection(
  section: unknown,
  fields: readonly (readonly [string, string, string])[],
  names: ReadonlySet<string>,
  path: () => string,
  optionalFields: readonly (readonly [string, string, string])[] = [],
): SampleProblem | undefined {
  if (section === undefined) return undefined;
  if (!isObject(section)) return { cause: 'wrong-type', path: path(), value: section };
  for (const [field] of fields) {
    const value = section[field];
    const cause = numberProblem(value);
    if (cause) return { cause, path: `${path()}.${field}`, value };
  }
  for (const [field] of optionalFields) {
    const value = section[field];
    const cause = value === undefined ? undefined : numberProblem(value);
    if (cause) return { cause, path: `${path()}.${field}`, value };
  }
  const measured = section.measured;
  if (!Array.isArray(measured)) {
    return {
      cause: measured === undefined ? 'missing-field' : 'wrong-type',
      path: `${path()}.measured`,
      value: measured,
    };
  }
  for (const name of measured) {
    if (typeof name !== 'string' || !names.has(name)) {
      return { cause: 'unknown-measured', path: `${path()}.measured`, value: name };
    }
  }
  return undefined;
}

function checkUsage(usage: unknown, path: () => string): SampleProblem | undefined {
  if (!isObject(usage)) {
    return { cause: usage === undefined ? 'missing-field' : 'wrong-type', path: path(), value: usage };
  }
  return (
    checkSection(usage.memory, MEMORY_FIELDS, memoryNames, () => `${path()}.memory`) ??
    checkSection(usage.cpu, CPU_FIELDS, cpuNames, () => `${path()}.cpu`, CPU_TIME_FIELDS)
  );
}

const resourceUsagePath = () => 'resourceUsage';
const noPath = () => '';

/**
 * Returns the first problem with `sample`, or undefined when it may be published. `previousTimestamp`
 * is the last accepted sample's, so time never runs backwards for a task.
 */
export function findSampleProblem(sample: unknown, previousTimestamp?: number): SampleProblem | undefined {
  if (!isObject(sample)) return { cause: 'not-an-object', path: '', value: sample };
  const timestamp = sample.timestamp;
  const timestampCause = numberProblem(timestamp);
  if (timestampCause) return { cause: timestampCause, path: 'timestamp', value: timestamp };
  if (previousTimestamp !== undefined && (timestamp as number) < previousTimestamp) {
    return { cause: 'timestamp-backwards', path: 'timestamp', value: timestamp };
  }
  const usageProblem = checkUsage(sample.resourceUsage, resourceUsagePath);
  if (usageProblem) return usageProblem;
  const pids = sample.pids;
  if (pids === undefined) return undefined;
  if (!isObject(pids)) return { cause: 'wrong-type', path: 'pids', value: pids };
  for (const pid in pids) {
    // No path closure per pid (one per pid per sample): the pid's usage is checked without a path,
    // and only a problem found is checked again with one.
    if (checkUsage(pids[pid], noPath)) return checkUsage(pids[pid], () => `pids.${pid}`);
  }
  return undefined;
}

export function isValidSample(sample: unknown, previousTimestamp?: number): sample is TaskResourceUsage {
  return findSampleProblem(sample, previousTimestamp) === undefined;
}
