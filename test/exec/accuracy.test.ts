/**
 * Accuracy: taskpulse's figures against the kernel's own accounting of the same processes, in the
 * same run. CPU seconds must be within 5 % of the processes' rusage (each process reports
 * `process.resourceUsage()` as it ends, so the reference is the kernel's, not ours); RSS within 10 %
 * of `ps` (and /proc/<pid>/status VmRSS), read right after the sample. Runs with the task's cgroup
 * (v1 on this machine kind, when root) and without (the /proc tree, rusage of the reaped child).
 *
 * CPU work is bounded by CPU time, not wall time, so a loaded machine makes a case slower, never
 * wrong. Each case prints its figures beside the kernel's (`[accuracy] …` lines).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExitResult } from '../../src/drivers/contract.js';
import type { ExecDriver } from '../../src/drivers/exec/index.js';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';
import { isRoot, node, spec, testDriver, waitFor } from './helpers.js';

const CPU_BOUND = 0.05;
const RSS_BOUND = 0.1;

/** Spins until this process has used `us` µs of CPU; `report()` prints its rusage as one JSON line. */
const SPIN = `
const spin = (us) => { const start = process.cpuUsage(); for (;;) { for (let i = 0; i < 1e5; i++); const u = process.cpuUsage(start); if (u.user + u.system >= us) return; } };
const report = (who) => { const r = process.resourceUsage(); process.stdout.write(JSON.stringify({ who, cpuUs: r.userCPUTime + r.systemCPUTime }) + '\\n'); };
`;

const TWO_CHILDREN = `${SPIN}
const { spawn } = require('node:child_process');
const child = () => new Promise((done) => spawn(process.execPath, ['-e', ${JSON.stringify(`${SPIN} spin(500000); report('child');`)}], { stdio: ['ignore', 'inherit', 'inherit'] }).on('exit', done));
Promise.all([child(), child()]).then(() => report('parent'));
`;

const HOLD_256_MIB =
  "globalThis.held = Buffer.alloc(256 * 2 ** 20, 1); console.log('ready'); setTimeout(() => {}, 60000)";

interface Run {
  samples: TaskResourceUsage[];
  exit: ExitResult;
}

/** Starts a task, reads its stats stream until it exits, and returns every sample and the exit. */
async function runToExit(
  driver: ExecDriver,
  start: ExecDriver['startTask'],
  config: object,
  intervalMs: number,
) {
  const task = spec({ ...config });
  await start(task);
  const abort = new AbortController();
  const samples: TaskResourceUsage[] = [];
  const exited = driver.waitTask(task.id);
  const stream = await driver.taskStats(task.id, intervalMs, abort.signal);
  for await (const sample of stream) samples.push(sample);
  const run: Run = { samples, exit: await exited };
  return { ...run, stdout: readFileSync(driver.describeTask(task.id)!.stdoutPath, 'utf8') };
}

/** The CPU seconds the task's processes reported for themselves (the kernel's rusage). */
function reportedCpuSeconds(stdout: string): number {
  const lines = stdout.trim().split('\n');
  return lines.reduce((sum, line) => sum + (JSON.parse(line) as { cpuUs: number }).cpuUs, 0) / 1e6;
}

const cpuSecondsOf = (sample: TaskResourceUsage | undefined) =>
  (sample?.resourceUsage.cpu?.totalTime ?? Number.NaN) / 1e9;
const relative = (ours: number, kernel: number) => Math.abs(ours - kernel) / kernel;
const pct = (value: number) => `${(value * 100).toFixed(1)} %`;

/** RSS of `pid` in bytes as `ps` and /proc/<pid>/status report it. */
function kernelRss(pid: number) {
  const ps =
    Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) * 1024;
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const vmRss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
  return { ps, vmRss };
}

const MODES = [
  ['/proc tree', { cgroups: false as const }],
  ...(isRoot ? ([['cgroup v1', {}]] as const) : []),
] as const;

describe.each(MODES)('accuracy against the kernel (%s)', (mode, options) => {
  let setup: ReturnType<typeof testDriver>;
  beforeEach(() => {
    setup = testDriver(options);
    if (mode === 'cgroup v1') expect(setup.driver.cgroups.version).toBe('v1');
  });
  afterEach(() => setup.cleanup());

  const checkCpu = (what: string, run: Run & { stdout: string }) => {
    const kernel = reportedCpuSeconds(run.stdout);
    const final = cpuSecondsOf(run.exit.usage);
    console.info(
      `[accuracy] ${mode} ${what}: taskpulse ${final.toFixed(3)} s (final sample), kernel rusage ${kernel.toFixed(3)} s, off by ${pct(relative(final, kernel))}`,
    );
    expect(relative(final, kernel)).toBeLessThan(CPU_BOUND);
    // The first sample has the times but no percent; the final one has both.
    const first = run.samples[0]!.resourceUsage.cpu!;
    expect(first.measured).toContain('Total Time');
    expect(first.measured).not.toContain('Percent');
    expect(run.exit.usage!.resourceUsage.cpu!.measured).toContain('Percent');
    // Times never run backwards, and no sample claims more than the kernel's total.
    const times = run.samples.map(cpuSecondsOf);
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
    expect(Math.max(...times)).toBeLessThanOrEqual(final);
  };

  it('a busy loop: CPU seconds at exit within 5 % of its rusage', async () => {
    const run = await runToExit(setup.driver, setup.start, node(`${SPIN} spin(800000); report('busy')`), 200);
    checkCpu('busy loop (0.8 s CPU)', run);
    // The first interval is counted: the second sample already shows the loop's time.
    expect(cpuSecondsOf(run.samples[1] ?? run.exit.usage)).toBeGreaterThan(0);
  });

  it('two busy children: the task counts both, within 5 % of their rusage', async () => {
    const run = await runToExit(setup.driver, setup.start, node(TWO_CHILDREN), 200);
    expect(run.stdout.trim().split('\n')).toHaveLength(3);
    checkCpu('two busy children (2 × 0.5 s CPU)', run);
  });

  it('a short burst that ends before its first interval: exact from the kernel at exit', async () => {
    const run = await runToExit(
      setup.driver,
      setup.start,
      node(`${SPIN} spin(600000); report('burst')`),
      30_000,
    );
    expect(run.samples).toHaveLength(1);
    checkCpu('short burst (0.6 s CPU, one sample)', run);
  });

  it('a process holding 256 MiB: RSS within 10 % of ps', async () => {
    const task = spec(node(HOLD_256_MIB));
    const { pid } = await setup.start(task);
    const { stdoutPath } = setup.driver.describeTask(task.id)!;
    await waitFor('256 MiB allocated', () => readFileSync(stdoutPath, 'utf8').includes('ready'), 15_000);
    const abort = new AbortController();
    const stream = await setup.driver.taskStats(task.id, 100, abort.signal);
    let sample: TaskResourceUsage | undefined;
    for await (sample of stream) break;
    const kernel = kernelRss(pid!);
    const memory = sample!.resourceUsage.memory!;
    console.info(
      `[accuracy] ${mode} 256 MiB holder: taskpulse RSS ${memory.rss} B, ps ${kernel.ps} B, VmRSS ${kernel.vmRss} B, off by ${pct(relative(memory.rss, kernel.ps))}`,
    );
    expect(memory.rss).toBeGreaterThan(256 * 2 ** 20);
    expect(relative(memory.rss, kernel.ps)).toBeLessThan(RSS_BOUND);
    expect(relative(memory.rss, kernel.vmRss)).toBeLessThan(RSS_BOUND);
    if (mode === 'cgroup v1') {
      // The cgroup's own figures are in the fields named for them, read from the same files.
      const dir = setup.driver.describeTask(task.id)!.cgroupPaths.find((path) => path.includes('/memory/'))!;
      const usage = Number(readFileSync(join(dir, 'memory.usage_in_bytes'), 'latin1'));
      const anon = Number(/^rss (\d+)$/m.exec(readFileSync(join(dir, 'memory.stat'), 'latin1'))?.[1]);
      console.info(
        `[accuracy] ${mode} 256 MiB holder: taskpulse Usage ${memory.usage} B, memory.usage_in_bytes ${usage} B, memory.stat rss (anon) ${anon} B`,
      );
      expect(relative(memory.usage, usage)).toBeLessThan(RSS_BOUND);
      expect(anon).toBeGreaterThan(256 * 2 ** 20);
    }
  });

  it('a steady idle process: the same RSS definition in every sample, CPU near 0 like the kernel', async () => {
    const task = spec({ command: 'sleep', args: ['30'] });
    const { pid } = await setup.start(task);
    // Steady: exec'd (with a cgroup the pid first runs the joining wrapper), past the dynamic
    // loader and asleep in nanosleep; before that its RSS is still growing.
    await waitFor('sleep to be asleep', () => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      return stat.includes('(sleep) S ');
    });
    const abort = new AbortController();
    const stream = await setup.driver.taskStats(task.id, 150, abort.signal);
    const samples: TaskResourceUsage[] = [];
    const statTicks = () => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]);
    };
    const rows: string[] = [];
    for await (const sample of stream) {
      samples.push(sample);
      const kernel = kernelRss(pid!);
      const rss = sample.resourceUsage.memory!.rss;
      rows.push(`${rss}/${kernel.ps}`);
      expect(relative(rss, kernel.ps)).toBeLessThan(RSS_BOUND);
      if (samples.length === 4) break;
    }
    const kernelSeconds = statTicks() / 100;
    const ours = cpuSecondsOf(samples.at(-1));
    console.info(
      `[accuracy] ${mode} idle sleep: RSS taskpulse/ps per sample ${rows.join(', ')} B; CPU taskpulse ${ours.toFixed(3)} s, /proc stat ${kernelSeconds.toFixed(3)} s; percents ${samples
        .slice(1)
        .map((s) => s.resourceUsage.cpu!.percent.toFixed(2))
        .join(', ')}`,
    );
    for (const sample of samples.slice(1)) expect(sample.resourceUsage.cpu!.percent).toBeLessThan(1);
    // Idle: within one clock tick of the kernel's own figure.
    expect(Math.abs(ours - kernelSeconds)).toBeLessThanOrEqual(0.011);
  });
});
