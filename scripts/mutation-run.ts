/**
 * `npm run test:mutation`: Stryker once per group of `vitest.mutation.config.ts`, each group's files
 * mutated against only the tests that judge them (a machine's mutants are mostly static: each runs
 * every test file of its run), then one merged report and the per-file thresholds.
 *
 *   tsx scripts/mutation-run.ts            # machines/ (what CI runs; every file must reach 90 %)
 *   tsx scripts/mutation-run.ts --glue     # the stats hook and task runner glue in src/, reported
 *   tsx scripts/mutation-run.ts --only task-runner   # one group
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { MutationGroup } from '../vitest.mutation.config.js';

const MACHINES: Record<MutationGroup, string[]> = {
  'stats-hook': ['machines/stats-hook.machine.ts'],
  'task-runner': ['machines/task-runner.machine.ts'],
  'plugin-supervisor': ['machines/plugin-supervisor.machine.ts'],
  helpers: ['machines/restart-policy.ts', 'machines/backoff.ts', 'machines/open-error.ts'],
};
const GLUE: Partial<Record<MutationGroup, string[]>> = {
  'stats-hook': ['src/stats-hook/**/*.ts'],
  'task-runner': ['src/task-runner/**/*.ts'],
};

const args = process.argv.slice(2);
const glue = args.includes('--glue');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;
const plan = Object.entries(glue ? GLUE : MACHINES).filter(([group]) => !only || group === only);
if (plan.length === 0) throw new Error(`--only: "${only}" is not a group with files to mutate`);

const dir = 'reports/mutation';
mkdirSync(dir, { recursive: true });
const merged: { files: Record<string, unknown> } & Record<string, unknown> = { files: {} };
for (const [group, files] of plan) {
  const report = `${dir}/${glue ? 'glue-' : ''}${group}.json`;
  const started = Date.now();
  console.log(`\nmutation: group ${group} (${files.join(', ')})`);
  const run = spawnSync('npx', ['stryker', 'run', '--mutate', files.join(',')], {
    stdio: 'inherit',
    env: { ...process.env, MUTATION_GROUP: group, MUTATION_REPORT: report },
  });
  if (run.status !== 0) {
    console.error(`mutation: stryker failed for group ${group} (exit ${run.status ?? run.signal})`);
    process.exit(1);
  }
  console.log(`mutation: group ${group} took ${Math.round((Date.now() - started) / 1000)} s`);
  const part = JSON.parse(readFileSync(report, 'utf8')) as typeof merged;
  Object.assign(merged, { ...part, files: { ...merged.files, ...part.files } });
}
const out = `${dir}/${glue ? 'glue' : 'mutation'}.json`;
writeFileSync(out, JSON.stringify(merged));

const check = spawnSync(
  'npx',
  ['tsx', 'scripts/mutation-thresholds.ts', out, ...(glue || only ? ['--partial'] : [])],
  { stdio: 'inherit' },
);
process.exit(check.status ?? 1);
