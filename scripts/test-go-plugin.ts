/**
 * `npm run test:go-plugin`: interop with HashiCorp's real go-plugin, both directions.
 *
 * 1. Installs Debian's Go, go-plugin, grpc-go and protoc when they are missing (apt-get update first;
 *    root, as CI is), the recipe of shared/spec/plugins.md.
 * 2. Generates the Go code of proto/taskpulse/driver/v1/driver.proto and builds, in GOPATH mode
 *    (offline), the small Go driver plugin and Go host under test/go-plugin/.
 * 3. Runs test/go-plugin/interop.test.ts: taskpulse hosts the Go plugin through the driver contract
 *    suite (stats stream included), and go-plugin's host launches `taskpulse plugin mock`.
 *
 * Fails, never skips, when a step fails. Nothing here runs in `npm test`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const PACKAGES = [
  'golang-go',
  'golang-github-hashicorp-go-plugin-dev',
  'golang-google-grpc-dev',
  'golang-goprotobuf-dev',
  'golang-golang-x-net-dev',
  'golang-google-genproto-dev',
  'protobuf-compiler',
];

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd = root): void {
  console.log(`$ ${command} ${args.join(' ')}`);
  execFileSync(command, args, { stdio: 'inherit', env, cwd });
}

function toolchainPresent(): boolean {
  const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
  return (
    has('go') &&
    has('protoc') &&
    has('protoc-gen-go') &&
    existsSync('/usr/share/gocode/src/github.com/hashicorp/go-plugin/client.go') &&
    existsSync('/usr/share/gocode/src/google.golang.org/grpc/server.go')
  );
}

const started = Date.now();
if (!toolchainPresent()) {
  run('apt-get', ['update']);
  run('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], {
    ...process.env,
    DEBIAN_FRONTEND: 'noninteractive',
  });
}

const work = mkdtempSync(join(tmpdir(), 'taskpulse-go-plugin-'));
try {
  const gopath = join(work, 'gopath');
  const src = join(gopath, 'src');
  mkdirSync(src, { recursive: true });
  // go_package "taskpulse.dev/driver/v1" puts the generated code at src/taskpulse.dev/driver/v1/; Debian's
  // protoc names structpb's new home, its golang/protobuf 1.3 has the old one (M maps it back).
  run('protoc', [
    '-I',
    'proto',
    '-I',
    '/usr/include',
    `--go_out=plugins=grpc,Mgoogle/protobuf/struct.proto=github.com/golang/protobuf/ptypes/struct:${src}`,
    'proto/taskpulse/driver/v1/driver.proto',
  ]);
  cpSync(join(root, 'test/go-plugin'), join(src, 'taskpulse.dev/gotest'), {
    recursive: true,
    filter: (path) => !path.endsWith('.ts'),
  });
  const goEnv = {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: `/usr/share/gocode:${gopath}`,
    GOCACHE: join(work, 'gocache'),
    GOFLAGS: '',
  };
  const pluginBin = join(work, 'go-driver-plugin');
  const hostBin = join(work, 'go-plugin-host');
  run('go', ['build', '-o', pluginBin, 'taskpulse.dev/gotest/plugin'], goEnv, src);
  run('go', ['build', '-o', hostBin, 'taskpulse.dev/gotest/host'], goEnv, src);
  console.log(`toolchain and builds: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const result = spawnSync('npx', ['vitest', 'run', '--project', 'go-plugin'], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, GO_PLUGIN_BIN: pluginBin, GO_HOST_BIN: hostBin },
  });
  console.log(`test:go-plugin: ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
  process.exitCode = result.status ?? 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
