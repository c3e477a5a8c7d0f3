import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The tests Stryker runs for each mutant (`npm run test:mutation`): the fast, pure ones that judge
 * the machines and their glue, on fake time, with no real process, no CLI and no build. The
 * independent oracles run first: they are the quickest to kill a mutant, and Stryker stops a mutant's
 * run at the first failure (each test file of a run costs a fresh worker, ~0.3 s, so a mutant the
 * first file kills is the cheapest).
 *
 * A machine's definition runs when its module loads, so most of its mutants are "static": Stryker
 * cannot tell which tests cover them and runs every test file of the run for each. So the run is made
 * in groups (`scripts/mutation-run.ts`), each mutating some files against only the tests that judge
 * them; `MUTATION_GROUP` names the group (unset: every file below, for a one-off run).
 */
export const MUTATION_GROUPS = {
  /** The stats hook machine and its glue. */
  'stats-hook': [
    'test/oracle/load.test.ts',
    'test/oracle/stats-hook.*.test.ts',
    'test/machines/placeholders.test.ts',
    'test/model/stats-hook.model.test.ts',
    'test/property/**/*.test.ts',
    'test/stats-hook/**/*.test.ts',
    // The machine's id is published (docs/machines/, `taskpulse machines`): nothing else reads it.
    'test/machines/published-ids.test.ts',
  ],
  /** The task runner machine and its glue. */
  'task-runner': [
    'test/oracle/load.test.ts',
    'test/oracle/task-runner.*.test.ts',
    'test/machines/placeholders.test.ts',
    'test/model/task-runner.model.test.ts',
    'test/task-runner/**/*.test.ts',
  ],
  'plugin-supervisor': [
    'test/oracle/load.test.ts',
    'test/machines/plugin-supervisor.test.ts',
    'test/machines/published-ids.test.ts',
  ],
  /** restart-policy, backoff, open-error: their own properties, and the machines that use them. */
  helpers: [
    'test/oracle/**/*.test.ts',
    'test/machines/**/*.test.ts',
    'test/stats-hook/**/*.test.ts',
    'test/task-runner/**/*.test.ts',
  ],
} as const satisfies Record<string, readonly string[]>;

export type MutationGroup = keyof typeof MUTATION_GROUPS;

const group = process.env.MUTATION_GROUP as MutationGroup | undefined;
if (group !== undefined && !(group in MUTATION_GROUPS))
  throw new Error(`MUTATION_GROUP: "${group}" is not one of ${Object.keys(MUTATION_GROUPS).join(', ')}`);
export const mutationTests: readonly string[] = group
  ? MUTATION_GROUPS[group]
  : [...new Set(Object.values(MUTATION_GROUPS).flat())];

/**
 * Oracles first, then the load test, machine tests, models, properties, glue. The load test comes
 * after the oracles: a mutant that breaks a machine's loading fails their files at import, which is
 * no failed test (no kill, and no bail), and the load test then fails it by name; every other mutant
 * the oracles kill no longer pays for a worker of its own for the load test first.
 */
const LOAD_TEST = 'test/oracle/load.test.ts';
const ORDER = [
  'test/oracle/',
  LOAD_TEST,
  'test/machines/',
  'test/model/',
  'test/property/',
  'test/stats-hook/',
  'test/task-runner/',
];

class OracleFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      if (file.moduleId.endsWith(`/${LOAD_TEST}`)) return ORDER.indexOf(LOAD_TEST);
      const at = ORDER.findIndex((dir) => file.moduleId.includes(`/${dir}`));
      return at < 0 ? ORDER.length : at;
    };
    return [...files].sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId));
  }
}

export default defineConfig({
  test: {
    include: [...mutationTests],
    // A mutant that makes a test wait forever fails it (the tests take milliseconds unloaded). Not
    // less: on a loaded box the longest tests (the oracle's exploration, the walks) took over 3 s and
    // "killed" mutants that no assertion catches (26 of the task runner's in one run, none in CI).
    testTimeout: 10_000,
    hookTimeout: 10_000,
    restoreMocks: true,
    // Each mutant reruns the suite: fewer runs per fixed seed (see test/property/seeds.ts).
    env: { PROPERTY_RUNS_SCALE: '0.2' },
    sequence: { sequencer: OracleFirst },
  },
});
