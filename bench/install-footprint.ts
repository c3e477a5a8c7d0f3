/**
 * What an embedder installs with taskpulse (no optional peers: an exec-only, mock-only or
 * hook-only user): packs the package (or takes a tarball), installs it into a fresh temporary
 * project from the local npm cache, and counts the packages and megabytes of its node_modules.
 *   npm run bench:install                    pack this checkout (runs prepack: a clean build)
 *   npm run bench:install -- some.tgz        measure a tarball, e.g. one packed from an older commit
 * Prints the figures; docs/benchmarks.md records them by hand (before/after, with the command).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'taskpulse-footprint-'));
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

try {
  const given = process.argv[2];
  let tarball: string;
  if (given) tarball = resolve(given);
  else {
    const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], root)) as {
      filename: string;
    }[];
    tarball = join(work, packed?.filename ?? '');
  }
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'embedder', private: true, type: 'module' }),
  );
  const started = performance.now();
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app);
  const seconds = (performance.now() - started) / 1000;
  const lock = JSON.parse(readFileSync(join(app, 'node_modules', '.package-lock.json'), 'utf8')) as {
    packages: Record<string, { link?: boolean }>;
  };
  const packages = Object.entries(lock.packages).filter(([path, entry]) => path !== '' && !entry.link);
  const kib = Number(
    execFileSync('du', ['-sk', join(app, 'node_modules')], { encoding: 'utf8' }).split('\t')[0],
  );
  const names = packages.map(([path]) => path.replace(/^.*node_modules\//, ''));
  const heavy = [
    'dockerode',
    'ssh2',
    'cpu-features',
    '@grpc/grpc-js',
    '@grpc/proto-loader',
    'protobufjs',
    'esbuild',
    'tsx',
    'pino-pretty',
    '@statelyai/inspect',
  ];
  console.log(`tarball:   ${tarball}`);
  console.log(`installed: ${packages.length} packages, ${(kib / 1024).toFixed(1)} MB (du -sk node_modules)`);
  console.log(`install:   ${seconds.toFixed(1)} s (npm install --prefer-offline)`);
  console.log(
    `of which:  ${heavy.filter((name) => names.includes(name)).join(', ') || 'none'} (docker, gRPC, tsx, pretty logs, inspector)`,
  );
  console.log(`packages:  ${names.sort().join(', ')}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
