/**
 * Issue 11, case 7 within `npm test`: more tasks than file descriptors. The real agent runs under a
 * soft and hard `ulimit -n` of 256 (prlimit) with 300 real `true` tasks started at once: every start
 * is bounded and a transient EMFILE retried, so all of them run to completion (exit 0), with no
 * start failure, no switch away from cgroups and nothing left. `npm run test:scale` runs 10,000.
 */
import { describe, expect, it } from 'vitest';
import { cgroupDirsOf } from '../support/leftovers.js';
import { jsonLines, startCli, writeJob } from './cli.js';

describe('more tasks than fds', () => {
  it('300 tasks under ulimit -n 256: all exit 0, no start failure, cgroups kept, nothing left', {
    timeout: 120_000,
  }, async () => {
    const job = writeJob(
      'fds.yaml',
      `
name: fds
type: batch
groups:
  - name: g
    count: 300
    restart: { attempts: 0, mode: fail }
    tasks:
      - name: t
        driver: exec
        config: { command: 'true' }
`,
    );
    const cli = startCli(['--log-format', 'json', 'agent', '--no-http', '--output', 'json', job], {}, [
      'prlimit',
      '--nofile=256:256',
      '--',
    ]);
    const code = await cli.exited;
    const lines = jsonLines(cli.stdout());
    const failures = lines.filter((line) => line.event === 'Driver Failure');
    expect(failures.slice(0, 2)).toEqual([]);
    const summary = lines.at(-1) as { type: string; tasks: { exit_code: number | null }[] };
    expect(summary.type).toBe('summary');
    expect(summary.tasks).toHaveLength(300);
    expect(summary.tasks.every((task) => task.exit_code === 0)).toBe(true);
    expect(code).toBe(0);
    const logs = jsonLines(cli.stderr());
    expect(logs.filter((line) => (line.level as number) >= 50)).toEqual([]);
    expect(
      logs.some(
        (line) => line.msg === 'cannot create task cgroups: exec stats come from the /proc process tree',
      ),
    ).toBe(false);
    const allocs = [...new Set(lines.map((line) => line.alloc_id).filter(Boolean))] as string[];
    expect(cgroupDirsOf(allocs)).toEqual([]);
  });
});
