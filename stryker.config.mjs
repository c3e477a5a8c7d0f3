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
  vitest: { configFile: 'vitest.mutation.config.ts', related: true },
  coverageAnalysis: 'perTest',
  mutate: ['machines/**/*.ts', 'src/stats-hook/**/*.ts', 'src/task-runner/**/*.ts'],
  // TypeScript 7's tsc has no compiler API, so @stryker-mutator/typescript-checker cannot run: no
  // checker, and no tsconfig for Stryker to rewrite (vitest transpiles without one).
  checkers: [],
  tsconfigFile: 'tsconfig.stryker-none.json',
  ignorePatterns: ['dist', 'reports', 'coverage', '.tmp', 'bench', 'examples', 'test/fixtures', 'docs'],
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  thresholds: { high: 95, low: 90, break: null },
  concurrency: 2,
  timeoutMS: 5_000,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
