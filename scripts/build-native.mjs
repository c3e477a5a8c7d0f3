#!/usr/bin/env node
/**
 * Builds the optional native helper (native/subreaper.cc → dist/native/subreaper.node) with the
 * host's C++ compiler and Node's own headers; no download, no node-gyp. Without a compiler or headers
 * it says so and exits 0: the exec driver then runs without a subreaper (docs/drivers/exec.md says
 * what that leaves untracked for a non-root agent).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = join(root, 'native', 'subreaper.cc');
const target = join(root, 'dist', 'native', 'subreaper.node');
const headers = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'].find((dir) =>
  existsSync(join(dir, 'node_api.h')),
);
const compiler = process.env.CXX ?? 'g++';

if (process.platform !== 'linux') process.exit(0);
if (!headers) {
  console.warn('build-native: no Node headers (node_api.h) found; the subreaper helper is not built');
  process.exit(0);
}
mkdirSync(dirname(target), { recursive: true });
try {
  execFileSync(
    compiler,
    [
      '-shared',
      '-fPIC',
      '-O2',
      '-Wall',
      '-DNODE_GYP_MODULE_NAME=subreaper',
      `-I${headers}`,
      source,
      '-o',
      target,
    ],
    { stdio: 'inherit' },
  );
} catch (error) {
  console.warn(`build-native: ${compiler} failed (${error.message}); the subreaper helper is not built`);
}
