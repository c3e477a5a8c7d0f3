/**
 * Global setup of every test project: builds dist/ first, because the CLI tests spawn
 * `bin/taskpulse.js`, which runs the built JavaScript; a stale dist/ would test old code. The web
 * UI's assets too (scripts/build-ui.ts, esbuild: a fraction of a second), which the agent serves.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  execFileSync(process.execPath, [`${root}node_modules/tsx/dist/cli.mjs`, 'scripts/build-ui.ts'], {
    cwd: root,
    stdio: 'inherit',
  });
}
