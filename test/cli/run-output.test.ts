/**
 * `run` passes the command's output through, as `time` does, while it still measures it: stdout to
 * stdout and stderr to stderr (or both to stderr when stdout carries JSON lines), all of it, in
 * order, with the command's exit code; its log files go when it ends, unless --keep-logs.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EXEC_LOG_DIR } from '../../src/drivers/exec/task-logs.js';
import { jsonLines, runCli } from './cli.js';

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
