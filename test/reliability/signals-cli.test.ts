/**
 * Signals to the real `taskpulse agent` with real exec tasks (issue 8), checked against the process
 * table: after SIGTERM in kill mode no process of any task's process group is left; in detach mode
 * they all live on; a second signal exits at once (130) and still leaves no orphan, even of a task
 * that ignores SIGTERM. Three CLI spawns, run side by side.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type CliProcess, jsonLines, startCli, waitFor, writeJob } from '../cli/cli.js';

interface ProcEntry {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
}

/** Every process, from /proc/<pid>/stat ("pid (comm) state ppid pgrp …"). */
function processTable(): ProcEntry[] {
  const entries: ProcEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const [state = '?', ppid = '0', pgid = '0'] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    entries.push({ pid: Number(name), ppid: Number(ppid), pgid: Number(pgid), state });
  }
  return entries;
}

/** Live (non-zombie) processes in any of these process groups. */
const membersOf = (pgids: readonly number[]) =>
  processTable().filter((entry) => pgids.includes(entry.pgid) && entry.state !== 'Z');

/** The task process groups an agent runs: its children that lead their own group. */
const taskGroupsOf = (agentPid: number) =>
  processTable()
    .filter((entry) => entry.ppid === agentPid && entry.pgid === entry.pid)
    .map((entry) => entry.pid);

const job = (command: string, killTimeout: string) => `
name: sig
type: service
groups:
  - name: g
    tasks:
      - name: a
        driver: exec
        kill_timeout: ${killTimeout}
        stats_interval: 200ms
        config: { command: sh, args: ['-c', ${JSON.stringify(command)}] }
      - name: b
        driver: exec
        kill_timeout: ${killTimeout}
        stats_interval: 200ms
        config: { command: sh, args: ['-c', ${JSON.stringify(command)}] }
`;

/** A shell with two children of its own, all in the task's process group. */
const TREE = 'sleep 300 & sleep 300 & wait';
/** The same, deaf to SIGTERM (children inherit the ignored signal). */
const STUBBORN = "trap '' TERM; sleep 300 & sleep 300 & wait";

const clis: CliProcess[] = [];
const groups: number[] = [];
afterEach(async () => {
  // A failed test still leaves nothing: the agents first, then any task group they left.
  for (const cli of clis) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  await Promise.all(clis.map((cli) => cli.exited));
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
  }
  clis.length = 0;
  groups.length = 0;
});

/** Starts an agent and waits until both its tasks run; returns their process groups. */
async function startAgent(command: string, args: string[]): Promise<{ cli: CliProcess; pgids: number[] }> {
  const cli = startCli([
    '--log-format',
    'json',
    'agent',
    '--no-http',
    '--output',
    'json',
    ...args,
    writeJob('sig.yaml', job(command, args.includes('--shutdown-deadline') ? '60s' : '2s')),
  ]);
  clis.push(cli);
  await waitFor(
    'both tasks to start',
    () =>
      jsonLines(cli.stdout()).filter((line) => line.event === 'Started').length === 2 ? true : undefined,
    15_000,
  );
  const pgids = await waitFor('the task process groups with their children', () => {
    const found = taskGroupsOf(cli.child.pid!);
    // Each group: sh and its two sleeps.
    return found.length === 2 && membersOf(found).length === 6 ? found : undefined;
  });
  groups.push(...pgids);
  return { cli, pgids };
}

describe('signals to the real agent, checked in the process table', () => {
  it('kill: SIGTERM kills every task process; detach: SIGINT leaves them all; a second signal forces exit, no orphans', {
    timeout: 40_000,
  }, async () => {
    const [killed, detached, forced] = await Promise.all([
      startAgent(TREE, ['--on-signal', 'kill']),
      startAgent(TREE, ['--on-signal', 'detach']),
      startAgent(STUBBORN, ['--on-signal', 'kill', '--shutdown-deadline', '90s']),
    ]);

    killed.cli.child.kill('SIGTERM');
    detached.cli.child.kill('SIGINT');
    forced.cli.child.kill('SIGTERM');
    // The stubborn tasks are being killed (they ignore SIGTERM for 60 s): the agent is waiting.
    await waitFor('the stubborn tasks in `killing`', () =>
      jsonLines(forced.cli.stdout()).filter((line) => line.event === 'Killing').length === 2
        ? true
        : undefined,
    );
    expect(forced.cli.child.exitCode).toBeNull();
    const secondAt = Date.now();
    forced.cli.child.kill('SIGTERM');

    const [killedCode, detachedCode, forcedCode] = await Promise.all([
      killed.cli.exited,
      detached.cli.exited,
      forced.cli.exited,
    ]);
    // Forced: well before the 60 s kill timeout or the 90 s deadline.
    expect(Date.now() - secondAt).toBeLessThan(5000);
    expect(forcedCode).toBe(130);
    expect(forced.cli.stderr()).toContain('second signal: exiting without waiting for the tasks');
    expect(killedCode).toBe(0);
    expect(detachedCode).toBe(0);

    const summaryOf = (cli: CliProcess) =>
      jsonLines(cli.stdout()).at(-1) as { type: string; reason: string; tasks: { state: string }[] };
    expect(summaryOf(killed.cli)).toMatchObject({ type: 'summary', reason: 'stopped' });
    expect(summaryOf(killed.cli).tasks.map((task) => task.state)).toEqual(['dead', 'dead']);
    expect(summaryOf(detached.cli).tasks.map((task) => task.state)).toEqual(['detached', 'detached']);

    // The process table: kill mode and the forced exit leave no member of any task group (zombies
    // aside, which init reaps); detach leaves every one running.
    await waitFor('the killed task groups to be empty', () =>
      membersOf([...killed.pgids, ...forced.pgids]).length === 0 ? true : undefined,
    );
    expect(membersOf(detached.pgids)).toHaveLength(6);
    // Detached processes are re-parented (to init or a subreaper), no longer the agent's.
    expect(membersOf(detached.pgids).every((entry) => entry.ppid !== detached.cli.child.pid)).toBe(true);
  });
});
