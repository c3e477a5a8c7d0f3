/**
 * Reads and validates job files (JSON or YAML). An invalid file is refused with every problem
 * listed as `path: message (got value)`, so a user fixes them all in one pass.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { type Job, jobSchema } from './job-schema.ts';

export interface JobProblem {
  /** `groups[0].tasks[1].driver`; empty for the whole document. */
  path: string;
  message: string;
  /** The offending value, when there is one. */
  got?: unknown;
}

/** A job file that cannot be used. `problems` lists all that is wrong, not just the first. */
export class JobFileError extends Error {
  override readonly name = 'JobFileError';
  constructor(
    readonly file: string,
    readonly problems: JobProblem[],
  ) {
    super(
      `${file}: invalid job file\n${problems.map((problem) => `  ${formatProblem(problem)}`).join('\n')}`,
    );
  }
}

export function formatProblem({ path, message, got }: JobProblem): string {
  if (path === '') return `(file): ${message}`;
  return `${path}: ${message} (got ${got === undefined ? 'nothing' : shortJson(got)})`;
}

/** The value as JSON, cut short when long (a whole group is not worth repeating). */
function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  if (text.length <= 60) return text;
  return Array.isArray(value)
    ? '[…]'
    : typeof value === 'object' && value !== null
      ? '{…}'
      : `${text.slice(0, 57)}…`;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function toProblems(data: unknown, issues: readonly z.core.$ZodIssue[]): JobProblem[] {
  return issues.flatMap((issue): JobProblem[] => {
    // An unknown key is reported on its parent object: name each key, show its value.
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        path: formatPath([...issue.path, key]),
        message: 'unknown key',
        got: valueAt(data, [...issue.path, key]),
      }));
    }
    const problem: JobProblem = { path: formatPath(issue.path), message: issue.message };
    // The value as written in the file (before transforms), else what zod saw.
    const written = valueAt(data, issue.path);
    const got = written !== undefined ? written : 'input' in issue ? issue.input : undefined;
    if (got !== undefined) problem.got = got;
    return [problem];
  });
}

/** Validates parsed data; throws `JobFileError` listing every problem. */
export function parseJob(data: unknown, file = '<job>'): Job {
  const result = jobSchema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  throw new JobFileError(file, toProblems(data, result.error.issues));
}

/** Parses JSON or YAML text (YAML is a superset of JSON; `.json` files get JSON's own errors). */
export function parseJobText(text: string, file = '<job>'): Job {
  let data: unknown;
  if (file.endsWith('.json')) {
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new JobFileError(file, [{ path: '', message: `not valid JSON: ${(error as Error).message}` }]);
    }
  } else {
    const document = parseDocument(text);
    if (document.errors.length > 0) {
      throw new JobFileError(
        file,
        document.errors.map((error) => ({
          path: '',
          message: `not valid YAML: ${error.message.split('\n')[0]}`,
        })),
      );
    }
    data = document.toJS();
  }
  return parseJob(data, file);
}

/** Reads and validates one job file. */
export async function loadJobFile(file: string): Promise<Job> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    throw new JobFileError(file, [{ path: '', message: `cannot read the file (${code ?? String(error)})` }]);
  }
  return parseJobText(text, file);
}
