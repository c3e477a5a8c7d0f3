/**
 * Task output files: copy-truncate rotation with Nomad's `max_files` / `max_file_size`, and reading
 * them back as one stream (offsets from either end, the last N lines, following through rotations),
 * pulled chunk by chunk so a slow reader holds the reading back.
 */
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readTaskLog } from '../../src/agent/log-reader.js';
import {
  listLogFiles,
  pastSizeLimit,
  removeAllocationLogs,
  rotateLog,
  type TaskLogPaths,
  taskLogPaths,
} from '../../src/drivers/exec/task-logs.js';

let root: string;
afterEach(() => rmSync(root, { recursive: true, force: true }));

function setup(): TaskLogPaths {
  root = mkdtempSync(join(tmpdir(), 'taskpulse-logs-test-'));
  const paths = taskLogPaths(root, 'alloc-1', 'web');
  mkdirSync(paths.dir, { recursive: true });
  return paths;
}

async function readAll(paths: TaskLogPaths, options: Partial<Parameters<typeof readTaskLog>[2]> = {}) {
  let text = '';
  for await (const chunk of readTaskLog(paths, 'stdout', {
    origin: 'start',
    offset: 0,
    follow: false,
    signal: new AbortController().signal,
    ...options,
  })) {
    text += chunk.data.toString();
  }
  return text;
}

describe('task log rotation', () => {
  it('checks the live file against max_file_size with one stat: past the limit only when larger', () => {
    const paths = setup();
    const policy = { maxFiles: 3, maxFileSizeBytes: 10 };
    const live = paths.live('stdout');
    expect(pastSizeLimit(live, policy)).toBe(false); // not written yet
    writeFileSync(live, '0123456789');
    expect(pastSizeLimit(live, policy)).toBe(false);
    appendFileSync(live, 'x');
    expect(pastSizeLimit(live, policy)).toBe(true);
  });

  it('copies the live file past max_file_size, truncates it, and keeps max_files files in all', () => {
    const paths = setup();
    const policy = { maxFiles: 3, maxFileSizeBytes: 10 };
    const live = paths.live('stdout');
    expect(paths.dir).toBe(join(root, 'alloc-1'));
    expect(live).toBe(join(root, 'alloc-1', 'web.stdout'));
    writeFileSync(live, '0123456789');
    expect(rotateLog(paths, 'stdout', policy)).toBe(false); // at the limit, not past it
    for (const text of ['first run  \n', 'second run \n', 'third run  \n', 'fourth run \n']) {
      appendFileSync(live, text);
      expect(rotateLog(paths, 'stdout', policy)).toBe(true);
      expect(readFileSync(live, 'utf8')).toBe('');
    }
    appendFileSync(live, 'now\n');
    // Two copies (the newest, 2 and 3) and the live file: three files; 0 and 1 were deleted.
    expect(readdirSync(paths.dir).sort()).toEqual(['web.stdout', 'web.stdout.2', 'web.stdout.3']);
    expect(listLogFiles(paths, 'stdout').map((file) => [file.index, file.size])).toEqual([
      [2, 12],
      [3, 12],
      [undefined, 4],
    ]);
    expect(readFileSync(join(paths.dir, 'web.stdout.3'), 'utf8')).toBe('fourth run \n');
    removeAllocationLogs(root, 'alloc-1');
    expect(readdirSync(root)).toEqual([]);
  });

  it('keeps appends to the live file after a rotation (the task writes with O_APPEND)', () => {
    const paths = setup();
    writeFileSync(paths.live('stdout'), 'a'.repeat(20));
    rotateLog(paths, 'stdout', { maxFiles: 10, maxFileSizeBytes: 10 });
    appendFileSync(paths.live('stdout'), 'after\n');
    expect(readFileSync(paths.live('stdout'), 'utf8')).toBe('after\n');
    expect(readFileSync(join(paths.dir, 'web.stdout.0'), 'utf8')).toBe('a'.repeat(20));
  });
});

describe('reading task logs', () => {
  function threeFiles(): TaskLogPaths {
    const paths = setup();
    writeFileSync(join(paths.dir, 'web.stdout.7'), 'line 1\nline 2\n');
    writeFileSync(join(paths.dir, 'web.stdout.8'), 'line 3\nli');
    writeFileSync(paths.live('stdout'), 'ne 4\nline 5\n');
    return paths;
  }

  it('reads the kept files as one stream, from an offset at either end', async () => {
    const paths = threeFiles();
    expect(await readAll(paths)).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
    expect(await readAll(paths, { offset: 16 })).toBe('ne 3\nline 4\nline 5\n');
    expect(await readAll(paths, { origin: 'end', offset: 10 })).toBe(' 4\nline 5\n');
    expect(await readAll(paths, { origin: 'end', offset: 1000 })).toBe(
      'line 1\nline 2\nline 3\nline 4\nline 5\n',
    );
    expect(await readAll(paths, { origin: 'end', offset: 0 })).toBe('');
  });

  it('starts at the last N lines, across files', async () => {
    const paths = threeFiles();
    expect(await readAll(paths, { lines: 1 })).toBe('line 5\n');
    expect(await readAll(paths, { lines: 2 })).toBe('line 4\nline 5\n');
    expect(await readAll(paths, { lines: 3 })).toBe('line 3\nline 4\nline 5\n');
    expect(await readAll(paths, { lines: 100 })).toBe('line 1\nline 2\nline 3\nline 4\nline 5\n');
    expect(await readAll(paths, { lines: 0 })).toBe('');
    appendFileSync(paths.live('stdout'), 'partial');
    expect(await readAll(paths, { lines: 2 })).toBe('line 5\npartial');
  });

  it('follows the live file as it grows and through a rotation, until the task has ended', async () => {
    const paths = setup();
    const live = paths.live('stdout');
    writeFileSync(live, 'one\n');
    let ended = false;
    const stop = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const chunk of readTaskLog(paths, 'stdout', {
        origin: 'start',
        offset: 0,
        follow: true,
        ended: () => ended,
        pollMs: 10,
        signal: stop.signal,
      })) {
        seen.push(chunk.data.toString());
      }
    })();
    const until = async (text: string) => {
      for (let i = 0; i < 500 && !seen.join('').endsWith(text); i++)
        await new Promise((r) => setTimeout(r, 5));
      expect(seen.join('')).toBe(text);
    };
    await until('one\n');
    appendFileSync(live, 'two\n');
    await until('one\ntwo\n');
    // Written, then rotated away before the reader looked: it is read from the copy.
    appendFileSync(live, 'three\n');
    rotateLog(paths, 'stdout', { maxFiles: 5, maxFileSizeBytes: 1 });
    appendFileSync(live, 'four\n');
    await until('one\ntwo\nthree\nfour\n');
    appendFileSync(live, 'last\n');
    ended = true;
    await reading;
    expect(seen.join('')).toBe('one\ntwo\nthree\nfour\nlast\n');
  });

  it('reads only as fast as it is asked: one chunk at a time (backpressure)', async () => {
    const paths = setup();
    writeFileSync(paths.live('stdout'), Buffer.alloc(10 * 64 * 1024, 'x'));
    const chunks = readTaskLog(paths, 'stdout', {
      origin: 'start',
      offset: 0,
      follow: false,
      signal: new AbortController().signal,
    });
    const first = await chunks.next();
    expect(first.value?.data.length).toBe(64 * 1024);
    // Nothing more is read until asked; the generator closes its file when dropped.
    await chunks.return(undefined);
    const rest = await chunks.next();
    expect(rest.done).toBe(true);
  });
});
