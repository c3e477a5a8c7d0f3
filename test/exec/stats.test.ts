/** Resource usage of real processes, through the driver's stats stream, with and without a cgroup. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskResourceUsage } from '../../src/drivers/usage.js';
import { isValidSample } from '../../src/drivers/validate-sample.js';
import { isRoot, node, readStats, spec, testDriver, waitFor } from './helpers.js';

const INTERVAL = 150;
const BUSY = 'for(;;){}';
const IDLE = 'setTimeout(() => {}, 30000)';
const percent = (sample: TaskResourceUsage | undefined) => sample?.resourceUsage.cpu?.percent ?? 0;
const busiestOf = (sample: TaskResourceUsage) =>
  Math.max(...Object.values(sample.pids ?? {}).map((usage) => usage.cpu?.percent ?? 0));

describe.each([
  ['/proc tree', { cgroups: false as const }],
  ['cgroups', {}],
])('exec stats (%s)', (mode, options) => {
  let setup: ReturnType<typeof testDriver>;
  beforeEach(() => {
    setup = testDriver(options);
  });
  afterEach(() => setup.cleanup());

  it('reports a busy loop as the CPU time the kernel counted between samples, user time dominating', async () => {
    const task = spec(node(BUSY));
    const { pid } = await setup.start(task);
    const { samples } = await readStats(setup.driver, task.id, INTERVAL, (s) => s.length >= 4);
    // Nothing to compare with yet: the first sample has CPU times but no percents (absent, not 0).
    expect(samples[0]!.resourceUsage.cpu!.measured).not.toContain('Percent');
    expect(samples[0]!.resourceUsage.cpu!.measured).toContain('Total Time');
    // Each percent is the task's CPU time between two samples over the time between them: on a loaded
    // machine a busy loop gets less than a core, and the figure must say so, never more than one core.
    for (const [before, after] of samples.slice(0, -1).map((sample, i) => [sample, samples[i + 1]!])) {
      const cpuSeconds = (after!.resourceUsage.cpu!.totalTime! - before!.resourceUsage.cpu!.totalTime!) / 1e9;
      const seconds = (after!.timestamp - before!.timestamp) / 1000;
      expect(Math.abs(percent(after) - (100 * cpuSeconds) / seconds)).toBeLessThan(3);
      expect(percent(after)).toBeLessThan(130); // a late tick can stretch one sample a little
    }
    const last = samples.at(-1)!;
    expect(last.resourceUsage.cpu!.userMode).toBeGreaterThan(last.resourceUsage.cpu!.systemMode);
    expect(last.resourceUsage.cpu!.totalTicks).toBeGreaterThan(0);
    // The cumulative time is the kernel's: never ahead of what /proc says once the sample is taken.
    const [utime, stime] = readFileSync(`/proc/${pid}/stat`, 'latin1')
      .split(') ')[1]!
      .split(' ')
      .slice(11, 13);
    expect(last.resourceUsage.cpu!.totalTime! / 1e9).toBeLessThanOrEqual(
      (Number(utime) + Number(stime)) / 100 + 0.02,
    );
    expect(last.resourceUsage.cpu!.totalTime!).toBeGreaterThan(0);
    for (const sample of samples) expect(isValidSample(sample)).toBe(true);
  });

  it('reports an idle process near 0', async () => {
    const task = spec(node(IDLE));
    await setup.start(task);
    // Node's own start-up costs CPU: wait for two quiet samples in a row.
    const { samples } = await readStats(
      setup.driver,
      task.id,
      INTERVAL,
      (s) => s.length > 3 && percent(s.at(-1)) < 5 && percent(s.at(-2)) < 5,
    );
    expect(percent(samples.at(-1))).toBeLessThan(5);
    expect(samples.at(-1)!.resourceUsage.memory!.rss).toBeGreaterThan(0);
  });

  it('shows RSS growth when the child allocates 100 MB', async () => {
    // SIGUSR2 (SIGUSR1 starts Node's inspector); "ready" in the log file says the listener is on.
    const task = spec(
      node(
        "process.on('SIGUSR2', () => { globalThis.b = Buffer.alloc(100 * 2 ** 20, 1); }); console.log('ready'); setTimeout(() => {}, 30000)",
      ),
    );
    const { pid } = await setup.start(task);
    const { stdoutPath } = setup.driver.describeTask(task.id)!;
    await waitFor('the child to be ready', () => readFileSync(stdoutPath, 'utf8').includes('ready'));
    const first = await readStats(setup.driver, task.id, INTERVAL, (s) => s.length >= 2);
    const before = first.samples.at(-1)!.resourceUsage.memory!.rss;
    process.kill(pid!, 'SIGUSR2');
    const { samples } = await readStats(
      setup.driver,
      task.id,
      INTERVAL,
      (s) => s.at(-1)!.resourceUsage.memory!.rss - before > 90 * 2 ** 20,
    );
    const memory = samples.at(-1)!.resourceUsage.memory!;
    expect(memory.rss - before).toBeGreaterThan(90 * 2 ** 20);
    expect(memory.measured).toContain('RSS');
    if (mode === '/proc tree') expect(memory.measured).toContain('Swap');
  });

  it('counts a tree with grandchildren whole: a busy grandchild shows in the totals', async () => {
    const task = spec({
      command: 'sh',
      args: ['-c', `(${process.execPath} -e '${BUSY}' & wait) & sleep 30 & wait`],
    });
    await setup.start(task);
    const { samples } = await readStats(
      setup.driver,
      task.id,
      INTERVAL,
      // A pid's percent needs two readings of it, so wait until the grandchild has been seen twice
      // busy. How busy depends on what else shares the two cores: the totals must include it, whatever it is.
      (s) => Object.keys(s.at(-1)!.pids ?? {}).length >= 4 && busiestOf(s.at(-1)!) > 0,
    );
    const last = samples.at(-1)!;
    const pids = Object.entries(last.pids!);
    expect(pids.length).toBeGreaterThanOrEqual(4); // sh, subshell, node, sleep
    const busiest = busiestOf(last);
    expect(busiest).toBeGreaterThan(0);
    // The grandchild's share is in the total. A pid's percent comes from /proc's 10 ms ticks, so it and
    // the total (from the cgroup's nanoseconds, or other ticks) can differ by two ticks per interval.
    const twoTicks = (100 * 20) / INTERVAL;
    expect(percent(last)).toBeGreaterThanOrEqual(busiest - twoTicks);
    const rssSum = pids.reduce((sum, [, usage]) => sum + usage.memory!.rss, 0);
    if (mode === '/proc tree') expect(last.resourceUsage.memory!.rss).toBe(rssSum);
  });

  it('ends the stream within one interval of the task exiting', async () => {
    const task = spec(node('setTimeout(() => process.exit(0), 400)'));
    await setup.start(task);
    let exitedAt = 0;
    const exited = setup.driver.waitTask(task.id).then(() => {
      exitedAt = performance.now();
    });
    const { ended } = await readStats(setup.driver, task.id, 1000, () => false);
    const endedAt = performance.now();
    await exited;
    expect(ended).toBe(true);
    // The wait resolves once the exit figures are read (a turn of the loop after the stream ends).
    expect(Math.abs(endedAt - exitedAt)).toBeLessThan(1000);
  });
});

describe('cgroup v1 on the real hierarchy', () => {
  // CI runs as root (so this runs); elsewhere it says why it did not.
  it.skipIf(!isRoot)(
    'puts the task in its cgroup before it runs and reports the cgroup figures (needs root)',
    async () => {
      const setup = testDriver();
      try {
        expect(setup.driver.cgroups.version).toBe('v1');
        const task = spec(node(BUSY));
        const { pid } = await setup.start(task);
        const paths = setup.driver.describeTask(task.id)!.cgroupPaths;
        const memoryDir = paths.find((path) => path.includes('/memory/'))!;
        const { samples } = await readStats(
          setup.driver,
          task.id,
          INTERVAL,
          (s) => s.length >= 2 && s.at(-1)!.resourceUsage.cpu!.measured.includes('Percent'),
        );
        expect(readFileSync(join(memoryDir, 'cgroup.procs'), 'latin1').split('\n')).toContain(String(pid));
        const usage = samples.at(-1)!.resourceUsage;
        expect(usage.memory!.measured).toEqual(
          expect.arrayContaining(['RSS', 'Cache', 'Usage', 'Max Usage', 'Kernel Usage']),
        );
        expect(usage.memory!.usage).toBeGreaterThan(0);
        expect(usage.memory!.maxUsage).toBeGreaterThanOrEqual(usage.memory!.usage);
        expect(usage.cpu!.measured).toEqual(
          expect.arrayContaining([
            'Percent',
            'User Mode',
            'System Mode',
            'Throttled Periods',
            'Throttled Time',
          ]),
        );
      } finally {
        await setup.cleanup();
      }
    },
  );
});
