/**
 * `npm run soak -- --seconds N --tasks M [--seed S]`: runs the soak (src/testing/soak.ts) on a
 * virtual clock, prints lifecycles, faults injected by kind and violations; exits 1 on any violation.
 * Run with `--expose-gc` (the npm script does) so heap samples follow a full collection.
 */
import { parseArgs } from 'node:util';
import { runSoak } from '../src/testing/soak.js';
import { installVirtualClock } from '../src/testing/soak-clock.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '600' },
    tasks: { type: 'string', default: '50' },
    seed: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});

function positiveInt(name: string, raw: string | undefined): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    console.error(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const seconds = positiveInt('seconds', values.seconds);
const tasks = positiveInt('tasks', values.tasks);
const seed =
  values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positiveInt('seed', values.seed);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.error('note: run node with --expose-gc for heap samples taken after a full collection');

console.log(`soak: ${seconds} simulated s, ${tasks} concurrent tasks, seed ${seed}`);
const clock = installVirtualClock(Date.UTC(2030, 0, 1));
const report = await runSoak({
  seconds,
  tasks,
  seed,
  clock,
  gc,
  onMinute: (p) => {
    if (values.quiet) return;
    const minute = Math.round(p.simulatedMs / 60_000);
    const heapMb = (p.heapUsed / 1024 / 1024).toFixed(1);
    console.log(`  min ${minute}: ${p.lifecycles} lifecycles, heap ${heapMb} MB, ${p.violations} violations`);
  },
});
clock.uninstall();

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
console.log(
  `\nsimulated ${(report.simulatedMs / 1000).toFixed(0)} s in ${(report.wallMs / 1000).toFixed(1)} s wall`,
);
console.log(
  `lifecycles ${report.lifecycles} (runs ${report.runs}, killed ${report.killed}, detached ${report.detached})`,
);
console.log(`stats calls ${report.statsCalls}, samples published ${report.samplesPublished}`);
console.log(`faults injected: ${report.totalFaults}`);
for (const [kind, count] of Object.entries(report.faults)) console.log(`  ${kind.padEnd(22)} ${count}`);
console.log('invalid samples by kind:');
for (const [kind, count] of Object.entries(report.invalidSamples))
  console.log(`  ${kind.padEnd(22)} ${count}`);
console.log(`log lines: warn ${report.logLines.warn}, error ${report.logLines.error}`);
const { firstQuarterMedian, lastQuarterMedian, slopeBytesPerMinute } = report.heapGrowth;
console.log(
  `heap (after warm-up): ${mb(firstQuarterMedian)} → ${mb(lastQuarterMedian)}, slope ${(slopeBytesPerMinute / 1024).toFixed(1)} KB/min over ${report.heapSamples.length} samples`,
);
const total = Object.values(report.violationCounts).reduce((sum, n) => sum + n, 0);
console.log(`violations: ${total}`);
for (const [kind, count] of Object.entries(report.violationCounts))
  console.log(`  ${kind.padEnd(22)} ${count}`);
for (const v of report.violations) console.log(`  - [${v.kind}] ${v.taskId} @${v.at}: ${v.detail}`);
process.exit(total > 0 ? 1 : 0);
