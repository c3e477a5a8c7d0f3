import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The tests Stryker runs for each mutant (`npm run test:mutation`): the fast, pure ones that judge
 * the machines and their glue, on fake time, with no real process, no CLI and no build. The
 * independent oracles run first: they are the quickest to kill a mutant, and Stryker stops a mutant's
 * run at the first failure.
 */
export const mutationTests = [
  'test/oracle/**/*.test.ts',
  'test/machines/**/*.test.ts',
  'test/model/**/*.test.ts',
  'test/property/**/*.test.ts',
  'test/stats-hook/**/*.test.ts',
  'test/task-runner/**/*.test.ts',
];

class OracleFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const at = mutationTests.findIndex((glob) => file.moduleId.includes(`/${glob.split('/**')[0]}/`));
      return at < 0 ? mutationTests.length : at;
    };
    return [...files].sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId));
  }
}

export default defineConfig({
  test: {
    include: mutationTests,
    // A mutant that makes a test wait forever fails it quickly (the tests take milliseconds).
    testTimeout: 3_000,
    hookTimeout: 3_000,
    restoreMocks: true,
    // Each mutant reruns the suite: fewer runs per fixed seed (see test/property/seeds.ts).
    env: { PROPERTY_RUNS_SCALE: '0.2' },
    sequence: { sequencer: OracleFirst },
  },
});
