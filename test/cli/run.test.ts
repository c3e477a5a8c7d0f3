import { describe, expect, it } from 'vitest';
import { jsonLines, runCli } from './cli.js';

describe('taskpulse run', () => {
  it('prints JSON lines with CPU near one core for a busy loop and exits with its exit code', async () => {
    const busy = 'const end = Date.now() + 2000; while (Date.now() < end) {} process.exit(7)';
    const { code, stdout, stderr } = await runCli(['run', '--interval', '250ms', '--', 'node', '-e', busy]);
    expect(stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect(code).toBe(7);

    const lines = jsonLines(stdout);
    const stats = lines.filter((line) => line.type === 'stats');
    expect(stats.length).toBeGreaterThanOrEqual(4);
    const cpu = stats.map((line) => line.cpu_percent as number);
    // One core busy is 100 %. Two cores shared with other work: the best sample is well above half a
    // core, and none is above one core by more than measurement noise.
    expect(Math.max(...cpu)).toBeGreaterThan(60);
    expect(Math.max(...cpu)).toBeLessThan(130); // a late tick can stretch one sample a little
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
    // ~2 s of one core, estimated from the samples.
    expect(task?.cpu_seconds as number).toBeGreaterThan(0.8);
    expect(task?.cpu_seconds as number).toBeLessThan(2.6);
  });

  it('exits 0 for a command that succeeds, and 127 for one that cannot start', async () => {
    const ok = await runCli(['run', '--', 'node', '-e', '']);
    expect(ok.code).toBe(0);
    const missing = await runCli(['run', '--', '/nonexistent/command']);
    expect(missing.code).toBe(127);
    expect(jsonLines(missing.stdout).some((line) => line.event === 'Driver Failure')).toBe(true);
  });
});
