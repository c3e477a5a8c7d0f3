/**
 * `run` passes the command's output through, as `time` does, while it still measures it: stdout to
 * stdout and stderr to stderr (or both to stderr when stdout carries JSON lines), all of it, in
 * order, with the command's exit code; its log files go when it ends, unless --keep-logs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EXEC_LOG_DIR } from '../../src/drivers/exec/task-logs.js';
import { jsonLines, ROOT, runCli } from './cli.js';

const SCRIPT = [
  "console.log('out 1')",
  "console.error('err 1')",
  "setTimeout(() => { for (let i = 2; i <= 2000; i++) console.log('out ' + i); process.exitCode = 3; }, 300)",
].join(';');

const summaryOf = (stdout: string) =>
  jsonLines(stdout).find((line) => line.type === 'summary') as { tasks: { alloc_id: string }[] } | undefined;

describe('taskpulse run: the command output', () => {
  it('--output none: stdout to stdout, stderr to stderr, every line in order, exit code kept', async () => {
    const result = await runCli(['run', '--output', 'none', '--', 'node', '-e', SCRIPT]);
    expect(result.code).toBe(3);
    const expected = Array.from({ length: 2000 }, (_, i) => `out ${i + 1}`).join('\n');
    expect(result.stdout).toBe(`${expected}\n`);
    expect(result.stderr).toBe('err 1\n');
  });

  it('JSON lines on stdout: the command output goes to stderr; measured still; the logs go at the end', async () => {
    const result = await runCli([
      'run',
      '--output',
      'json',
      '--interval',
      '100ms',
      '--',
      'node',
      '-e',
      SCRIPT,
    ]);
    expect(result.code).toBe(3);
    const lines = jsonLines(result.stdout);
    expect(lines.some((line) => line.type === 'stats' && typeof line.rss_bytes === 'number')).toBe(true);
    expect(result.stderr).toContain('out 1\n');
    expect(result.stderr).toContain('err 1\n');
    expect(result.stderr).toContain('out 2000\n');
    const allocId = summaryOf(result.stdout)!.tasks[0]!.alloc_id;
    expect(existsSync(join(DEFAULT_EXEC_LOG_DIR, allocId))).toBe(false);
  });

  it('on a terminal: the output scrolls above the live table, each line once and whole', () => {
    // util-linux `script` gives the CLI a pseudo-terminal (Debian's bsdutils is essential).
    const command = `node bin/taskpulse.js run --interval 100ms -- sh -c 'echo one; sleep 0.3; printf tw; sleep 0.3; echo o; echo three'`;
    const result = spawnSync('script', ['-qec', command, '/dev/null'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(0);
    // What the terminal shows at the end: cursor-up-and-clear removes the table drawn before.
    const esc = String.fromCharCode(27);
    const redraw = new RegExp(`(${esc}\\[\\d+F${esc}\\[J)`);
    const screen: string[] = [];
    for (const part of result.stdout.replaceAll('\r', '').split(redraw)) {
      const up = part.match(new RegExp(`^${esc}\\[(\\d+)F${esc}\\[J$`));
      if (up) screen.splice(screen.length - Number(up[1]));
      else
        screen.push(...part.split('\n').filter((line, index, all) => index < all.length - 1 || line !== ''));
    }
    const output = screen.filter((line) => ['one', 'two', 'three'].includes(line));
    expect(output).toEqual(['one', 'two', 'three']);
    expect(screen.some((line) => line.startsWith('TASK') && line.includes('LAST EVENT'))).toBe(true); // the last table
    expect(screen.some((line) => line.startsWith('TASK') && line.includes('PEAK RSS'))).toBe(true); // the summary
  });

  it('--keep-logs keeps the log files and says where', async () => {
    const result = await runCli([
      'run',
      '--output',
      'json',
      '--keep-logs',
      '--',
      'node',
      '-e',
      "console.log('kept')",
    ]);
    expect(result.code).toBe(0);
    const allocId = summaryOf(result.stdout)!.tasks[0]!.alloc_id;
    const dir = join(DEFAULT_EXEC_LOG_DIR, allocId);
    try {
      expect(readdirSync(dir).sort()).toEqual(['node.stderr', 'node.stdout']);
      expect(result.stderr).toContain(`Task logs kept in ${DEFAULT_EXEC_LOG_DIR}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
