/**
 * Global setup of every test project: builds dist/ first, because the CLI tests spawn
 * `bin/taskpulse.js`, which runs the built JavaScript; a stale dist/ would test old code. The native
 * helper is built next to it (scripts/build-native.mjs).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  // The exec driver's native helper (the child subreaper of a non-root agent).
  execFileSync(process.execPath, [`${root}scripts/build-native.mjs`], { cwd: root, stdio: 'inherit' });
}
