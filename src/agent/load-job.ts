/**
 * Reads and validates job files (JSON or YAML). An invalid file is refused with every problem
 * listed as `line:column: path: message (got value)`, so a user fixes them all in one pass.
 */
import { isUtf8 } from 'node:buffer';
import { constants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import type { z } from 'zod';
import { type Job, jobFileSchema, jobSchema } from './job-schema.js';
import { type JobSource, readJobSource } from './job-source.js';
import { didYouMean, keysAt, wordIssue } from './job-words.js';

export interface JobProblem {
  /** `groups[0].tasks[1].driver`; empty for the whole document. */
  path: string;
  message: string;
  /** The offending value, when there is one. */
  got?: unknown;
  /** What was probably meant (`did you mean \`attempts\`?`). */
  hint?: string;
  /** Where in the file (1-based), when the problem comes from one. */
  line?: number;
  column?: number;
}

/** A job file that cannot be used. `problems` lists all that is wrong, not just the first. */
export class JobFileError extends Error {
  override readonly name = 'JobFileError';
  constructor(
    readonly file: string,
    readonly problems: JobProblem[],
  ) {
    super(
      `${file}: invalid job file\n${problems.map((problem) => `  ${describeProblem(file, problem)}`).join('\n')}`,
    );
  }
}

/** `path: message (got value); hint`, the problem without its place in the file. */
export function formatProblem({ path, message, got, hint }: JobProblem): string {
  const value = got === undefined ? '' : ` (got ${shortJson(got)})`;
  return `${path === '' ? '(file)' : path}: ${message}${value}${hint === undefined ? '' : `; ${hint}`}`;
}

/** `file:line:column: path: message …`, as compilers print, so an editor can jump to it. */
export function describeProblem(file: string, problem: JobProblem): string {
  const at = problem.line === undefined ? '' : `:${problem.line}:${problem.column ?? 1}`;
  // A problem of the whole file needs no "(file)" once the file is named.
  const text = formatProblem(problem);
  return `${file}${at}: ${problem.path === '' ? text.slice('(file): '.length) : text}`;
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

/** `{ line, column }` of the path in the file, or nothing (data from code has no file). */
function positionAt(
  locate: JobSource['locate'] | undefined,
  path: readonly PropertyKey[],
  where: 'key' | 'value' = 'value',
): Pick<JobProblem, 'line' | 'column'> {
  const position = locate?.(path, where);
  return position ? { line: position.line, column: position.column } : {};
}

/** Deeper than any valid job (about 8 levels): refused before zod walks it. */
export const MAX_JOB_DEPTH = 32;
/** A job file is a few KiB; a bigger one is a mistake (a log, a binary), not a job. */
export const MAX_JOB_FILE_BYTES = 1024 * 1024;

/**
 * Problems zod cannot report well: nesting too deep to walk, and `__proto__` keys (zod drops them
 * silently inside records, so `env: { __proto__: … }` would vanish). Iterative: no stack to overflow.
 */
function structuralProblems(data: unknown, locate: JobSource['locate'] | undefined): JobProblem[] {
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
        ...positionAt(locate, path),
      });
      continue;
    }
    for (const key of Object.keys(value)) {
      if (key === '__proto__') {
        problems.push({
          path: formatPath([...path, key]),
          message: 'key not allowed',
          got: (value as Record<string, unknown>)[key],
          ...positionAt(locate, [...path, key], 'key'),
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

function toProblems(
  data: unknown,
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  locate: JobSource['locate'] | undefined,
): JobProblem[] {
  const at = (path: readonly PropertyKey[], where: 'key' | 'value' = 'value') =>
    positionAt(locate, path, where);
  return issues.flatMap((issue): JobProblem[] => {
    // An unknown key is reported on its parent object: name each key, show its value, and the
    // known key it is nearest to.
    if (issue.code === 'unrecognized_keys') {
      const known = keysAt(schema, data, issue.path);
      return issue.keys.map((key) => {
        const hint = didYouMean(key, known);
        return {
          path: formatPath([...issue.path, key]),
          message: 'unknown key',
          got: valueAt(data, [...issue.path, key]),
          ...(hint === undefined ? {} : { hint }),
          ...at([...issue.path, key], 'key'),
        };
      });
    }
    // A bad record key (an env name): say why, and show the key rather than its value.
    if (issue.code === 'invalid_key') {
      const key = issue.path.at(-1);
      return [
        {
          path: formatPath(issue.path),
          message: `invalid key: ${issue.issues[0]?.message ?? issue.message}`,
          got: key,
          ...at(issue.path, 'key'),
        },
      ];
    }
    // The value as written in the file (before transforms); a missing key got nothing, whatever
    // zod saw (for a missing `driver` it reports the whole task).
    const written = valueAt(data, issue.path);
    const present = issue.path.length === 0 ? data !== undefined && data !== null : written !== undefined;
    const problem: JobProblem = { path: formatPath(issue.path), message: wordIssue(issue, present) };
    if (written !== undefined) problem.got = written;
    const choices =
      issue.code === 'invalid_value' ? issue.values : (issue as { options?: unknown[] }).options;
    const hint = choices && didYouMean(written, choices.map(String));
    if (hint) problem.hint = hint;
    return [{ ...problem, ...at(issue.path) }];
  });
}

/** Validates data against `schema`; throws `JobFileError` listing every problem. */
function checkJob(data: unknown, file: string, schema: typeof jobSchema, locate?: JobSource['locate']): Job {
  const structural = structuralProblems(data, locate);
  if (structural.length > 0) throw new JobFileError(file, structural);
  const result = schema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  const problems = toProblems(data, result.error.issues, schema, locate);
  // In the order of the file, top to bottom, as a user reads (and fixes) it.
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  throw new JobFileError(file, problems);
}

/** Validates parsed data from code, where a number is a duration in milliseconds. */
export function parseJob(data: unknown, file = '<job>'): Job {
  return checkJob(data, file, jobSchema);
}

/**
 * The job without its top-level `x-…` keys: as in Compose files, they hold what YAML anchors
 * point at (`x-defaults: &defaults`, then `<<: *defaults` in each task) and are otherwise ignored.
 */
function withoutExtensions(data: unknown): unknown {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return data;
  return Object.fromEntries(Object.entries(data).filter(([key]) => !key.startsWith('x-')));
}

/** Parses JSON or YAML text (`.json` files get JSON's own errors); durations need a unit. */
export function parseJobText(text: string, file = '<job>'): Job {
  if (text.trim() === '') throw new JobFileError(file, [{ path: '', message: 'the file is empty' }]);
  const source = readJobSource(text, file.endsWith('.json'));
  if (Array.isArray(source))
    throw new JobFileError(
      file,
      source.map((problem) => ({ path: '', ...problem })),
    );
  return checkJob(withoutExtensions(source.data), file, jobFileSchema, source.locate);
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

/** What a file that is not a regular one is, for the message that refuses it. */
function specialKind(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO or pipe';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

class SpecialFileError extends Error {}

/**
 * The file's bytes, or undefined past `limit`. Opened without blocking and checked before a byte
 * is read: opening a FIFO waits for a writer and `/dev/zero` never ends, and neither may hang the
 * CLI. Read in chunks, not sized by `stat`, in case the file grows while it is read.
 */
async function readAtMost(file: string, limit: number): Promise<Buffer | undefined> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (stats.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
    if (!stats.isFile()) throw new SpecialFileError(specialKind(stats));
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
    if (error instanceof SpecialFileError) {
      throw refuse(`not a regular file (${error.message}): a job file must be a file on disk`);
    }
    const { code } = error as NodeJS.ErrnoException;
    const why = code && READ_ERRORS[code] ? `: ${READ_ERRORS[code]}` : '';
    throw refuse(`cannot read the file (${code ?? String(error)})${why}`);
  }
  if (!bytes) throw refuse(`too big for a job file (more than ${MAX_JOB_FILE_BYTES} bytes)`);
  // `readFile(…, 'utf8')` would silently turn bad bytes into U+FFFD; a job file must be UTF-8.
  if (!isUtf8(bytes)) throw refuse(`not valid UTF-8${firstBadByte(bytes)}`);
  return parseJobText(bytes.toString('utf8'), file);
}
