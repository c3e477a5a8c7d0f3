/**
 * Reads and validates job files (JSON or YAML). An invalid file is refused with every problem
 * listed as `path: message (got value)`, so a user fixes them all in one pass.
 */
import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { type Job, jobSchema } from './job-schema.js';

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
  if (path === '') return `(file): ${message}${got === undefined ? '' : ` (got ${shortJson(got)})`}`;
  return `${path}: ${message} (got ${got === undefined ? 'nothing' : shortJson(got)})`;
}

/** The value as JSON, cut short when long (a whole group is not worth repeating). */
function shortJson(value: unknown): string {
  // JSON would print NaN and Infinity as `null`: name them as they are.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return `${value}`;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    return Array.isArray(value) ? '[…]' : '{…}'; // too deep or cyclic to print: its kind is enough
  }
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
    // Own keys only: a missing `constructor` must not report Object's.
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Deeper than any valid job (about 8 levels): refused before zod walks it. */
export const MAX_JOB_DEPTH = 32;
/** A job file is a few KiB; a bigger one is a mistake (a log, a binary), not a job. */
export const MAX_JOB_FILE_BYTES = 1024 * 1024;

/**
 * Problems zod cannot report well: nesting too deep to walk, and `__proto__` keys (zod drops them
 * silently inside records, so `env: { __proto__: … }` would vanish). Iterative: no stack to overflow.
 */
function structuralProblems(data: unknown): JobProblem[] {
  const problems: JobProblem[] = [];
  const stack: [unknown, PropertyKey[]][] = [[data, []]];
  while (stack.length > 0 && problems.length < 10) {
    const [value, path] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (path.length >= MAX_JOB_DEPTH) {
      problems.push({
        path: formatPath(path),
        message: `nested more than ${MAX_JOB_DEPTH} levels deep`,
        got: value,
      });
      continue;
    }
    for (const key of Object.keys(value)) {
      if (key === '__proto__') {
        problems.push({
          path: formatPath([...path, key]),
          message: 'key not allowed',
          got: (value as Record<string, unknown>)[key],
        });
        continue;
      }
      stack.push([
        (value as Record<string, unknown>)[key],
        [...path, Array.isArray(value) ? Number(key) : key],
      ]);
    }
  }
  return problems;
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
    // A bad record key (an env name): say why, and show the key rather than its value.
    if (issue.code === 'invalid_key') {
      const key = issue.path.at(-1);
      return [
        {
          path: formatPath(issue.path),
          message: `invalid key: ${issue.issues[0]?.message ?? issue.message}`,
          got: key,
        },
      ];
    }
    const problem: JobProblem = { path: formatPath(issue.path), message: issue.message };
    // The value as written in the file (before transforms); a missing key got nothing, whatever
    // zod saw (for a missing `driver` it reports the whole task).
    const written = valueAt(data, issue.path);
    if (written !== undefined) problem.got = written;
    return [problem];
  });
}

/** Validates parsed data; throws `JobFileError` listing every problem. */
export function parseJob(data: unknown, file = '<job>'): Job {
  const structural = structuralProblems(data);
  if (structural.length > 0) throw new JobFileError(file, structural);
  const result = jobSchema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  throw new JobFileError(file, toProblems(data, result.error.issues));
}

/** Parses JSON or YAML text (YAML is a superset of JSON; `.json` files get JSON's own errors). */
export function parseJobText(text: string, file = '<job>'): Job {
  if (text.trim() === '') throw new JobFileError(file, [{ path: '', message: 'the file is empty' }]);
  let data: unknown;
  if (file.endsWith('.json')) {
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new JobFileError(file, [{ path: '', message: `not valid JSON: ${(error as Error).message}` }]);
    }
  } else {
    // A stack overflow (deep nesting) is reported by yaml as an error, or thrown: the same problem.
    const yamlProblem = (message: string): JobProblem => ({
      path: '',
      message: `not valid YAML: ${/call stack/i.test(message) ? 'nested too deeply to parse' : message.split('\n')[0]?.replace(/:$/, '')}`,
    });
    let document: ReturnType<typeof parseDocument>;
    try {
      document = parseDocument(text);
    } catch (error) {
      throw new JobFileError(file, [yamlProblem((error as Error).message)]);
    }
    if (document.errors.length > 0) {
      throw new JobFileError(
        file,
        document.errors.map((error) => yamlProblem(error.message)),
      );
    }
    try {
      // Aliases expand here: yaml refuses an alias bomb ("billion laughs") with a ReferenceError.
      data = document.toJS();
    } catch (error) {
      throw new JobFileError(file, [yamlProblem((error as Error).message)]);
    }
  }
  return parseJob(data, file);
}

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
};

/** Where the first invalid byte is, as the replacement character the lenient decoder put there. */
function firstBadByte(bytes: Buffer): string {
  const lines = bytes.toString('utf8').split('\n');
  const line = lines.findIndex((text) => text.includes('\uFFFD'));
  return line < 0
    ? ''
    : ` (first bad byte on line ${line + 1}, column ${lines[line]!.indexOf('\uFFFD') + 1})`;
}

/**
 * The file's bytes, or undefined past `limit`. Read in chunks rather than sized by `stat`: a pipe
 * (`<(…)`) has no size and `/dev/zero` never ends, and neither may hang the CLI.
 */
async function readAtMost(file: string, limit: number): Promise<Buffer | undefined> {
  const handle = await open(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { buffer, bytesRead } = await handle.read({ buffer: Buffer.alloc(64 * 1024) });
      if (bytesRead === 0) return Buffer.concat(chunks, total);
      total += bytesRead;
      if (total > limit) return undefined;
      chunks.push(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

/** Reads and validates one job file. */
export async function loadJobFile(file: string): Promise<Job> {
  const refuse = (message: string) => new JobFileError(file, [{ path: '', message }]);
  let bytes: Buffer | undefined;
  try {
    bytes = await readAtMost(file, MAX_JOB_FILE_BYTES);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    const why = code && READ_ERRORS[code] ? `: ${READ_ERRORS[code]}` : '';
    throw refuse(`cannot read the file (${code ?? String(error)})${why}`);
  }
  if (!bytes) throw refuse(`too big for a job file (more than ${MAX_JOB_FILE_BYTES} bytes)`);
  // `readFile(…, 'utf8')` would silently turn bad bytes into U+FFFD; a job file must be UTF-8.
  if (!isUtf8(bytes)) throw refuse(`not valid UTF-8${firstBadByte(bytes)}`);
  return parseJobText(bytes.toString('utf8'), file);
}
