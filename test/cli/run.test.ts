import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonLines, ROOT, runCli } from './cli.js';

describe('taskpulse run', () => {
  it('prints JSON lines whose CPU follows the kernel for a busy loop and exits with its exit code', async () => {
    // The loop burns a fixed amount of CPU time (user + system, as the kernel counts it), not of wall
    // time: on a loaded machine it just takes longer, and every figure below still holds.
    const burn = 1.5;
    const busy = `const s = process.cpuUsage(); for (;;) { const u = process.cpuUsage(s); if (u.user + u.system >= ${burn * 1e6}) process.exit(7) }`;
    const { code, stdout, stderr } = await runCli(['run', '--interval', '250ms', '--', 'node', '-e', busy]);
    expect(stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect(code).toBe(7);

    const lines = jsonLines(stdout);
    const stats = lines.filter((line) => line.type === 'stats');
    expect(stats.length).toBeGreaterThanOrEqual(4);
    // The first sample has CPU seconds but no percent yet: null (absent), never a made-up 0.
    expect(stats[0]?.cpu_percent).toBeNull();
    expect(stats[0]?.cpu_seconds).toEqual(expect.any(Number));
    // Each percent is the CPU time the kernel counted between two samples over the time between them
    // (times in ms and CPU seconds in ms: ±1 ms over 250 ms is ±0.4 points, each).
    for (let i = 1; i < stats.length; i++) {
      const [before, after] = [stats[i - 1], stats[i]] as Record<string, unknown>[];
      const seconds = (Date.parse(after?.time as string) - Date.parse(before?.time as string)) / 1000;
      const cpu = (after?.cpu_seconds as number) - (before?.cpu_seconds as number);
      expect(after?.cpu_percent as number).toBeCloseTo((100 * cpu) / seconds, -0.5);
      // One thread cannot use more than one core, whatever else the machine is doing.
      expect(after?.cpu_percent as number).toBeLessThan(130); // a late tick can stretch one sample
    }
    // The first sample can come right after exec, before node has grown: every RSS is measured, the
    // largest is a started node's.
    const rss = stats.map((line) => line.rss_bytes as number);
    expect(rss.every((bytes) => bytes > 0)).toBe(true);
    expect(Math.max(...rss)).toBeGreaterThan(5 * 2 ** 20);

    const summary = lines.at(-1);
    expect(summary?.type).toBe('summary');
    const [task] = (summary?.tasks ?? []) as Record<string, unknown>[];
    expect(task).toMatchObject({ task: 'node', exit_code: 7, restarts: 0 });
    expect(task?.peak_rss_bytes as number).toBeGreaterThan(1024 * 1024);
    // From the kernel's figures at exit: the CPU the loop burned, plus node's start-up.
    expect(task?.cpu_seconds as number).toBeGreaterThanOrEqual(burn);
    expect(task?.cpu_seconds as number).toBeLessThan(burn + 0.6);
  });

  it('exits 0 for a command that succeeds; one line and 127/126, as a shell, for one that cannot run', async () => {
    const ok = await runCli(['run', '--', 'node', '-e', '']);
    expect(ok.code).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'taskpulse-run-'));
    const script = join(dir, 'script.sh');
    writeFileSync(script, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    try {
      const [missing, onPath, notExecutable, directory] = await Promise.all([
        runCli(['run', '--', '/nonexistent/command']),
        runCli(['run', '--', 'no-such-cmd-taskpulse', '--flag']),
        runCli(['run', '--', script]),
        runCli(['run', '--output', 'table', '--', dir]),
      ]);
      expect(missing).toEqual({
        code: 127,
        stdout: '',
        stderr: "taskpulse: cannot run '/nonexistent/command': not found\n",
      });
      expect(onPath).toEqual({
        code: 127,
        stdout: '',
        stderr: "taskpulse: cannot run 'no-such-cmd-taskpulse': not found\n",
      });
      expect(notExecutable).toEqual({
        code: 126,
        stdout: '',
        stderr: `taskpulse: cannot run '${script}': not executable\n`,
      });
      expect(directory).toEqual({
        code: 126,
        stdout: '',
        stderr: `taskpulse: cannot run '${dir}': is a directory\n`,
      });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('a failing command with no restart policy is not said to exceed its attempts', async () => {
    const { code, stdout } = await runCli(['run', '--', 'node', '-e', 'process.exit(3)']);
    expect(code).toBe(3);
    const notRestarting = jsonLines(stdout).find((line) => line.event === 'Not Restarting');
    expect(notRestarting?.message).toBe('Restarts not allowed by the policy');
    expect(stdout).not.toContain('Exceeded allowed attempts');
  });

  it('--output table: the live table and the summary fit COLUMNS, with EXIT and FAILED', async () => {
    const { code, stdout } = await runCli(
      [
        'run',
        '--output',
        'table',
        '--interval',
        '200ms',
        '--',
        'node',
        '-e',
        'setTimeout(() => process.exit(4), 1500)',
      ],
      { COLUMNS: '64' },
    );
    expect(code).toBe(4);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the redraw's escape sequences
    const lines = stdout.replace(/\x1b\[\d+F\x1b\[J/g, '').split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(64);
    expect(lines[0]).toMatch(/^TASK +STATE +UPTIME +CPU % +MEM \/ LIMIT/);
    const summary = lines.slice(lines.lastIndexOf('') - 2);
    expect(summary[0]).toMatch(/^TASK +STATE +EXIT +RESTARTS +FAILED +PEAK RSS +CPU s$/);
    expect(summary[1]).toMatch(/^run\/node +dead +4 +0 +yes +\d/);
  });

  it('on a 50-column terminal: a narrower table, no line wrapped', () => {
    // util-linux `script` gives the CLI a pseudo-terminal; `stty cols` makes it a narrow one.
    const command =
      "stty cols 50 rows 24; node bin/taskpulse.js run --interval 100ms -- node -e 'setTimeout(() => {}, 800)'";
    const result = spawnSync('script', ['-qec', command, '/dev/null'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(0);
    const esc = String.fromCharCode(27);
    const lines = result.stdout
      .replaceAll('\r', '')
      .replace(new RegExp(`${esc}\\[\\d+F${esc}\\[J`, 'g'), '')
      .split('\n');
    const tables = lines.filter((line) => line.startsWith('TASK'));
    expect(tables.length).toBeGreaterThanOrEqual(2); // the live table (redrawn) and the summary
    expect(tables[0]).toMatch(/^TASK +STATE +.*CPU %/);
    expect(tables[0]).not.toContain('LAST EVENT'); // dropped first
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(50);
  });

  it('takes the global options after the subcommand too', async () => {
    const { code, stderr } = await runCli([
      'run',
      '--log-level',
      'debug',
      '--log-format',
      'json',
      '--output',
      'none',
      '--',
      'node',
      '-e',
      '',
    ]);
    expect(code).toBe(0);
    const levels = jsonLines(stderr).map((line) => line.level);
    expect(levels).toContain(20); // debug lines: run's default level is warn
  });
});
