/**
 * zod's issues in taskpulse's words: "missing (a string is required)", "must be a list",
 * "must be at least 1", rather than "Invalid input: expected string, received undefined". And for a
 * misspelt key or value, the nearest right one ("did you mean `attempts`?").
 */
import { z } from 'zod';

/** What a value must be, as a user reads it. */
const KINDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map of keys',
};

const kind = (expected: string) => KINDS[expected] ?? expected;

/** `"a", "b" or "c"`. */
export function oneOf(values: readonly unknown[]): string {
  const quoted = values.map((value) => JSON.stringify(value));
  return quoted.length < 2 ? (quoted[0] ?? '') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}

/**
 * Edits between two words, a swap of neighbours counting as one (`fial` → `fail`): the optimal
 * string alignment distance. Hand-written rather than a Levenshtein package because those count a
 * swap as two, and swapped letters are the commonest typo.
 */
export function typoDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const row = rows[i]!;
      const above = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
      }
    }
  }
  return rows[a.length]![b.length]!;
}

/** The candidate nearest to `word`, when it is near enough to be a typo (not just another word). */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = typoDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // One edit in short words, more in long ones: `attemps` → `attempts`, but not `foo` → `mode`.
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

export const didYouMean = (word: unknown, candidates: Iterable<string>): string | undefined => {
  const match = typeof word === 'string' ? nearest(word, candidates) : undefined;
  return match === undefined ? undefined : `did you mean \`${match}\`?`;
};

/** The message for one issue. `present`: the key exists in the file (else it is missing). */
export function wordIssue(issue: z.core.$ZodIssue, present: boolean): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.path.length === 0) return 'a job file must hold a map of keys (name, groups, …)';
      return present ? `must be ${kind(issue.expected)}` : `missing (${kind(issue.expected)} is required)`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'string') {
        return min === 1 ? 'must not be empty' : `must be at least ${min} characters`;
      }
      if (issue.origin === 'number')
        return issue.inclusive ? `must be at least ${min}` : `must be more than ${min}`;
      return issue.message;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'number')
        return issue.inclusive ? `must be at most ${max}` : `must be less than ${max}`;
      return issue.message;
    }
    case 'invalid_value':
      return `must be ${issue.values.length === 1 ? '' : 'one of '}${oneOf(issue.values)}`;
    case 'invalid_union': {
      // A task's `driver` picks its schema (a discriminated union): name the drivers.
      const options = (issue as { options?: unknown[] }).options;
      if (options) return present ? `must be ${oneOf(options)}` : `missing (${oneOf(options)} is required)`;
      return issue.message;
    }
    default:
      return issue.message;
  }
}

/**
 * The keys an object at `path` may have, walking the schema along the data (a task's `driver`
 * picks its shape). Empty when the path leads nowhere known.
 */
export function keysAt(schema: z.ZodType, data: unknown, path: readonly PropertyKey[]): string[] {
  const keys = new Set<string>();
  const walk = (node: z.ZodType, value: unknown, rest: readonly PropertyKey[]): void => {
    if (node instanceof z.ZodOptional || node instanceof z.ZodDefault || node instanceof z.ZodNullable) {
      walk(node.unwrap() as z.ZodType, value, rest);
    } else if (node instanceof z.ZodPipe) {
      walk(node.in as z.ZodType, value, rest);
    } else if (node instanceof z.ZodUnion) {
      for (const option of node.options as z.ZodType[]) {
        const discriminator = (node as { _zod: { def: { discriminator?: string } } })._zod.def.discriminator;
        if (discriminator !== undefined && !matchesDiscriminator(option, discriminator, value)) continue;
        walk(option, value, rest);
      }
    } else if (node instanceof z.ZodObject) {
      const [key, ...deeper] = rest;
      if (key === undefined) {
        for (const name of Object.keys(node.shape)) keys.add(name);
        return;
      }
      const child = node.shape[String(key)] as z.ZodType | undefined;
      if (child) walk(child, field(value, key), deeper);
    } else if (node instanceof z.ZodArray) {
      const [index, ...deeper] = rest;
      if (typeof index === 'number') walk(node.element as z.ZodType, field(value, index), deeper);
    }
  };
  walk(schema, data, path);
  return [...keys];
}

function field(value: unknown, key: PropertyKey): unknown {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, key)
    ? (value as Record<PropertyKey, unknown>)[key]
    : undefined;
}

function matchesDiscriminator(option: z.ZodType, discriminator: string, value: unknown): boolean {
  if (!(option instanceof z.ZodObject)) return true;
  const literal = option.shape[discriminator];
  return !(literal instanceof z.ZodLiteral) || literal.values.has(field(value, discriminator) as never);
}
