/**
 * A job file's text as data, and where each value is in the text (line and column), for YAML and
 * JSON alike. YAML is parsed with merge keys (`<<: *defaults`) and unique keys; JSON with
 * `JSON.parse` (its own errors and numbers), then read again by the YAML parser, which JSON is a
 * subset of, for positions and the duplicate keys `JSON.parse` would silently let through.
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from 'yaml';

export interface Position {
  line: number;
  column: number;
}

/** A problem of the text itself (syntax, duplicate key), before any field is looked at. */
export interface SourceProblem extends Partial<Position> {
  message: string;
}

export interface JobSource {
  data: unknown;
  /** Where the value at `path` is written (its key, for `at: 'key'`), or the nearest thing that is. */
  locate(path: readonly PropertyKey[], at?: 'key' | 'value'): Position | undefined;
}

/** A key as written: double-quoted, single-quoted, or plain up to its `:`. */
const KEY_AT = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^:\n,{}]+)/;

const YAML_OPTIONS = { merge: true, uniqueKeys: true, prettyErrors: false } as const;

/** yaml's "Map keys must be unique" names no key: take it from the text at the error. */
function yamlProblem(
  text: string,
  error: { code?: string; message: string; pos?: [number, number] },
  lines: LineCounter,
): SourceProblem {
  const position = error.pos && lines.linePos(error.pos[0]);
  const at = position ? { line: position.line, column: position.col } : {};
  if (error.code === 'DUPLICATE_KEY' && error.pos) {
    // The error points at the key's first character: read the key (quoted or plain) from there.
    const key = KEY_AT.exec(text.slice(error.pos[0]))?.[0]?.trim() ?? '';
    return { ...at, message: `duplicate key ${key.startsWith('"') ? key : JSON.stringify(key)}` };
  }
  if (error.code === 'MULTIPLE_DOCS') {
    return { ...at, message: 'not valid YAML: a job file holds one document (found a second `---`)' };
  }
  // A stack overflow (deep nesting) is reported by yaml as an error: say so plainly.
  const message = /call stack/i.test(error.message)
    ? 'nested too deeply to parse'
    : error.message.split('\n')[0]!;
  return {
    ...at,
    message: `not valid YAML: ${message.replace(/ at line \d+, column \d+:?$/, '').replace(/:$/, '')}`,
  };
}

function locator(document: Document.Parsed | undefined, lines: LineCounter): JobSource['locate'] {
  return (path, at = 'value') => {
    if (!document) return undefined;
    const position = (node: { range?: readonly number[] | null } | null | undefined) => {
      const offset = node?.range?.[0];
      if (offset === undefined) return undefined;
      const { line, col } = lines.linePos(offset);
      return { line, column: col };
    };
    let node: unknown = document.contents;
    let found = position(node as Node);
    for (const [index, key] of path.entries()) {
      if (isAlias(node)) node = node.resolve(document);
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(key),
        );
        if (!pair) return found; // a missing key (or one merged in from `<<`): its map
        if (index === path.length - 1 && at === 'key') return position(pair.key as Node) ?? found;
        next = pair.value;
        found = position(pair.value as Node) ?? position(pair.key as Node) ?? found;
      } else if (isSeq(node) && typeof key === 'number') {
        next = node.items[key];
        found = position(next as Node) ?? found;
      } else return found;
      node = next;
    }
    return found;
  };
}

/** The data and its positions, or the problems that keep the text from being data at all. */
export function readJobSource(text: string, json: boolean): JobSource | SourceProblem[] {
  const lines = new LineCounter();
  let document: Document.Parsed | undefined;
  let parseError: Error | undefined;
  try {
    document = parseDocument(text, { ...YAML_OPTIONS, lineCounter: lines });
  } catch (error) {
    parseError = error as Error; // deep nesting can overflow the parser's stack
  }
  if (json) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      const message = (error as Error).message;
      // V8 names a position for some errors only: else the end of the input, or where the YAML
      // parser (reading the same text) stopped.
      const offset =
        /at position (\d+)/.exec(message)?.[1] ??
        (/end of JSON/.test(message) ? text.trimEnd().length : document?.errors[0]?.pos[0]);
      const { line, col } =
        offset === undefined ? { line: undefined, col: undefined } : lines.linePos(Number(offset));
      return [
        {
          message: `not valid JSON: ${message.replace(/ \(line \d+ column \d+\)$/, '')}`,
          ...(line === undefined ? {} : { line, column: col }),
        },
      ];
    }
    const duplicates = (document?.errors ?? []).filter((error) => error.code === 'DUPLICATE_KEY');
    if (duplicates.length > 0) return duplicates.map((error) => yamlProblem(text, error, lines));
    return { data, locate: locator(document, lines) };
  }
  if (!document) return [yamlProblem(text, { message: parseError?.message ?? 'cannot parse' }, lines)];
  if (document.errors.length > 0) return document.errors.map((error) => yamlProblem(text, error, lines));
  try {
    // Aliases expand here: yaml refuses an alias bomb ("billion laughs") with a ReferenceError.
    return { data: document.toJS(), locate: locator(document, lines) };
  } catch (error) {
    return [yamlProblem(text, { message: (error as Error).message }, lines)];
  }
}
