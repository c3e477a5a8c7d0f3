/**
 * scale: N task runners on the mock driver, 1 s stats interval, against the bare minimum doing the
 * same work in the same process: per task, start + wait + a `for await` over the same mock stream
 * calling the same updater, re-opened after a plain timer. Both publish every sample on a bus.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TaskDriver, TaskSpec } from '../src/drivers/contract.js';
import type { TaskResourceUsage } from '../src/drivers/usage.js';
import type { TaskBus } from '../src/runtime/bus.js';
import { importBuilt } from './built.js';
import { type BenchOptions, type BenchResult, fmt, type Row } from './report.js';

/** Both sides run the built library (dist/), as users do: see bench/built.ts for why not tsx. */
async function loadBuilt() {
  const [sleepModule, mock, usage, bus, log, runner] = await Promise.all([
    importBuilt<typeof import('../src/drivers/abortable-sleep.js')>('src/drivers/abortable-sleep.ts'),
    importBuilt<typeof import('../src/drivers/mock.js')>('src/drivers/mock.ts'),
    importBuilt<typeof import('../src/drivers/usage.js')>('src/drivers/usage.ts'),
    importBuilt<typeof import('../src/runtime/bus.js')>('src/runtime/bus.ts'),
    importBuilt<typeof import('../src/runtime/logger.js')>('src/runtime/logger.ts'),
    importBuilt<typeof import('../src/task-runner/create-task-runner.js')>(
      'src/task-runner/create-task-runner.ts',
    ),
  ]);
  return {
    abortableSleep: sleepModule.abortableSleep,
    createMockDriver: mock.createMockDriver,
    publishableMetrics: usage.publishableMetrics,
    createBus: bus.createBus,
    createTaskRunner: runner.createTaskRunner,
    // One logger for the whole agent, as an embedding application would pass (runners make children).
    logger: log.silentLogger(),
  };
}
let lib: Awaited<ReturnType<typeof loadBuilt>>;

const INTERVAL_MS = 1000;

/** A supervisor under test: starts N tasks (resolving once started) and stops them all. */
interface Supervisor {
  start(specs: TaskSpec[]): void;
  stop(): Promise<void>;
}

/** The task runner's updater, written out (it is private to createTaskRunner): keep, then publish. */
function makeUpdater(bus: TaskBus, spec: TaskSpec) {
  let latest: { sample: TaskResourceUsage; exited: boolean } | undefined;
  const ref = { taskId: spec.id, name: spec.name };
  return {
    updateStats(sample: TaskResourceUsage) {
      latest = { sample, exited: false };
      bus.emit('task:stats', { ...ref, sample, metrics: lib.publishableMetrics(sample.resourceUsage) });
    },
    latest: () => latest,
  };
}

function taskpulse(driver: TaskDriver, bus: TaskBus): Supervisor {
  const runners: ReturnType<typeof lib.createTaskRunner>[] = [];
  return {
    start(specs) {
      for (const task of specs) {
        const runner = lib.createTaskRunner({
          task,
          driver,
          bus,
          logger: lib.logger,
          statsIntervalMs: INTERVAL_MS,
        });
        runner.start();
        runners.push(runner);
      }
    },
    async stop() {
      await Promise.all(runners.map((runner) => runner.kill()));
    },
  };
}

function baseline(driver: TaskDriver, bus: TaskBus): Supervisor {
  const loops: Promise<void>[] = [];
  const controllers: AbortController[] = [];
  const supervise = async (spec: TaskSpec, { signal }: AbortController) => {
    await driver.startTask(spec);
    const exited = driver.waitTask(spec.id, signal).catch(() => {});
    const updater = makeUpdater(bus, spec);
    while (!signal.aborted) {
      try {
        for await (const sample of await driver.taskStats(spec.id, INTERVAL_MS, signal)) {
          updater.updateStats(sample);
        }
      } catch {
        // ended or failed: wait one interval, like the hook
      }
      await lib.abortableSleep(INTERVAL_MS, signal);
    }
    await driver.stopTask(spec.id, { timeoutMs: 5000 });
    await exited;
    await driver.destroyTask(spec.id, { force: true });
  };
  return {
    start(specs) {
      for (const spec of specs) {
        const controller = new AbortController();
        controllers.push(controller);
        loops.push(supervise(spec, controller));
      }
    },
    async stop() {
      for (const controller of controllers) controller.abort();
      await Promise.all(loops);
    },
  };
}

interface Figures {
  startMs: number;
  stopMs: number;
  cpuPercent: number;
  samplesPerSecond: number;
  heapPerTask: number;
  heapBefore: number;
  heapAfter: number;
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  timersLeft: number;
}

const gc = () => {
  globalThis.gc?.();
  globalThis.gc?.();
};
const heapUsed = () => process.memoryUsage().heapUsed;
const openTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

async function waitFor(condition: () => boolean, timeoutMs: number, what: string) {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Runs one scenario; everything it allocates is unreachable once it returns (the leak check). */
async function run(kind: 'taskpulse' | 'baseline', count: number, windowMs: number, heapBefore: number) {
  const driver = lib.createMockDriver();
  const bus = lib.createBus();
  let samples = 0;
  let started: Set<string> | undefined = new Set<string>();
  bus.on('task:stats', (event) => {
    samples++;
    started?.add(event.taskId);
  });
  const specs = Array.from({ length: count }, (_, i) => ({ id: `${kind}-${i}`, name: `t${i}`, config: {} }));
  const supervisor = kind === 'taskpulse' ? taskpulse(driver, bus) : baseline(driver, bus);

  const startAt = performance.now();
  supervisor.start(specs);
  await waitFor(() => started?.size === count, 60_000, `${count} first samples`);
  const startMs = performance.now() - startAt;
  started = undefined;

  gc();
  const heapPerTask = (heapUsed() - heapBefore) / count;

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const samplesAt = samples;
  const cpuAt = process.cpuUsage();
  const wallAt = performance.now();
  await sleep(windowMs);
  const cpu = process.cpuUsage(cpuAt);
  const wall = performance.now() - wallAt;
  loop.disable();

  const stopAt = performance.now();
  await supervisor.stop();
  const stopMs = performance.now() - stopAt;
  if (driver.liveTasks !== 0 || driver.openStreams !== 0) {
    throw new Error(`${kind}: ${driver.liveTasks} tasks and ${driver.openStreams} streams left after stop`);
  }
  return {
    startMs,
    stopMs,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / wall) * 100,
    samplesPerSecond: ((samples - samplesAt) / wall) * 1000,
    heapPerTask,
    loopP50Ms: loop.percentile(50) / 1e6,
    loopP99Ms: loop.percentile(99) / 1e6,
    loopMaxMs: loop.max / 1e6,
  };
}

async function measure(kind: 'taskpulse' | 'baseline', count: number, windowMs: number): Promise<Figures> {
  await sleep(200);
  gc();
  const timersBefore = openTimers();
  const heapBefore = heapUsed();
  const figures = await run(kind, count, windowMs, heapBefore);
  // Let aborted timers and settled promises go, then see what the runtime still holds.
  await sleep(200);
  gc();
  return { ...figures, heapBefore, heapAfter: heapUsed(), timersLeft: openTimers() - timersBefore };
}

function rowsFor(count: number, tp: Figures, base: Figures): Row[] {
  const n = fmt.int(count);
  // Per delivered sample too: a saturated loop falls behind, does less work and looks cheaper in CPU %.
  const perSample = (f: Figures) => (f.cpuPercent * 1e4) / f.samplesPerSecond;
  const cpuRatio = Math.max(tp.cpuPercent / base.cpuPercent, perSample(tp) / perSample(base));
  const heapDrift = (tp.heapAfter - tp.heapBefore) / tp.heapBefore;
  const baseDrift = (base.heapAfter - base.heapBefore) / base.heapBefore;
  const big = count >= 10_000;
  const rows: Row[] = [
    {
      metric: `N=${n}: CPU % of one core, taskpulse / baseline`,
      value: `${fmt.pct(tp.cpuPercent)} / ${fmt.pct(base.cpuPercent)} = ${fmt.ratio(tp.cpuPercent / base.cpuPercent)}`,
    },
    {
      metric: `N=${n}: CPU µs per delivered sample, taskpulse / baseline`,
      value: `${perSample(tp).toFixed(1)} / ${perSample(base).toFixed(1)} = ${fmt.ratio(perSample(tp) / perSample(base))}`,
      target: '≤ 2× baseline (judged on the larger of the two ratios)',
      met: cpuRatio <= 2,
    },
    {
      metric: `N=${n}: samples/s delivered, taskpulse / baseline`,
      value: `${fmt.int(tp.samplesPerSecond)} / ${fmt.int(base.samplesPerSecond)}`,
      target: `≈ ${n} (1 per task per s)`,
    },
    {
      metric: `N=${n}: heap per task, taskpulse / baseline`,
      value: `${fmt.kib(tp.heapPerTask)} / ${fmt.kib(base.heapPerTask)}`,
      ...(big ? { target: '≤ 16 KiB (taskpulse)', met: tp.heapPerTask <= 16 * 1024 } : {}),
    },
    {
      metric: `N=${n}: event-loop delay p50 / p99 (max), taskpulse`,
      value: `${fmt.ms(tp.loopP50Ms)} / ${fmt.ms(tp.loopP99Ms)} (${fmt.ms(tp.loopMaxMs)})`,
      target: 'p99 ≤ 20 ms',
      met: tp.loopP99Ms <= 20,
    },
    {
      metric: `N=${n}: event-loop delay p50 / p99 (max), baseline`,
      value: `${fmt.ms(base.loopP50Ms)} / ${fmt.ms(base.loopP99Ms)} (${fmt.ms(base.loopMaxMs)})`,
    },
    {
      metric: `N=${n}: time to start all (first sample of each), taskpulse / baseline`,
      value: `${fmt.ms(tp.startMs)} / ${fmt.ms(base.startMs)}`,
      ...(big ? { target: '≤ 2 s (taskpulse)', met: tp.startMs <= 2000 } : {}),
    },
    {
      metric: `N=${n}: time to stop all, taskpulse / baseline`,
      value: `${fmt.ms(tp.stopMs)} / ${fmt.ms(base.stopMs)}`,
    },
    {
      metric: `N=${n}: heap after stop vs before start, taskpulse`,
      value: `${fmt.mib(tp.heapAfter)} vs ${fmt.mib(tp.heapBefore)} (${(heapDrift * 100).toFixed(1)} %), timers left ${tp.timersLeft}`,
      target: 'within 5 %',
      met: Math.abs(heapDrift) <= 0.05 && tp.timersLeft <= 0,
    },
    {
      metric: `N=${n}: heap after stop vs before start, baseline`,
      value: `${fmt.mib(base.heapAfter)} vs ${fmt.mib(base.heapBefore)} (${(baseDrift * 100).toFixed(1)} %)`,
    },
  ];
  return rows;
}

export async function scale({ smoke }: BenchOptions): Promise<BenchResult> {
  lib ??= await loadBuilt();
  // BENCH_SCALE_SIZES=1000,10000 and BENCH_SCALE_WINDOW_MS=10000 shorten experiments (use with --dry).
  const sizes = process.env.BENCH_SCALE_SIZES?.split(',').map(Number) ?? (smoke ? [200] : [1_000, 10_000]);
  const windowMs = Number(process.env.BENCH_SCALE_WINDOW_MS ?? (smoke ? 3_000 : 30_000));
  // Warm-up: compile both paths once so the first measured run does not pay for it (or count its
  // code as a leak).
  await measure('baseline', 100, 1_000);
  await measure('taskpulse', 100, 1_000);
  const rows: Row[] = [];
  for (const count of sizes) {
    const base = await measure('baseline', count, windowMs);
    const tp = await measure('taskpulse', count, windowMs);
    rows.push(...rowsFor(count, tp, base));
  }
  return {
    name: 'scale',
    title: `scale: task runners on the mock driver, 1 s interval, ${windowMs / 1000} s window`,
    rows,
    notes: [
      'Both sides run the built library (dist/, tsc output, as the package exports it; the benchmark refuses a dist/ older than its sources); under tsx, esbuild keepNames gives every closure a name property of its own (~5 KiB more heap per task).',
      'Baseline (same process, same mock driver and bus, measured just before): per task startTask + waitTask + `for await` over taskStats calling the same updater (keep the sample, publish it with publishableMetrics on the bus), re-opened after a plain timer; stop = abort, stopTask, destroyTask.',
      "CPU = process.cpuUsage (user + system) over the window / wall time; it includes the mock driver's own timers and sample objects, which both sides pay.",
      "Heap per task = heapUsed after gc() with all N started minus heapUsed after gc() before the driver was created, / N (the mock driver's per-task state counts on both sides).",
      'Started = every task has published its first sample. Event-loop delay: monitorEventLoopDelay (10 ms resolution) over the steady-state window.',
      'Heap after stop: all bench references dropped (driver, runners), gc() twice, compared with the figure before start; "timers left" counts live setTimeout handles beyond those before start.',
    ],
  };
}
