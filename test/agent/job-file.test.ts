import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/agent/duration.js';
import { formatProblem, JobFileError, loadJobFile, parseJobText } from '../../src/agent/load-job.js';
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
      - { name: t, driver: exec, config: { command: sleep, args: ['1'] }, kill_timeout: 2s, stats_interval: 250 }
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
      'groups[0].count: Too small: expected number to be >=1 (got 0)',
      'groups[0].tasks[0].kill_signal: Invalid option: expected one of "SIGTERM"|"SIGINT"|"SIGHUP"|"SIGQUIT"|"SIGUSR1"|"SIGUSR2"|"SIGKILL" (got "SIGFOO")',
      'groups[0].tasks[0].config.image: Too small: expected string to have >=1 characters (got "")',
      'groups[0].tasks[0].config.cpus: Too small: expected number to be >0 (got -1)',
      'groups[0].tasks[0].typo: unknown key (got true)',
    ]);
  });

  it('refuses duplicate names, syntax errors and unreadable files', async () => {
    expect(
      problemsOf(
        'name: j\ngroups:\n  - { name: g, tasks: [{ name: t, driver: mock }, { name: t, driver: mock }] }\n  - { name: g, tasks: [{ name: t, driver: mock }] }\n',
      ),
    ).toEqual([
      'groups[1].name: duplicate group name (got "g")',
      'groups[0].tasks[1].name: duplicate task name in the group (got "t")',
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

  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2h')).toBe(7_200_000);
    for (const bad of ['', '5', 's', '5 s', '5x', '-1s', '1s2']) expect(parseDuration(bad)).toBeUndefined();
  });
});
