// @ts-check
/**
 * Mutation testing of the machines and their glue (`npm run test:mutation`, docs/testing.md).
 * Per-file break threshold: `scripts/mutation-thresholds.ts` reads the JSON report (Stryker's own
 * `thresholds.break` is one figure for the whole run).
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  // `related: false`: with `related: true` the runner picks test files by their static imports, so a
  // mutant that makes a machine fail to load runs no test (test/oracle/load.test.ts imports the
  // machines dynamically) and is counted as survived (checked: `initial: ''` in the plugin
  // supervisor ran 0 tests and survived; with `false`, load.test.ts kills it).
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  coverageAnalysis: 'perTest',
  // `npm run test:mutation` (scripts/mutation-run.ts) mutates one group of files per run, with
  // `--mutate` and MUTATION_GROUP (vitest.mutation.config.ts); this list is for a plain `stryker run`.
  mutate: ['machines/**/*.ts', 'src/stats-hook/**/*.ts', 'src/task-runner/**/*.ts'],
  // TypeScript 7's tsc has no compiler API, so @stryker-mutator/typescript-checker cannot run: no
  // checker, and no tsconfig for Stryker to rewrite (vitest transpiles without one).
  checkers: [],
  tsconfigFile: 'tsconfig.stryker-none.json',
  // docs/machines/ stays: test/machines/published-ids.test.ts reads the machine ids published there.
  ignorePatterns: [
    'dist',
    'reports',
    'coverage',
    '.tmp',
    'bench',
    'examples',
    'test/fixtures',
    'docs/*',
    '!docs/machines',
  ],
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  // The survivors, without a line per test.
  clearTextReporter: { logTests: false },
  jsonReporter: { fileName: process.env.MUTATION_REPORT ?? 'reports/mutation/mutation.json' },
  htmlReporter: {
    fileName: (process.env.MUTATION_REPORT ?? 'reports/mutation/mutation.json').replace(/\.json$/, '.html'),
  },
  thresholds: { high: 95, low: 90, break: null },
  concurrency: 2,
  // A mutant that survives runs every test of its group (a static one: about 9 s of tests, 15 s with
  // the overhead, unloaded). With Stryker's default factor (1.5) the same run on a loaded box went past
  // the time-out, and survivors were counted as timeouts (10 of the task runner's, none in CI): the
  // survivor list depended on the load. 3 × the tests' time gives them room; a mutant that really
  // hangs costs a few seconds more.
  timeoutFactor: 3,
  timeoutMS: 5_000,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
