/**
 * The package as an embedder gets it: `npm pack`, installed into a fresh project (from the local npm
 * cache), the README's embedding example run with plain `node`, the public API type-checked by `tsc`
 * under NodeNext + strict + exactOptionalPropertyTypes, the optional peers absent (their errors name
 * them), the CLI run from the install, and publint + arethetypeswrong on the tarball. The gRPC
 * libraries of driver plugins come last: the core and the CLI run without them, then they are
 * installed for `taskpulse/plugin`.
 * dist/ is fresh: the global setup builds it (`npm pack` runs without scripts, so it does not rebuild).
 */
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HERE = join(ROOT, 'test', 'package', 'consumer');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The parent `npm test` exports its config as npm_* variables; the embedder's npm must not see them. */
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));

function run(
  command: string,
  args: string[],
  cwd: string,
  extraEnv: Record<string, string> = {},
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: { ...env, ...extraEnv }, maxBuffer: 16 * 2 ** 20, timeout: 150_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);

/** The first ```ts block after the README's "## Embed it" heading. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Embed it'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match?.[1]) throw new Error('README.md: no ```ts block under "## Embed it"');
  return match[1];
}

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    exactOptionalPropertyTypes: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  },
  include: ['*.ts'],
};

/** A job that ends by itself at once: for the CLI's checks of what it needs before it runs. */
const QUICK_JOB = `name: quick
type: batch
groups:
  - name: g
    tasks:
      - name: t
        driver: mock
        config: { runForMs: 50 }
`;

let work: string;
let app: string;
let tarball: string;
let packedFiles: string[];
let lint: Promise<[Run, Run]>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'taskpulse-consumer-'));
  app = join(work, 'app');
  mkdirSync(app);
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT);
  expect(packed.code, packed.stderr).toBe(0);
  const [entry] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, entry?.filename ?? '');
  packedFiles = entry?.files.map((file) => file.path) ?? [];
  // The linters read only the tarball: they run while the project installs.
  lint = Promise.all([
    run(bin('publint'), ['run', '--strict', tarball], work),
    run(bin('attw'), ['--profile', 'esm-only', '--no-color', '--no-emoji', tarball], work),
  ]);

  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'embedder', private: true, type: 'module' }),
  );
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  writeFileSync(join(app, 'readme-example.mjs'), readmeExample());
  writeFileSync(join(app, 'readme-example.ts'), readmeExample());
  copyFileSync(join(HERE, 'usage.ts'), join(app, 'usage.ts'));
  copyFileSync(join(HERE, 'missing-peers.mjs'), join(app, 'missing-peers.mjs'));
  for (const file of ['plugin-roundtrip.mjs', 'core-without-grpc.mjs', 'plugin.job.yaml'])
    copyFileSync(join(HERE, file), join(app, file));
  writeFileSync(join(app, 'quick.job.yaml'), QUICK_JOB);
  const installed = await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      tarball,
      // The README example's logger, and the embedder's Node types.
      `pino@${manifest.dependencies.pino}`,
      `@types/node@${manifest.devDependencies['@types/node']}`,
    ],
    app,
  );
  expect(installed.code, installed.stderr).toBe(0);
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('holds the built JavaScript, declarations, the CLI bundle and the license, and no tests', () => {
    for (const file of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'bin/taskpulse.js',
      'dist/cli/main.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/index.d.ts.map',
      'dist/src/testing/index.js',
      'dist/src/testing/index.d.ts',
      'dist/src/plugins/index.js',
      'dist/src/plugins/index.d.ts',
      'proto/taskpulse/driver/v1/driver.proto',
      'docs/stats-hook.md',
    ])
      expect(packedFiles).toContain(file);
    expect(packedFiles.filter((file) => /^(test|bench|scripts|\.ci)\/|\.test\./.test(file))).toEqual([]);
  });

  it('installs without the optional peers, tsx or esbuild', () => {
    for (const name of [
      'dockerode',
      'ssh2',
      'pino-pretty',
      '@statelyai/inspect',
      '@grpc/grpc-js',
      '@grpc/proto-loader',
      'protobufjs',
      'tsx',
      'esbuild',
    ])
      expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
    expect(Object.keys(manifest.peerDependencies).sort()).toEqual([
      '@grpc/grpc-js',
      '@grpc/proto-loader',
      '@statelyai/inspect',
      'dockerode',
      'pino-pretty',
    ]);
  });

  it('passes publint (warnings are errors) and arethetypeswrong (ESM-only profile)', async () => {
    const [publint, attw] = await lint;
    expect(publint.code, publint.stdout + publint.stderr).toBe(0);
    expect(attw.code, attw.stdout + attw.stderr).toBe(0);
  }, 120_000);
});

describe('an embedder project with the tarball installed', () => {
  it("runs the README's embedding example with plain node", async () => {
    const result = await run(process.execPath, ['readme-example.mjs'], app);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^dead false /m);
  }, 60_000);

  it('runs exec and mock tasks in an agent without gRPC; the plugin entry and exec out of process name it', async () => {
    const result = await run(process.execPath, ['core-without-grpc.mjs'], app);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual([
      'exec: dead exit 0',
      'mock: dead exit 0',
      `taskpulse/plugin (driver plugins: \`driver: plugin\`, exec out of process) needs the package "@grpc/grpc-js", which is not installed (npm install @grpc/grpc-js@${manifest.peerDependencies['@grpc/grpc-js']})`,
      'execOutOfProcess: @grpc/grpc-js',
    ]);
  }, 60_000);

  it('names a missing optional peer: the docker driver without dockerode', async () => {
    const result = await run(process.execPath, ['missing-peers.mjs'], app);
    expect(result.stdout.trim()).toBe(
      `MissingPackageError: the docker driver needs the package "dockerode", which is not installed (npm install dockerode@${manifest.peerDependencies.dockerode})`,
    );
  }, 30_000);

  describe('the installed CLI', () => {
    const cli = (args: string[], extraEnv?: Record<string, string>) =>
      run(join(app, 'node_modules', '.bin', 'taskpulse'), args, app, extraEnv);
    const demoJob = () => join(app, 'node_modules', 'taskpulse', 'examples', 'demo.job.yaml');
    const agent = ['agent', '--no-http', '--output', 'none'];

    it('prints its version and validates the shipped example job', async () => {
      const [version, validate] = await Promise.all([cli(['--version']), cli(['validate', demoJob()])]);
      expect(version).toMatchObject({ code: 0, stdout: `${manifest.version}\n` });
      expect(validate.code, validate.stderr).toBe(0);
      expect(validate.stdout).toContain('ok (job "demo", batch, 2 group(s), 4 task(s))');
    }, 30_000);

    it('runs a driver plugin task without gRPC installed: the agent and the plugin use the bundled copy', async () => {
      const result = await cli([...agent, 'plugin.job.yaml']);
      expect(result.code, result.stderr).toBe(0);
    }, 30_000);

    it('fails to start a docker task without dockerode, naming it', async () => {
      const result = await cli(['run', '--output', 'none', '--driver', 'docker', '--', 'alpine:3', 'true']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        'taskpulse: cannot start the agent: the docker driver needs the package "dockerode", which is not installed',
      );
    }, 30_000);

    it('refuses --record-inspection without @statelyai/inspect, naming it', async () => {
      const result = await cli([
        ...agent,
        '--record-inspection',
        join(work, 'events.jsonl'),
        'quick.job.yaml',
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--record-inspection needs the package "@statelyai/inspect"');
    }, 30_000);

    it('on a terminal without pino-pretty: --log-format pretty is refused, the default logs JSON', async () => {
      // stderr a terminal, as far as the CLI can tell (the test has no TTY to give it).
      const tty = { NODE_OPTIONS: `--import=${join(HERE, 'fake-tty.mjs')}` };
      const asked = await cli(['--log-format', 'pretty', ...agent, 'quick.job.yaml'], tty);
      expect(asked.code).toBe(2);
      expect(asked.stderr).toContain('--log-format pretty needs the package "pino-pretty"');
      const byDefault = await cli(['--log-level', 'info', ...agent, 'quick.job.yaml'], tty);
      expect(byDefault.code, byDefault.stderr).toBe(0);
      expect(byDefault.stderr).toContain(String.raw`needs the package \"pino-pretty\"`); // in a JSON line
      expect(byDefault.stderr).toContain('logging JSON');
    }, 30_000);
  });
});

describe('the embedder project with the gRPC libraries installed (for taskpulse/plugin)', () => {
  beforeAll(async () => {
    const installed = await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        `@grpc/grpc-js@${manifest.devDependencies['@grpc/grpc-js']}`,
        `@grpc/proto-loader@${manifest.devDependencies['@grpc/proto-loader']}`,
      ],
      app,
    );
    expect(installed.code, installed.stderr).toBe(0);
  }, 120_000);

  it('type-checks the public API under NodeNext, strict and exactOptionalPropertyTypes', async () => {
    const result = await run(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', '.'],
      app,
    );
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
  }, 60_000);

  it("has no errors in taskpulse's own declarations even with skipLibCheck off", async () => {
    const result = await run(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', '.', '--skipLibCheck', 'false'],
      app,
    );
    // Other packages' declarations are theirs (xstate's fail exactOptionalPropertyTypes): ours only.
    const ours = (result.stdout + result.stderr)
      .split('\n')
      .filter((line) => line.startsWith('node_modules/taskpulse/'));
    expect(ours).toEqual([]);
  }, 60_000);

  it('runs a task through taskpulse/plugin and the installed `taskpulse plugin mock`', async () => {
    const result = await run(process.execPath, ['plugin-roundtrip.mjs'], app);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('plugin mock: exit 3');
  }, 60_000);
});
