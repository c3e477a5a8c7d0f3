/**
 * Bad input (issue 8): a corpus of malformed job files (test/fixtures/bad-input/) and command lines.
 * Each must be refused with a message naming the field and the value, exit code 2, no stack trace,
 * and nothing started: no server, socket or child process is even created (watched with
 * async_hooks, which a positive control proves would see them). In-process through `main(argv)`;
 * two real spawns prove the same of the installed command.
 */
import { createHook } from 'node:async_hooks';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  formatProblem,
  JobFileError,
  loadJobFile,
  parseJob,
  parseJobText,
} from '../../src/agent/load-job.js';
import { main } from '../../src/cli/program.js';
import { ROOT, runCli, writeJob } from '../cli/cli.js';
import { childProcesses } from '../support/leak-check.js';

const DIR = join(ROOT, 'test/fixtures/bad-input');
const fixture = (name: string) => join(DIR, name);

/** Each fixture: the field its first problem names (`(file)` for the whole file) and the value shown. */
const BAD_FILES: [file: string, field: string, value: string][] = [
  ['empty.yaml', '(file)', 'the file is empty'],
  ['whitespace-only.yaml', '(file)', 'the file is empty'],
  ['empty.json', '(file)', 'the file is empty'],
  ['scalar-root.yaml', '(file)', 'must hold a map of keys (name, groups, …) (got "just some text")'],
  ['null-root.yaml', '(file)', 'must hold a map of keys (name, groups, …) (got null)'],
  ['array-root.json', '(file)', 'must hold a map of keys (name, groups, …) (got [])'],
  ['syntax-error.yaml', '(file)', 'not valid YAML: Flow sequence'],
  ['syntax-error.json', '(file)', 'not valid JSON: Unexpected end of JSON input'],
  [
    'trailing-comma.json',
    '(file)',
    'not valid JSON: Expected double-quoted property name in JSON at position 27',
  ],
  ['duplicate-keys.yaml', '(file)', 'duplicate key "name"'],
  ['multi-document.yaml', '(file)', 'a job file holds one document (found a second `---`)'],
  ['alias-bomb.yaml', '(file)', 'not valid YAML: Excessive alias count'],
  ['deep-nesting.yaml', '(file)', 'not valid YAML: nested too deeply to parse'],
  ['deep-nesting.json', 'groups[0].tasks[0].config.a.a.a', 'nested more than 32 levels deep (got {…})'],
  ['non-utf8.yaml', '(file)', 'not valid UTF-8 (first bad byte on line 2, column 19)'],
  ['latin1.yaml', '(file)', 'not valid UTF-8 (first bad byte on line 1, column 10)'],
  ['binary.json', '(file)', 'not valid UTF-8'],
  ['a-directory.yaml', '(file)', 'cannot read the file (EISDIR): it is a directory'],
  ['proto-top.json', '__proto__', 'key not allowed (got {"polluted":"top"})'],
  ['proto-env.yaml', 'groups[0].tasks[0].env.__proto__', 'key not allowed (got {"polluted":"env"})'],
  ['proto-config.json', 'groups[0].tasks[0].config.__proto__', 'key not allowed (got {"polluted":"config"})'],
  ['constructor-key.yaml', 'constructor', 'unknown key (got {"prototype":{"polluted":"ctor"}})'],
  ['prototype-key.json', 'groups[0].prototype', 'unknown key (got {"polluted":1})'],
  ['missing-name.yaml', 'name', 'missing (a string is required)'],
  ['missing-groups.yaml', 'groups', 'missing (a list is required)'],
  ['empty-groups.yaml', 'groups', 'a job needs at least one group (got [])'],
  ['groups-not-array.yaml', 'groups', 'must be a list (got {"g":1})'],
  ['missing-tasks.yaml', 'groups[0].tasks', 'missing (a list is required)'],
  ['tasks-is-string.yaml', 'groups[0].tasks', 'must be a list (got "run it")'],
  [
    'missing-driver.yaml',
    'groups[0].tasks[0].driver',
    'missing ("exec", "docker", "mock" or "plugin" is required)',
  ],
  ['unknown-driver.yaml', 'groups[0].tasks[0].driver', '(got "podman")'],
  ['driver-wrong-type.yaml', 'groups[0].tasks[0].driver', '(got 42)'],
  ['name-wrong-type.yaml', 'name', 'must be a string (got 123)'],
  ['name-too-long.yaml', 'name', 'must be at most 128 characters (got "xxxxxxxx'],
  ['name-with-space.yaml', 'name', 'starting alphanumeric (got "my job")'],
  ['name-binary-tag.yaml', 'name', 'must be a string (got {"type":"Buffer"'],
  ['namespace-bad.yaml', 'namespace', '(got "../etc")'],
  ['type-unknown.yaml', 'type', 'must be one of "batch" or "service" (got "cron")'],
  ['count-zero.yaml', 'groups[0].count', 'must be at least 1 (got 0)'],
  ['count-negative.yaml', 'groups[0].count', 'must be at least 1 (got -3)'],
  ['count-huge.yaml', 'groups[0].count', 'must be at most 1000 (got 1000000000000)'],
  ['count-float.yaml', 'groups[0].count', 'must be a whole number (got 1.5)'],
  ['count-string.yaml', 'groups[0].count', 'must be a number (got "3")'],
  ['count-overflow.json', 'groups[0].count', 'must be a number (got Infinity)'],
  ['interval-nan.yaml', 'groups[0].tasks[0].stats_interval', 'expected a duration'],
  ['interval-infinity.yaml', 'groups[0].tasks[0].stats_interval', '(got Infinity)'],
  ['interval-negative.yaml', 'groups[0].tasks[0].stats_interval', 'must be at least 10ms (got -5)'],
  ['interval-negative-string.yaml', 'groups[0].tasks[0].stats_interval', 'expected a duration'],
  ['interval-zero.yaml', 'groups[0].tasks[0].stats_interval', 'must be at least 10ms (got 0)'],
  ['interval-huge.yaml', 'groups[0].tasks[0].stats_interval', 'needs a unit'],
  ['interval-huge-string.yaml', 'groups[0].tasks[0].stats_interval', '(about 24.8 days) (got "99999d")'],
  ['interval-garbage.yaml', 'groups[0].tasks[0].stats_interval', 'expected a duration'],
  ['interval-bool.yaml', 'groups[0].tasks[0].stats_interval', '(got true)'],
  ['kill-timeout-negative.yaml', 'groups[0].tasks[0].kill_timeout', 'must be at least 0ms (got -1)'],
  ['kill-signal-unknown.yaml', 'groups[0].tasks[0].kill_signal', '(got "SIGFOO")'],
  ['restart-attempts-negative.yaml', 'groups[0].restart.attempts', 'must be at least 0 (got -1)'],
  ['restart-mode-unknown.yaml', 'groups[0].restart.mode', 'must be one of "fail" or "delay" (got "forever")'],
  ['restart-delay-huge.yaml', 'groups[0].restart.delay', 'needs a unit: "100000000000s" or "100000000000ms"'],
  ['resources-cpu-negative.yaml', 'groups[0].tasks[0].resources.cpu', 'must be more than 0 (got -100)'],
  ['resources-memory-string.yaml', 'groups[0].tasks[0].resources.memory', '(got "1GB")'],
  ['env-number-value.yaml', 'groups[0].tasks[0].env.PORT', 'must be a string (got 8080)'],
  ['env-key-with-equals.yaml', 'groups[0].tasks[0].env.A=B', 'invalid key: must not contain "=" (got "A=B")'],
  ['env-nul-value.json', 'groups[0].tasks[0].env.A', 'must not contain a NUL byte (got "x\\u0000y")'],
  ['exec-missing-command.yaml', 'groups[0].tasks[0].config.command', 'missing (a string is required)'],
  ['exec-args-string.yaml', 'groups[0].tasks[0].config.args', 'must be a list (got "-l -a")'],
  ['exec-args-numbers.yaml', 'groups[0].tasks[0].config.args[0]', 'must be a string (got 5)'],
  ['exec-command-nul.json', 'groups[0].tasks[0].config.command', 'must not contain a NUL byte'],
  ['docker-missing-image.yaml', 'groups[0].tasks[0].config.image', 'missing (a string is required)'],
  ['mock-exit-code-300.yaml', 'groups[0].tasks[0].config.exitCode', 'must be at most 255 (got 300)'],
  ['mock-run-for-huge.yaml', 'groups[0].tasks[0].config.runForMs', '(got 1e+300)'],
  ['unknown-top-key.yaml', 'datacenters', 'unknown key (got ["dc1"])'],
  ['duplicate-task-names.yaml', 'groups[0].tasks[1].name', 'duplicate task name in the group (got "t")'],
  ['duplicate-group-names.yaml', 'groups[1].name', 'duplicate group name (got "g")'],
];

/** Files that are not files: each with what its problem must say. */
const NOT_FILES: [path: string, message: string][] = [
  ['/nonexistent/job.yaml', 'cannot read the file (ENOENT): no such file'],
  ['/dev/zero', 'not a regular file (a character device)'],
  [join(DIR, 'README.md', 'job.yaml'), 'cannot read the file (ENOTDIR)'],
];

/** A valid job: the argv cases fail on the flag alone. */
const MINIMAL = join(ROOT, 'examples/demo.job.yaml');

/** Command lines: each must name the flag (or command) and the value. */
const BAD_ARGV: [argv: string[], ...expected: string[]][] = [
  [['agent', '--port', 'abc', MINIMAL], "option '--port <port>' argument 'abc' is invalid"],
  [['agent', '--port', '-1', MINIMAL], "'--port <port>' argument '-1'", 'expected a port (0 to 65535)'],
  [['agent', '--port', '70000', MINIMAL], "'--port <port>' argument '70000'"],
  [['agent', '--port', '1.5', MINIMAL], "'--port <port>' argument '1.5'"],
  [['agent', '--port', '0x50', MINIMAL], "'--port <port>' argument '0x50'"],
  [['agent', '--port', '', MINIMAL], "'--port <port>' argument ''"],
  [['--log-level', 'loud', 'agent', MINIMAL], "'--log-level <level>' argument 'loud'", 'Allowed choices'],
  [['--log-format', 'xml', 'validate', MINIMAL], "'--log-format <format>' argument 'xml'"],
  [['run', '--interval', '-1', '--', 'true'], "'--interval <duration>' argument '-1'", 'expected a duration'],
  [['run', '--interval', '0', '--', 'true'], "'--interval <duration>' argument '0'", 'at least 10ms'],
  [['run', '--interval', 'NaN', '--', 'true'], "'--interval <duration>' argument 'NaN'"],
  [['run', '--interval', '99999d', '--', 'true'], "argument '99999d'", 'at most 2147483647ms'],
  [['run', '--kill-timeout', 'forever', '--', 'true'], "'--kill-timeout <duration>' argument 'forever'"],
  [
    ['run', '--interval', '500', '--', 'true'],
    "argument '500' is invalid",
    'needs a unit: "500s" or "500ms"',
  ],
  [
    ['agent', '--shutdown-deadline', '30', MINIMAL],
    "argument '30' is invalid",
    'needs a unit: "30s" or "30ms"',
  ],
  [['run', '--driver', 'podman', '--', 'true'], "'--driver <driver>' argument 'podman'"],
  [['run'], "missing required argument 'command'"],
  [['run', '--', ''], 'run: groups[0].tasks[0].config.command', '(got "")'],
  [['run', '--', 'a\0b'], 'run: groups[0].tasks[0].config.command: must not contain a NUL byte'],
  [['agent'], "missing required argument 'jobs'"],
  [['validate'], "missing required argument 'jobs'"],
  [['agent', '--on-signal', 'explode', MINIMAL], "'--on-signal <mode>' argument 'explode'"],
  [['agent', '--shutdown-deadline', '-5s', MINIMAL], "'--shutdown-deadline <duration>' argument '-5s'"],
  [
    ['agent', '--inspect=0', MINIMAL],
    "'--inspect-port <port>' argument '0'",
    'the inspector needs a fixed port',
  ],
  [['agent', '--inspect-port', 'x', MINIMAL], "'--inspect-port <port>' argument 'x'"],
  [['agent', MINIMAL, '--inspect=70000'], "'--inspect-port <port>' argument '70000'"],
  [['agent', '--output', 'xml', MINIMAL], "'--output <mode>' argument 'xml'"],
  [
    ['agent', '--metrics-prefix', 'bad prefix!', MINIMAL],
    "'--metrics-prefix <prefix>' argument 'bad prefix!'",
  ],
  [['agent', '--host', '0.0.0.0', MINIMAL], 'HTTP API on "0.0.0.0" (not loopback) without a token'],
  [['agent', '--host', '::', MINIMAL], 'HTTP API on "::" (not loopback) without a token'],
  [['agent', '--host', '0.0.0.0', '--token', ' ', MINIMAL], 'the API token is empty'],
  [['agent', '--frobnicate', MINIMAL], "unknown option '--frobnicate'"],
  [['frobnicate'], "unknown command 'frobnicate'"],
  [['machines', 'nope'], 'unknown machine: nope'],
  [['machines', '--format', 'svg'], "'--format <format>' argument 'svg'"],
  [['validate', fixture('a-directory.yaml'), fixture('non-utf8.yaml')], 'EISDIR', 'not valid UTF-8'],
];

/** Everything that would mean "something started": servers, sockets, child processes. */
const STARTED = new Set(['TCPSERVERWRAP', 'TCPWRAP', 'PIPESERVERWRAP', 'PROCESSWRAP', 'UDPWRAP']);

interface InProcessRun {
  code: number;
  stderr: string;
  stdout: string;
  /** async_hooks resource types of the kinds in STARTED created during the run. */
  started: string[];
}

async function runInProcess(argv: string[]): Promise<InProcessRun> {
  let stderr = '';
  let stdout = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const started: string[] = [];
  const hook = createHook({
    init(_id, type) {
      if (STARTED.has(type)) started.push(type);
    },
  }).enable();
  const children = childProcesses().length;
  try {
    const code = await main(['node', 'taskpulse', ...argv]);
    if (childProcesses().length > children) started.push('child process');
    return { code, stderr, stdout, started };
  } finally {
    hook.disable();
    vi.restoreAllMocks();
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** zod's own phrasing, which a user should never have to read. */
const VALIDATOR_WORDING = /received|Invalid (input|option)|Too (small|big)|Unrecognized|YAML\.parse/;

/** A stack trace line (`    at fn (file:1:2)`), or node's internal error dump. */
const STACK = /^\s+at .+[:(]/m;

const problemsOf = async (file: string) => {
  try {
    await loadJobFile(file);
  } catch (error) {
    if (error instanceof JobFileError) return error.problems.map(formatProblem);
    throw error; // not a JobFileError: the test fails with it
  }
  throw new Error(`${file} was accepted`);
};

beforeEach(() => {
  process.exitCode = undefined;
});
afterEach(() => {
  process.exitCode = undefined;
});

describe('the bad input corpus', () => {
  it('covers every fixture on disk, and the corpus holds at least 50 cases', () => {
    const onDisk = readdirSync(DIR).filter((name) => name !== 'README.md');
    expect(BAD_FILES.map(([file]) => file).sort()).toEqual(onDisk.sort());
    expect(BAD_FILES.length + NOT_FILES.length + BAD_ARGV.length).toBeGreaterThanOrEqual(100);
    expect(BAD_FILES.length).toBeGreaterThanOrEqual(50);
  });

  it.each(BAD_FILES)('%s: refused naming %s and the value', async (file, field, value) => {
    const problems = await problemsOf(fixture(file));
    const line = problems.find((problem) => problem.startsWith(`${field}`) && problem.includes(value));
    expect(line, `problems were:\n${problems.join('\n')}`).toBeDefined();
    for (const problem of problems) expect(problem).not.toMatch(STACK);
    // In taskpulse's words, not the validator's.
    for (const problem of problems) expect(problem).not.toMatch(VALIDATOR_WORDING);
  });

  it('gives a line and column for every problem of a field, and for syntax errors', async () => {
    for (const [file] of BAD_FILES) {
      const problems = await loadJobFile(fixture(file)).then(
        () => [],
        (error: JobFileError) => error.problems,
      );
      for (const problem of problems) {
        // Only what is about the bytes or the reading (empty, not UTF-8, a directory, an alias bomb
        // expanded after parsing) has no place in the text.
        if (/empty|UTF-8|cannot read|alias count/.test(problem.message)) continue;
        expect(problem.line, `${file}: ${formatProblem(problem)}`).toBeGreaterThan(0);
        expect(problem.column, `${file}: ${formatProblem(problem)}`).toBeGreaterThan(0);
      }
    }
  });

  it.each(NOT_FILES)('%s: refused as a file that cannot be a job', async (path, message) => {
    expect(await problemsOf(path)).toEqual([expect.stringContaining(message)]);
  });

  it('never pollutes Object.prototype, whatever `__proto__` or `constructor` keys a file holds', async () => {
    for (const file of BAD_FILES.map(([name]) => name).filter((name) => /proto|constructor/.test(name))) {
      await problemsOf(fixture(file));
    }
    // The same keys handed to parseJob as data (an API caller, not a file), in every position.
    const poisoned = JSON.parse(
      '{"name":"j","__proto__":{"polluted":1},"groups":[{"name":"g","constructor":{"prototype":{"polluted":2}},' +
        '"tasks":[{"name":"t","driver":"mock","env":{"__proto__":{"polluted":3}},"config":{"__proto__":{"polluted":4}}}]}]}',
    ) as unknown;
    expect(() => parseJob(poisoned)).toThrow(JobFileError);
    expect(() => parseJobText('__proto__: { polluted: 5 }\nname: j\n', 'x.yaml')).toThrow(/key not allowed/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
    expect(typeof ({} as { constructor: unknown }).constructor).toBe('function');
  });
});

describe('the CLI on bad input, in-process', () => {
  it.each(BAD_ARGV)('%j: exit 2, a clear error, nothing started', async (argv, ...expected) => {
    const run = await runInProcess(argv);
    expect(run.code).toBe(2);
    for (const text of expected) expect(run.stderr).toContain(text);
    expect(run.stderr).not.toMatch(STACK);
    expect(run.stderr).not.toContain('unexpected error');
    expect(run.started).toEqual([]);
  });

  it('every bad job file given to `agent`: exit 2, the file and its field named, nothing started', async () => {
    for (const [file, field] of BAD_FILES) {
      const run = await runInProcess(['agent', '--port', '0', fixture(file)]);
      expect(run.code, file).toBe(2);
      expect(run.stderr, file).toContain(`${fixture(file)}: `);
      // `  file:line:column: field: …`; a problem of the whole file is not prefixed with "(file)".
      const named = field === '(file)' ? '' : field;
      expect(run.stderr, file).toMatch(
        new RegExp(`\\n  ${escapeRegExp(fixture(file))}(:\\d+:\\d+)?: ${escapeRegExp(named)}`),
      );
      expect(run.stderr, file).not.toMatch(STACK);
      expect(run.started, file).toEqual([]);
      expect(run.stdout, file).toBe('');
    }
  });

  it('positive control: a valid job does start a server, so the watch above would have seen one', async () => {
    const job = writeJob(
      'ok.yaml',
      'name: ok\ntype: batch\ngroups: [{ name: g, tasks: [{ name: t, driver: mock, config: { runForMs: 50 } }] }]\n',
    );
    const run = await runInProcess([
      '--log-level',
      'silent',
      'agent',
      '--port',
      '0',
      '--output',
      'none',
      job,
    ]);
    expect(run.code).toBe(0);
    expect(run.started).toContain('TCPSERVERWRAP');
    // And `--host 0.0.0.0` is refused for want of a token only: TASKPULSE_TOKEN lets it serve.
    vi.stubEnv('TASKPULSE_TOKEN', 'a-token-from-the-environment');
    try {
      const open = await runInProcess([
        '--log-level',
        'silent',
        'agent',
        '--host',
        '0.0.0.0',
        '--port',
        '0',
        '--output',
        'none',
        job,
      ]);
      expect(open.code).toBe(0);
      expect(open.stderr).toMatch(/HTTP API: http:\/\/0\.0\.0\.0:\d+/);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('the installed command on bad input', () => {
  it('exits 2 with the field and value named and no stack trace (2 real spawns)', async () => {
    const [port, files] = await Promise.all([
      runCli(['agent', '--port', 'abc', MINIMAL]),
      runCli(['agent', '--port', '0', fixture('proto-env.yaml'), fixture('interval-nan.yaml')]),
    ]);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain("option '--port <port>' argument 'abc' is invalid");
    expect(files.code).toBe(2);
    expect(files.stderr).toContain('groups[0].tasks[0].env.__proto__: key not allowed');
    expect(files.stderr).toContain('groups[0].tasks[0].stats_interval: expected a duration');
    expect(files.stderr).toContain('(got NaN)');
    for (const run of [port, files]) {
      expect(run.stderr).not.toMatch(STACK);
      expect(run.stderr).not.toContain('HTTP API');
      expect(run.stdout).toBe('');
    }
  });
});
