/**
 * cli-start: how long the `taskpulse` command takes to start and finish `--version` and `validate`
 * (one job file), as a user's shell sees it: `node bin/taskpulse.js …` spawned and waited for, again
 * and again. Wall time is judged (median; the target is the 300 ms); the CPU time of the
 * children (from /proc/self/stat, which counts reaped children) is the figure load on a shared
 * machine disturbs least. `node -e 0` is the floor: Node's own start.
 * `BENCH_CLI=/path/to/bin/taskpulse.js` measures another build (e.g. an older commit's) the same way.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type BenchOptions, type BenchResult, fmt, type Row } from './report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGET_MS = 300;
/** USER_HZ: /proc reports CPU time in these ticks (100 on every Linux this runs on). */
const TICK_MS = 10;

/** CPU time of this process's reaped children so far, ms (cutime + cstime). */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
}

interface Timing {
  medianMs: number;
  p90Ms: number;
  cpuMs: number;
}

function time(args: string[], runs: number): Timing {
  const once = () => {
    const started = performance.now();
    const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const ms = performance.now() - started;
    if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
    return ms;
  };
  once(); // warm the page cache
  const cpuBefore = childrenCpuMs();
  const walls = Array.from({ length: runs }, once).sort((a, b) => a - b);
  const at = (q: number) => walls[Math.min(walls.length - 1, Math.floor(q * walls.length))] ?? Number.NaN;
  return { medianMs: at(0.5), p90Ms: at(0.9), cpuMs: (childrenCpuMs() - cpuBefore) / runs };
}

export async function cliStart({ smoke }: BenchOptions): Promise<BenchResult> {
  const runs = smoke ? 3 : 30;
  const bin = process.env.BENCH_CLI ?? `${ROOT}bin/taskpulse.js`;
  const load = loadavg()[0] ?? 0;
  const floor = time(['-e', '0'], runs);
  const commands: [string, string[]][] = [
    ['taskpulse --version', [bin, '--version']],
    ['taskpulse validate examples/demo.job.yaml', [bin, 'validate', `${ROOT}examples/demo.job.yaml`]],
  ];
  const rows: Row[] = [];
  for (const [label, args] of commands) {
    const timing = time(args, runs);
    rows.push(
      {
        metric: `${label}: wall time, median (p90)`,
        value: `${fmt.ms(timing.medianMs)} (${fmt.ms(timing.p90Ms)})`,
        target: `< ${TARGET_MS} ms`,
        met: timing.medianMs < TARGET_MS,
      },
      { metric: `${label}: CPU time (user + sys)`, value: fmt.ms(timing.cpuMs) },
    );
  }
  rows.push({
    metric: 'node -e 0 (Node alone): wall median / CPU',
    value: `${fmt.ms(floor.medianMs)} / ${fmt.ms(floor.cpuMs)}`,
  });
  return {
    name: 'cli-start',
    title: `cli-start: the taskpulse command's start, ${runs} runs each`,
    rows,
    notes: [
      `Each run spawns \`node ${bin.replace(ROOT, '')} …\` and waits for it, after one warm-up run.`,
      `Load average (1 min) at the start: ${load.toFixed(2)}. Other work on the machine stretches wall time; CPU time (per run, from /proc/self/stat of the reaped children, 10 ms ticks averaged) much less.`,
    ],
  };
}
