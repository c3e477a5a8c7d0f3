/**
 * Issue 11, case 9: a non-root agent (no cgroups) keeps hold of `setsid` escapees. Run as `nobody`
 * through `setpriv`, which execs the CLI (so the suite needs root, as CI has), then checked in /proc: the agent made itself a
 * child subreaper (native helper), so an escapee whose parent exited is re-parented to the agent and
 * killed with its task, at a normal end and at a forced exit.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killProcessesWith, processesWith } from '../support/leftovers.js';
import { type CliProcess, jsonLines, startCli, waitFor } from './cli.js';

const isRoot = process.getuid?.() === 0;
// World-writable: `nobody` reads the job file and writes the exec logs (TMPDIR) here.
const shared = mkdtempSync(join(tmpdir(), 'taskpulse-nobody-'));
chmodSync(shared, 0o777);
const markers = ['5301', '5302', '5303'].map((base) => String(Number(base) + (process.pid % 50) * 10));
afterAll(() => {
  for (const marker of markers) killProcessesWith(marker);
  rmSync(shared, { recursive: true, force: true });
});

/** The CLI as `nobody` (uid and gid 65534, no groups), the same pid as the agent: setpriv execs it. */
function asNobody(args: string[]): CliProcess {
  return startCli(['--log-format', 'json', ...args], { TMPDIR: shared }, [
    'setpriv',
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    '--',
  ]);
}

const ppidOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};
const uidOf = (pid: number) =>
  Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1]);

describe.skipIf(!isRoot)('a non-root agent and setsid escapees', () => {
  it('run: an escapee whose parent exited is killed when the task ends (exit 0), none left in /proc', async () => {
    const [sleep] = markers;
    const run = asNobody([
      '--log-level',
      'info',
      'run',
      '--output',
      'none',
      '--',
      'sh',
      '-c',
      `(setsid sleep ${sleep} &); exit 0`,
    ]);
    expect(await run.exited).toBe(0);
    expect(jsonLines(run.stderr()).some((line) => line.reason === 'not running as root')).toBe(true);
    await waitFor('no escapee left', () => (processesWith(sleep!).length === 0 ? true : undefined));
  });

  it('agent, forced exit: the adopted escapee deaf to TERM is SIGKILLed with its task (130), none left', async () => {
    const [, escapee, main] = markers;
    const job = join(shared, 'escape.yaml');
    writeFileSync(
      job,
      `
name: escape
type: service
groups:
  - name: g
    tasks:
      - name: a
        driver: exec
        kill_timeout: 1h
        config:
          command: sh
          args: ['-c', "trap '' TERM; (setsid sh -c \\"trap '' TERM; exec sleep ${escapee}\\" &); exec sleep ${main}"]
`,
    );
    chmodSync(job, 0o644);
    const agent = asNobody(['agent', '--no-http', '--output', 'json', job]);
    await waitFor(
      'both processes',
      () => (processesWith(escapee!).length === 1 && processesWith(main!).length === 1 ? true : undefined),
      15_000,
    );
    // The escapee's parent (the subshell) is gone: it was re-parented to the agent, not to init.
    const [adopted] = processesWith(escapee!);
    expect(ppidOf(adopted!.pid)).toBe(agent.child.pid);
    expect(uidOf(agent.child.pid!)).toBe(65534);
    agent.child.kill('SIGTERM');
    await waitFor('the task in killing', () =>
      jsonLines(agent.stdout()).some((line) => line.event === 'Killing') ? true : undefined,
    );
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(130);
    await waitFor('no process left', () =>
      processesWith(escapee!).length + processesWith(main!).length === 0 ? true : undefined,
    );
  });
});
