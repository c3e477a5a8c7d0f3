import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/agent/duration.js';
import { nearest, typoDistance } from '../../src/agent/job-words.js';
import {
  describeProblem,
  formatProblem,
  JobFileError,
  loadJobFile,
  parseJob,
  parseJobText,
} from '../../src/agent/load-job.js';
import { writeJob } from '../cli/cli.js';
import { useLeakCheck } from '../support/leak-check.js';

// Nothing a scenario makes (timers, files, sockets) may outlive it.
useLeakCheck();

const problemsOf = (text: string, file = 'job.yaml') => {
  try {
    parseJobText(text, file);
  } catch (error) {
    if (error instanceof JobFileError) return error.problems.map(formatProblem);
    throw error;
  }
  throw new Error('expected the job to be refused');
};

describe('job files', () => {
  it('parses YAML and JSON alike, with defaults and durations in ms', () => {
    const yaml = parseJobText(
      `name: web
groups:
  - name: g
    restart: { attempts: 1, interval: 1m30s, delay: 500ms, mode: delay }
    tasks:
      - { name: t, driver: exec, config: { command: sleep, args: ['1'] }, kill_timeout: 2s, stats_interval: 250ms }
`,
      'web.yaml',
    );
    expect(yaml).toMatchObject({
      type: 'service',
      namespace: 'default',
      groups: [
        {
          count: 1,
          restart: { attempts: 1, interval: 90_000, delay: 500, mode: 'delay' },
          tasks: [{ kill_timeout: 2000, stats_interval: 250, config: { command: 'sleep', args: ['1'] } }],
        },
      ],
    });
    const json = parseJobText(
      JSON.stringify({ name: 'web', groups: [{ name: 'g', tasks: [{ name: 't', driver: 'mock' }] }] }),
      'web.json',
    );
    expect(json.groups[0]?.tasks[0]).toMatchObject({ driver: 'mock', config: {} });
  });

  it('lists every problem as `path: message (got value)`', () => {
    expect(
      problemsOf(`name: bad job
groups:
  - name: g
    count: 0
    tasks:
      - name: t
        driver: docker
        config: { image: '', cpus: -1 }
        kill_signal: SIGFOO
        typo: true
`),
    ).toEqual([
      'name: must be letters, digits, "_", "." or "-", starting alphanumeric (got "bad job")',
      'groups[0].count: must be at least 1 (got 0)',
      'groups[0].tasks[0].config.image: must not be empty (got "")',
      'groups[0].tasks[0].config.cpus: must be more than 0 (got -1)',
      'groups[0].tasks[0].kill_signal: must be one of "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2" or "SIGKILL" (got "SIGFOO")',
      'groups[0].tasks[0].typo: unknown key (got true)',
    ]);
  });

  it('refuses duplicate names, syntax errors and unreadable files', async () => {
    expect(
      problemsOf(
        'name: j\ngroups:\n  - { name: g, tasks: [{ name: t, driver: mock }, { name: t, driver: mock }] }\n  - { name: g, tasks: [{ name: t, driver: mock }] }\n',
      ),
    ).toEqual([
      'groups[0].tasks[1].name: duplicate task name in the group (got "t")',
      'groups[1].name: duplicate group name (got "g")',
    ]);
    expect(problemsOf('name: [1', 'x.yaml')[0]).toMatch(/^\(file\): not valid YAML/);
    expect(problemsOf('{"name": ', 'x.json')[0]).toMatch(/^\(file\): not valid JSON/);
    await expect(loadJobFile('/nonexistent/job.yaml')).rejects.toThrow(/cannot read the file \(ENOENT\)/);
    await expect(
      loadJobFile(
        writeJob('ok.yaml', 'name: ok\ngroups: [{ name: g, tasks: [{ name: t, driver: mock }] }]\n'),
      ),
    ).resolves.toMatchObject({ name: 'ok' });
  });

  it('gives the line and column of every problem, in the order of the file, in its own words', () => {
    const problemsAt = (text: string, file: string) => {
      try {
        parseJobText(text, file);
      } catch (error) {
        if (error instanceof JobFileError) return error.problems.map((p) => describeProblem(file, p));
        throw error;
      }
      throw new Error('expected the job to be refused');
    };
    expect(
      problemsAt(
        `name: j
groups:
  - name: g
    restart: { attemps: 1, mode: fial }
    tasks:
      - name: t
        driver: exec
        config: { args: [1] }
        kill_timout: 5s
`,
        'j.yaml',
      ),
    ).toEqual([
      'j.yaml:4:16: groups[0].restart.attemps: unknown key (got 1); did you mean `attempts`?',
      'j.yaml:4:34: groups[0].restart.mode: must be one of "fail" or "delay" (got "fial"); did you mean `fail`?',
      // A missing key is placed at the map it is missing from.
      'j.yaml:8:17: groups[0].tasks[0].config.command: missing (a string is required)',
      'j.yaml:8:26: groups[0].tasks[0].config.args[0]: must be a string (got 1)',
      'j.yaml:9:9: groups[0].tasks[0].kill_timout: unknown key (got "5s"); did you mean `kill_timeout`?',
    ]);
    // No suggestion for a key that is near nothing.
    expect(
      problemsAt(
        'name: j\nfrobnicate: 1\ngroups: [{ name: g, tasks: [{ name: t, driver: mock }] }]\n',
        'k.yaml',
      ),
    ).toEqual(['k.yaml:2:1: frobnicate: unknown key (got 1)']);
    // JSON gets positions too, and its duplicate keys are refused as YAML's are.
    expect(problemsAt('{\n  "name": "j",\n  "groups": [],\n  "name": "k"\n}', 'j.json')).toEqual([
      'j.json:4:3: duplicate key "name"',
    ]);
    expect(problemsAt('name: a\nname: b\n', 'd.yaml')).toEqual(['d.yaml:2:1: duplicate key "name"']);
    expect(problemsAt('{"name": "j",\n "groups": [}', 'x.json')[0]).toMatch(/^x\.json:2:13: not valid JSON/);
  });

  it('reads YAML merge keys, with top-level `x-` keys to hold the anchors', () => {
    const job = parseJobText(
      `name: merged
x-task: &task
  driver: mock
  stats_interval: 100ms
  kill_timeout: 1s
groups:
  - name: g
    tasks:
      - { <<: *task, name: a }
      - { <<: *task, name: b, kill_timeout: 2s }
`,
      'merged.yaml',
    );
    expect(job.groups[0]?.tasks.map((task) => [task.name, task.stats_interval, task.kill_timeout])).toEqual([
      ['a', 100, 1000],
      ['b', 100, 2000],
    ]);
  });

  it('refuses a bare number as a duration in a file, with a hint; 0 needs no unit; in code it is ms', () => {
    const task = (duration: string) =>
      `name: j\ngroups: [{ name: g, tasks: [{ name: t, driver: mock, kill_timeout: ${duration} }] }]\n`;
    expect(problemsOf(task('5000'))).toEqual([
      'groups[0].tasks[0].kill_timeout: needs a unit: "5000s" or "5000ms" (got 5000)',
    ]);
    expect(problemsOf(task('"5"'))).toEqual([
      'groups[0].tasks[0].kill_timeout: needs a unit: "5s" or "5ms" (got "5")',
    ]);
    expect(
      problemsOf(
        JSON.stringify({
          name: 'j',
          groups: [{ name: 'g', restart: { delay: 15 }, tasks: [{ name: 't', driver: 'mock' }] }],
        }),
        'j.json',
      ),
    ).toEqual(['groups[0].restart.delay: needs a unit: "15s" or "15ms" (got 15)']);
    expect(parseJobText(task('0'), 'j.yaml').groups[0]?.tasks[0]?.kill_timeout).toBe(0);
    expect(parseJobText(task('5s'), 'j.yaml').groups[0]?.tasks[0]?.kill_timeout).toBe(5000);
    const fromCode = parseJob({
      name: 'j',
      groups: [{ name: 'g', tasks: [{ name: 't', driver: 'mock', kill_timeout: 5000 }] }],
    });
    expect(fromCode.groups[0]?.tasks[0]?.kill_timeout).toBe(5000);
  });

  it('refuses a FIFO at once rather than waiting for a writer, and a file too big to be a job', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskpulse-fifo-'));
    const fifo = join(dir, 'job.yaml');
    execFileSync('mkfifo', [fifo]);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, '');
    truncateSync(big, 2 * 1024 * 1024); // sparse: 2 MiB of NUL bytes
    try {
      await expect(loadJobFile(fifo)).rejects.toThrow(/not a regular file \(a FIFO or pipe\)/);
      await expect(loadJobFile(big)).rejects.toThrow(/too big for a job file \(more than 1048576 bytes\)/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('suggests the known word a typo is nearest to, a swap of letters being one edit', () => {
    expect(typoDistance('fial', 'fail')).toBe(1);
    expect(typoDistance('attemps', 'attempts')).toBe(1);
    expect(typoDistance('kitten', 'sitting')).toBe(3);
    expect(nearest('atempts', ['attempts', 'interval', 'delay', 'mode'])).toBe('attempts');
    expect(nearest('servce', ['batch', 'service'])).toBe('service');
    expect(nearest('foo', ['attempts', 'interval', 'delay', 'mode'])).toBeUndefined();
    expect(nearest('SIGFOO', ['SIGTERM', 'SIGHUP', 'SIGKILL'])).toBeUndefined();
  });

  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2h')).toBe(7_200_000);
    for (const bad of ['', '5', '-0', 's', '5 s', '5x', '-1s', '1s2'])
      expect(parseDuration(bad)).toBeUndefined();
  });
});
