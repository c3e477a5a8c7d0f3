/**
 * Global setup of every test project: builds dist/ first (`npm run build`: the library with tsc,
 * the exec driver's native helper, the CLI bundle with esbuild, the web UI's assets with esbuild),
 * because the CLI tests spawn `bin/taskpulse.js`, which runs the built JavaScript, and the agent
 * serves the UI's assets; a stale dist/ would test old code.
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
  execFileSync(process.execPath, [`${root}scripts/bundle-cli.mjs`], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, [`${root}node_modules/tsx/dist/cli.mjs`, 'scripts/build-ui.ts'], {
    cwd: root,
    stdio: 'inherit',
  });
}
