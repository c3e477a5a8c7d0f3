import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * Two projects. `unit` runs on fake time and in parallel. `processes` starts real child processes
 * (exec driver, the CLI, the agent end to end) and measures their CPU, so its files run one at a time:
 * a busy-loop child must get a core of its own to read "near 100 %".
 */
const realProcesses = [
  'test/exec/**/*.test.ts',
  'test/cli/**/*.test.ts',
  'test/reliability/signals-cli.test.ts',
  'test/plugins/**/*.test.ts',
];
/**
 * Toolchain suites, each its own npm script and not part of `npm test`: `prometheus` below, and
 * `go-plugin` (`npm run test:go-plugin` builds its Go binaries first).
 */
/** Needs Debian's `prometheus` package (promtool and the server): `npm run test:prometheus`, not `npm test`. */
const prometheus = ['test/prometheus/**/*.test.ts'];
/** Real Docker Engine faults: `npm run test:docker-faults` (root, the engine of docker-engine.sh). */
const realEngine = ['test/**/*.real.test.ts'];
/** Needs Debian's `chromium` and `firefox-esr` (playwright-core, puppeteer-core): `npm run test:browser`, not `npm test`. */
const browser = ['test/browser/**/*.test.ts'];
/** Real-process runs too long for `npm test` (10,000 tasks): `npm run test:scale`, in .ci/run. */
const scale = ['test/scale/**/*.test.ts'];

/**
 * Agents the tests start without a data dir of their own save their state here, not in the user's
 * default one (shared by every checkout on the machine, and locked by whichever agent runs).
 */
const stateRoot = join(
  tmpdir(),
  `taskpulse-test-state-${createHash('sha256')
    .update(import.meta.dirname)
    .digest('hex')
    .slice(0, 8)}`,
);
// One dir per checkout, emptied when a run begins (a worker's exit handlers do not run reliably, so
// nothing accumulates across runs); sticky and world-writable for the agents tests run as nobody.
rmSync(stateRoot, { recursive: true, force: true });
mkdirSync(join(stateRoot, 'cli'), { recursive: true });
chmodSync(stateRoot, 0o1777);
chmodSync(join(stateRoot, 'cli'), 0o1777);
const stateDir = join(stateRoot, 'default');

export default defineConfig({
  test: {
    env: { TASKPULSE_DATA_DIR: stateDir },
    testTimeout: 20_000,
    hookTimeout: 20_000,
    restoreMocks: true,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [
            ...realProcesses,
            ...prometheus,
            ...realEngine,
            ...browser,
            ...scale,
            'test/go-plugin/**',
          ],
          globalSetup: ['test/support/build-dist.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'processes',
          include: realProcesses,
          fileParallelism: false,
          globalSetup: ['test/support/build-dist.ts', 'test/support/processes-teardown.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'prometheus',
          include: prometheus,
          fileParallelism: false,
          globalSetup: ['test/support/build-dist.ts', 'test/support/processes-teardown.ts'],
        },
      },
      {
        // Needs Go binaries: only `npm run test:go-plugin` runs it (it builds them first).
        extends: true,
        test: {
          name: 'go-plugin',
          include: ['test/go-plugin/**/*.test.ts'],
          fileParallelism: false,
          globalSetup: ['test/support/build-dist.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: browser,
          fileParallelism: false,
          globalSetup: ['test/support/build-dist.ts', 'test/support/processes-teardown.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'scale',
          include: scale,
          fileParallelism: false,
          globalSetup: ['test/support/build-dist.ts', 'test/support/processes-teardown.ts'],
        },
      },
    ],
  },
});
