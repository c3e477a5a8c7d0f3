/**
 * The per-file break threshold of `npm run test:mutation`: Stryker's own `thresholds.break` judges the
 * whole run as one figure, so this reads its JSON report and fails naming every file below the bar.
 * Every `machines/*.ts` must be in the report (a new machine that nobody mutates fails too).
 *
 *   tsx scripts/mutation-thresholds.ts [report.json] [--min 90] [--partial]
 *
 * `--partial`: a report of some groups only (`mutation-run.ts --only`, `--glue`): files missing
 * from it are not a failure.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Report {
  files: Record<string, { mutants: { status: string }[] }>;
}

const args = process.argv.slice(2);
const minAt = args.indexOf('--min');
const min = minAt >= 0 ? Number(args[minAt + 1]) : 90;
const partial = args.includes('--partial');
const reportPath =
  args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--min') ?? 'reports/mutation/mutation.json';

const report = JSON.parse(readFileSync(reportPath, 'utf8')) as Report;
const root = process.cwd();
const relative = (file: string) => (file.startsWith(root) ? file.slice(root.length + 1) : file);

/**
 * Stryker's "total" score: killed and timed-out mutants over all that ran or had no test. Ignored
 * mutants (log texts, and the equivalent ones a `// Stryker disable` comment names with its reason)
 * are not in the score, but counted, so a new disable shows in the table. Stryker reports those
 * inside a machine's config; a disabled module-level constant's mutants are not in the report.
 */
function score(statuses: string[]) {
  const count = (s: string) => statuses.filter((status) => status === s).length;
  const killed = count('Killed');
  const timeout = count('Timeout');
  const survived = count('Survived');
  const noCoverage = count('NoCoverage');
  const detected = killed + timeout;
  const valid = detected + survived + noCoverage;
  return {
    killed,
    timeout,
    survived,
    noCoverage,
    ignored: count('Ignored'),
    valid,
    percent: valid === 0 ? 100 : (detected / valid) * 100,
  };
}

const rows = Object.entries(report.files)
  .map(([file, { mutants }]) => ({ file: relative(file), ...score(mutants.map((m) => m.status)) }))
  .sort((a, b) => a.file.localeCompare(b.file));

const enforced = (file: string) => file.startsWith('machines/');
const width = Math.max(...rows.map((r) => r.file.length), 4);
const cells = ['score', 'mutants', 'killed', 'timeout', 'survived', 'no-cov', 'ignored'];
console.log(`${'file'.padEnd(width)}  ${cells.map((c) => c.padStart(9)).join('')}`);
for (const r of rows) {
  const mark =
    r.percent >= min ? '' : enforced(r.file) ? `  < ${min} %` : `  < ${min} % (reported, not enforced)`;
  const figures = [r.percent.toFixed(1), r.valid, r.killed, r.timeout, r.survived, r.noCoverage, r.ignored];
  console.log(`${r.file.padEnd(width)}  ${figures.map((f) => String(f).padStart(9)).join('')}${mark}`);
}

/**
 * Enforced for machines/ (issue #20's bar); the glue in src/ is reported beside it, not yet enforced
 * (its survivors are listed in docs/testing.md until its tests reach the bar too).
 */
const failures = rows
  .filter((r) => enforced(r.file) && r.percent < min)
  .map((r) => `${r.file}: ${r.percent.toFixed(1)} % < ${min} %`);
const machines = readdirSync(join(root, 'machines')).filter((f) => f.endsWith('.ts'));
for (const file of partial ? [] : machines) {
  if (!rows.some((r) => r.file === `machines/${file}`))
    failures.push(`machines/${file}: not in the mutation report`);
}
if (failures.length > 0) {
  console.error(`\nmutation score below the per-file threshold:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`\nevery file of machines/ at or above ${min} %`);
