import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MACHINES, toDefinitionJson, toMermaid } from '../../src/machines-render.js';
import { freePort, jsonLines, ROOT, runCli, writeJob } from './cli.js';

describe('taskpulse validate, machines, help', () => {
  it('validate: ok for the demo job, exit 2 with every problem of every file otherwise', async () => {
    const ok = await runCli(['validate', join(ROOT, 'examples/demo.job.yaml')]);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toContain('ok (job "demo", batch, 2 group(s), 4 task(s))');

    const bad = writeJob(
      'bad.json',
      JSON.stringify({ name: 'x', groups: [{ name: 'g', tasks: [] }], extra: 1 }),
    );
    const result = await runCli(['validate', bad, '/nonexistent.yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${bad}: 2 problem(s)`);
    expect(result.stderr).toContain(`${bad}:1:43: groups[0].tasks: a group needs at least one task (got [])`);
    expect(result.stderr).toContain(`${bad}:1:48: extra: unknown key (got 1)`);
    expect(result.stderr).toContain(
      '/nonexistent.yaml: 1 problem(s)\n  /nonexistent.yaml: cannot read the file (ENOENT)',
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('validate: an ok line for each valid file even when another fails; FIFOs, duplicate JSON keys and typos refused', async () => {
    const typo = writeJob(
      'typo.yaml',
      'name: t\ngroups:\n  - name: g\n    restart: { attemps: 2 }\n    tasks: [{ name: t, driver: mock, kill_timeout: 5000 }]\n',
    );
    const twice = writeJob('twice.json', '{\n  "name": "a",\n  "name": "b"\n}\n');
    const fifo = join(dirname(twice), 'job.fifo');
    execFileSync('mkfifo', [fifo]);
    const demo = join(ROOT, 'examples/demo.job.yaml');
    // Nothing writes to the FIFO: reading it would hang the command (and this test) forever.
    const result = await runCli(['validate', typo, demo, twice, fifo]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe(`${demo}: ok (job "demo", batch, 2 group(s), 4 task(s))\n`);
    expect(result.stderr.split('\n')).toEqual([
      `taskpulse: ${typo}: 2 problem(s)`,
      `  ${typo}:4:16: groups[0].restart.attemps: unknown key (got 2); did you mean \`attempts\`?`,
      `  ${typo}:5:52: groups[0].tasks[0].kill_timeout: needs a unit: "5000s" or "5000ms" (got 5000)`,
      `${twice}: 1 problem(s)`,
      `  ${twice}:3:3: duplicate key "name"`,
      `${fifo}: 1 problem(s)`,
      `  ${fifo}: not a regular file (a FIFO or pipe): a job file must be a file on disk`,
      '',
    ]);
  });

  it('machines: prints the same Mermaid and JSON the docs hold', async () => {
    const mermaid = await runCli(['machines', 'task-runner']);
    expect(mermaid.code).toBe(0);
    expect(mermaid.stdout).toContain(toMermaid(MACHINES[0]!.machine));
    const json = await runCli(['machines', 'stats-hook', '--format', 'json']);
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(toDefinitionJson(MACHINES[1]!.machine)));
    expect(readFileSync(join(ROOT, 'docs/machines/stats-hook.json'), 'utf8')).toBe(
      toDefinitionJson(MACHINES[1]!.machine),
    );
    expect((await runCli(['machines', 'nope'])).code).toBe(2);
  });

  it('--help shows examples, --version the version, a usage error exits 2', async () => {
    const help = await runCli(['agent', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('--on-signal <mode>');
    // What SIGTERM gives (test/cli/agent.test.ts: 0 after a stop in time) is what the help says.
    expect(help.stdout).toMatch(/^ {2}0 +every task ended well, or SIGINT\/SIGTERM stopped the agent/m);
    expect(help.stdout).toMatch(/^ {2}130 +a second SIGINT\/SIGTERM forced the exit$/m);
    const version = await runCli(['--version']);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    expect((await runCli(['agent', '--on-signal', 'explode', 'x.yaml'])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
  });

  it('--inspect never takes the job file as its port: --inspect=PORT and --inspect-port do', async () => {
    const job = writeJob(
      'insp.yaml',
      'name: insp\ntype: batch\ngroups: [{ name: g, tasks: [{ name: t, driver: mock, config: { runForMs: 100 } }] }]\n',
    );
    const [port, other] = [await freePort(), await freePort()];
    const quiet = ['--no-http', '--output', 'none', '--log-level', 'silent'];
    const [bare, equals, separate] = await Promise.all([
      runCli(['agent', '--inspect', job, ...quiet]),
      runCli(['agent', `--inspect=${port}`, job, ...quiet]),
      runCli(['agent', job, '--inspect-port', String(other), ...quiet]),
    ]);
    // The default port (8080) may be taken on a shared machine: either way, job.yaml was the job.
    expect(bare.stderr).toMatch(/Stately inspector: http:\/\/localhost:8080|inspector port 8080 is not free/);
    expect(bare.stderr).not.toContain('is invalid');
    expect(equals).toMatchObject({ code: 0, stderr: `Stately inspector: http://localhost:${port}\n` });
    expect(separate).toMatchObject({ code: 0, stderr: `Stately inspector: http://localhost:${other}\n` });
  });

  it('--record-inspection writes the actor system as Stately inspection events (JSONL)', async () => {
    const job = writeJob(
      'insp.yaml',
      'name: insp\ntype: batch\ngroups: [{ name: g, tasks: [{ name: t, driver: mock, stats_interval: 50ms, config: { runForMs: 200 } }] }]\n',
    );
    const file = job.replace(/insp\.yaml$/, 'events.jsonl');
    const result = await runCli(['agent', '--no-http', '--output', 'none', '--record-inspection', file, job]);
    expect(result.code).toBe(0);
    const events = jsonLines(readFileSync(file, 'utf8'));
    const actors = events
      .filter((event) => event.type === '@xstate.actor')
      .map((event) => String(event.name));
    expect(actors.some((name) => /^task-runner:[0-9a-f-]{36}\/t$/.test(name))).toBe(true);
    // The stats hook joins its runner's system: one tree in the inspector.
    const hook = events.find(
      (event) => event.type === '@xstate.actor' && String(event.name).startsWith('stats-hook:'),
    );
    const runner = events.find(
      (event) => event.type === '@xstate.actor' && String(event.name).startsWith('task-runner:'),
    );
    expect(hook?.parentId).toBe(runner?.sessionId);
    expect(events.some((event) => event.type === '@xstate.snapshot')).toBe(true);
    expect(events.every((event) => typeof event.sessionId === 'string' && event._version)).toBe(true);
  });
});
