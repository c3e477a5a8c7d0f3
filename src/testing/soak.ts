/**
 * The soak: many task runners (mock driver behind `withFaults`, batch jobs with short random run
 * times and restart policies) run side by side on fake time under random faults, while checkers
 * watch every driver call, every published sample and every hook:
 *
 * - `call-after-terminal`: no `taskStats` call once the run's stats hook was told the task exited
 *   (or the runner stopped / detached);
 * - `hook-not-terminal`: the stats hook is terminal the moment the `exited`/`stop`/`shutdown` phase ran;
 * - `sample-after-exit`: no sample reaches the bus after that;
 * - `invalid-published`: no injected invalid sample, nor any sample that fails validation or goes
 *   back in time, is ever published;
 * - `call-rate`: consecutive calls of one hook are at least as far apart as the backoff rules say
 *   (the stream interval after a stream, min(base × 2^n, cap) after the n-th failed open);
 * - `runner-stuck` / `not-finished`: every runner (and so every hook) ends within bounded time;
 * - `left-behind`: once a lifecycle is done, no stream or call is left open in either driver, no
 *   task alive in the mock driver (unless detached on purpose), and no timer once all are done;
 * - `memory-growth`: the heap, sampled every simulated minute (after gc when available), stays flat.
 *
 * Clock-agnostic: the script gives it a virtual clock, the vitest test `vi`'s fake timers.
 */
import pino from 'pino';
import { retryDelayMs } from '../../machines/backoff.js';
import type { TaskDriver } from '../drivers/contract.js';
import { createMockDriver, type MockDriver } from '../drivers/mock.js';
import type { TaskResourceUsage } from '../drivers/usage.js';
import { findSampleProblem } from '../drivers/validate-sample.js';
import { createBus, type TaskBusEvents } from '../runtime/bus.js';
import { createTaskRunner, type TaskRunner } from '../task-runner/create-task-runner.js';
import type { AnyTaskHook } from '../task-runner/hooks.js';
import {
  FAULT_KINDS,
  type FaultInjectingDriver,
  type FaultKind,
  INVALID_SAMPLE_KINDS,
  type InvalidSampleKind,
  mulberry32,
  withFaults,
} from './fault-injection.js';
import type { SoakClock } from './soak-clock.js';

export interface SoakOptions {
  /** Simulated seconds during which new lifecycles start; then the soak drains. */
  seconds: number;
  /** Task runners alive at once. */
  tasks: number;
  seed: number;
  clock: SoakClock;
  /** How far each clock step goes. Default 1000 ms. */
  stepMs?: number;
  /** Runs a full garbage collection before each heap sample, when the runtime exposes one. */
  gc?: () => void;
  /**
   * Wraps the driver the runner sees, outside the checkers: for the soak's own self-test, which
   * slips in a misbehaving layer to prove the checkers catch it.
   */
  wrapDriver?: (driver: TaskDriver) => TaskDriver;
  /** Called once per simulated minute. */
  onMinute?(progress: SoakProgress): void;
}

export interface SoakProgress {
  simulatedMs: number;
  lifecycles: number;
  heapUsed: number;
  violations: number;
}

export type ViolationKind =
  | 'call-after-terminal'
  | 'hook-not-terminal'
  | 'sample-after-exit'
  | 'invalid-published'
  | 'call-rate'
  | 'runner-stuck'
  | 'not-finished'
  | 'left-behind'
  | 'runner-crashed'
  | 'memory-growth';

export interface Violation {
  kind: ViolationKind;
  taskId: string;
  at: number;
  detail: string;
}

export interface SoakReport {
  seed: number;
  simulatedMs: number;
  wallMs: number;
  /** Task runners created and finished (one batch job each, restarts included). */
  lifecycles: number;
  /** Task starts the mock driver accepted (a lifecycle has 1 + its restarts). */
  runs: number;
  killed: number;
  detached: number;
  statsCalls: number;
  samplesPublished: number;
  faults: Record<FaultKind, number>;
  invalidSamples: Record<InvalidSampleKind, number>;
  totalFaults: number;
  logLines: { warn: number; error: number };
  violationCounts: Partial<Record<ViolationKind, number>>;
  /** The first few violations, in full. */
  violations: Violation[];
  /** Heap used (bytes) at each simulated minute. */
  heapSamples: number[];
  heapGrowth: { firstQuarterMedian: number; lastQuarterMedian: number; slopeBytesPerMinute: number };
}

const MINUTE = 60_000;
const STUCK_AFTER_MS = 10 * MINUTE;
const MAX_VIOLATION_DETAILS = 25;

interface Lifecycle {
  taskId: string;
  startedAt: number;
  runner: TaskRunner;
  mock: MockDriver;
  faulty: FaultInjectingDriver;
  intervalMs: number;
  backoff: { baseMs: number; capMs: number; jitter: 'none' | 'equal' };
  /** True between a run's prestart and its exited/stop/shutdown phase. */
  live: boolean;
  detachedOnPurpose: boolean;
  flaggedStuck: boolean;
  fateTimer: ReturnType<typeof setTimeout> | undefined;
  /** Per run: how the previous call ended and when, to check the backoff rules. */
  previous: { endedAt: number; failed: boolean } | undefined;
  failStreak: number;
  lastPublished: number | undefined;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function slope(values: number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  const meanX = (n - 1) / 2;
  const meanY = values.reduce((sum, v) => sum + v, 0) / n;
  let num = 0;
  let den = 0;
  values.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  return num / den;
}

/** A heap that grows by more than this over the soak (and by this ratio) counts as a leak. */
const MEMORY_GROWTH_BYTES = 16 * 1024 * 1024;
const MEMORY_GROWTH_RATIO = 1.25;

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const { clock, seed } = options;
  const stepMs = options.stepMs ?? 1000;
  const random = mulberry32(seed);
  const wallStart = performance.now();
  const startAt = clock.now();
  const endAt = startAt + options.seconds * 1000;

  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  const invalidSamples = Object.fromEntries(INVALID_SAMPLE_KINDS.map((k) => [k, 0])) as Record<
    InvalidSampleKind,
    number
  >;
  const violationCounts: Partial<Record<ViolationKind, number>> = {};
  const violations: Violation[] = [];
  const logLines = { warn: 0, error: 0 };
  const heapSamples: number[] = [];
  let lifecycles = 0;
  let runs = 0;
  let killed = 0;
  let detached = 0;
  let statsCalls = 0;
  let samplesPublished = 0;
  let totalViolations = 0;

  const violate = (kind: ViolationKind, taskId: string, detail: string) => {
    totalViolations += 1;
    violationCounts[kind] = (violationCounts[kind] ?? 0) + 1;
    if (violations.length < MAX_VIOLATION_DETAILS) violations.push({ kind, taskId, at: clock.now(), detail });
  };

  // Real pino, so the logging path is soaked too; only warn and error lines are formatted and counted.
  const logger = pino(
    { level: 'warn', base: null, timestamp: false },
    {
      write(line: string) {
        if (line.includes('"level":40')) logLines.warn += 1;
        else if (line.includes('"level":50')) logLines.error += 1;
      },
    },
  );

  const bus = createBus();
  const active = new Map<string, Lifecycle>();
  /** Checks that must wait until the promise chains of a finished lifecycle have settled. */
  let afterSettle: (() => void)[] = [];

  bus.on('task:stats', (event: TaskBusEvents['task:stats']) => {
    samplesPublished += 1;
    const life = active.get(event.taskId);
    if (!life) return violate('sample-after-exit', event.taskId, 'sample for a finished lifecycle');
    if (!life.live) violate('sample-after-exit', life.taskId, `sample at ${event.sample.timestamp}`);
    if (life.faulty.isInjectedInvalid(event.sample)) {
      violate('invalid-published', life.taskId, 'an injected invalid sample was published');
    }
    const problem = findSampleProblem(event.sample, life.lastPublished);
    if (problem) violate('invalid-published', life.taskId, `${problem.cause} at ${problem.path}`);
    life.lastPublished = event.sample.timestamp;
  });

  /** Watches the driver as the runner sees it: the call rules and when each call or stream ended. */
  const monitored = (life: Lifecycle, driver: TaskDriver): TaskDriver => ({
    ...driver,
    name: driver.name,
    capabilities: driver.capabilities,
    startTask: (task) => driver.startTask(task),
    waitTask: (taskId, signal) => driver.waitTask(taskId, signal),
    stopTask: (taskId, stopOptions) => driver.stopTask(taskId, stopOptions),
    destroyTask: (taskId, destroyOptions) => driver.destroyTask(taskId, destroyOptions),
    async taskStats(taskId, intervalMs, signal) {
      statsCalls += 1;
      const now = clock.now();
      const hookState = life.runner.statsHook.current?.state;
      if (!life.live || hookState === 'terminal') {
        violate('call-after-terminal', taskId, `runner ${life.runner.state}, hook ${hookState}`);
      }
      const previous = life.previous;
      if (previous) {
        const { baseMs, capMs, jitter } = life.backoff;
        let minGap = previous.failed ? retryDelayMs(life.failStreak - 1, { baseMs, capMs }) : life.intervalMs;
        if (previous.failed && jitter === 'equal') minGap /= 2;
        if (now - previous.endedAt < minGap) {
          violate(
            'call-rate',
            taskId,
            `jitter ${life.backoff.jitter}: ${now - previous.endedAt} ms after a ${previous.failed ? `failed open (streak ${life.failStreak})` : 'stream'}, expected ≥ ${minGap}`,
          );
        }
      }
      life.previous = undefined;
      const ended = (failed: boolean) => {
        life.previous = { endedAt: clock.now(), failed };
      };
      let stream: AsyncIterable<TaskResourceUsage>;
      try {
        stream = await driver.taskStats(taskId, intervalMs, signal);
      } catch (error) {
        life.failStreak += 1;
        ended(true);
        throw error;
      }
      life.failStreak = 0;
      return {
        async *[Symbol.asyncIterator]() {
          try {
            yield* stream;
          } finally {
            ended(false);
          }
        },
      };
    },
  });

  const phaseHook = (life: Lifecycle): AnyTaskHook => {
    const over = (phase: string) => {
      const state = life.runner.statsHook.current?.state;
      if (state !== undefined && state !== 'terminal') {
        violate('hook-not-terminal', life.taskId, `stats hook ${state} right after the ${phase} phase`);
      }
      life.live = false;
    };
    return {
      name: 'soak-monitor',
      prestart() {
        life.live = true;
        life.previous = undefined;
        life.failStreak = 0;
        life.lastPublished = undefined;
      },
      exited: () => over('exited'),
      stop: () => over('stop'),
      shutdown: () => over('shutdown'),
    };
  };

  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;

  const startLifecycle = (slot: number, n: number) => {
    const taskId = `soak-${slot}-${n}`;
    const lifeSeed = Math.floor(random() * 2 ** 32);
    const intervalMs = pick([250, 500, 1000, 2000]);
    const exitCodes = pick([[0], [1, 0], [1, 1, 0], [1, 1, 1], [2]]);
    const mock = createMockDriver({ defaults: { runForMs: 100 + Math.floor(random() * 8000), exitCodes } });
    const faulty = withFaults(mock, {
      seed: lifeSeed,
      openFaultRate: 0.35,
      streamEndRate: 0.2,
      streamThrowRate: 0.15,
      slowSampleRate: 0.05,
      invalidSampleRate: 0.1,
      taskVanishRate: 0.02,
      driverGoneRate: 0.02,
      driverGoneMs: [500, 6000],
    });
    const backoff = {
      baseMs: pick([200, 500, 1000]),
      capMs: pick([2000, 5000]),
      jitter: pick(['none', 'equal'] as const),
    };
    const stallTimeoutMs = random() < 0.5 ? intervalMs * 3 : undefined;
    const life = {
      taskId,
      startedAt: clock.now(),
      mock,
      faulty,
      intervalMs,
      backoff,
      live: false,
      detachedOnPurpose: false,
      flaggedStuck: false,
      fateTimer: undefined,
      previous: undefined,
      failStreak: 0,
      lastPublished: undefined,
    } as Omit<Lifecycle, 'runner'> as Lifecycle;
    life.runner = createTaskRunner({
      task: { id: taskId, name: 'soak', config: {} },
      driver: options.wrapDriver ? options.wrapDriver(monitored(life, faulty)) : monitored(life, faulty),
      bus,
      logger,
      statsIntervalMs: intervalMs,
      jobType: 'batch',
      restartPolicy: {
        attempts: Math.floor(random() * 3),
        delayMs: 100 + Math.floor(random() * 2000),
        intervalMs: MINUTE,
        mode: 'fail',
      },
      killTimeoutMs: 1000,
      statsHook: {
        backoff,
        openTimeoutMs: 500 + Math.floor(random() * 5000),
        ...(stallTimeoutMs === undefined ? {} : { stallTimeoutMs }),
        random,
      },
      hooks: [phaseHook(life)],
    });
    life.runner.actor.subscribe({
      error: (error) => violate('runner-crashed', taskId, String(error)),
    });
    active.set(taskId, life);
    life.runner.start();

    // Some runners are killed, or detached (agent shutdown), part-way through.
    const fate = random();
    if (fate < 0.06) {
      const at = Math.floor(random() * 6000);
      life.fateTimer = setTimeout(() => {
        if (life.runner.actor.getSnapshot().status !== 'active') return;
        if (fate < 0.05) {
          killed += 1;
          void life.runner.kill();
        } else {
          detached += 1;
          life.detachedOnPurpose = true;
          void life.runner.shutdown();
        }
      }, at);
    }
    return life;
  };

  const finish = (life: Lifecycle) => {
    lifecycles += 1;
    clearTimeout(life.fateTimer);
    runs += life.mock.calls.startTask;
    for (const kind of FAULT_KINDS) faults[kind] += life.faulty.faults[kind];
    for (const kind of INVALID_SAMPLE_KINDS) invalidSamples[kind] += life.faulty.invalidSamples[kind];
    const hookState = life.runner.statsHook.current?.state;
    if (hookState !== undefined && hookState !== 'terminal') {
      violate('not-finished', life.taskId, `runner done, stats hook ${hookState}`);
    }
    // The stream generators unwind a few promise turns after the abort: check once they settled.
    afterSettle.push(() => {
      active.delete(life.taskId);
      const left: string[] = [];
      if (life.faulty.active > 0) left.push(`${life.faulty.active} fault-wrapper calls/streams`);
      if (life.mock.openStreams > 0) left.push(`${life.mock.openStreams} open streams`);
      if (life.mock.inFlightStatsCalls > 0) left.push(`${life.mock.inFlightStatsCalls} stats calls`);
      if (!life.detachedOnPurpose && life.mock.liveTasks > 0) left.push(`${life.mock.liveTasks} live tasks`);
      if (left.length > 0) violate('left-behind', life.taskId, left.join(', '));
    });
  };

  // Each slot runs one lifecycle after another until the soak's time is up.
  let accepting = true;
  const slots: Promise<void>[] = [];
  for (let slot = 0; slot < options.tasks; slot++) {
    slots.push(
      (async () => {
        for (let n = 0; accepting; n++) {
          const life = startLifecycle(slot, n);
          try {
            await life.runner.done;
          } catch (error) {
            violate('runner-crashed', life.taskId, String(error));
          }
          finish(life);
        }
      })(),
    );
  }

  const sampleHeap = () => {
    options.gc?.();
    heapSamples.push(process.memoryUsage().heapUsed);
  };
  const watchdog = () => {
    for (const life of active.values()) {
      if (!life.flaggedStuck && clock.now() - life.startedAt > STUCK_AFTER_MS) {
        life.flaggedStuck = true;
        violate('runner-stuck', life.taskId, `runner ${life.runner.state} after ${STUCK_AFTER_MS} ms`);
      }
    }
  };
  const step = async () => {
    const before = clock.now();
    await clock.advance(stepMs);
    const checks = afterSettle;
    afterSettle = [];
    for (const check of checks) check();
    watchdog();
    if (Math.floor((clock.now() - startAt) / MINUTE) > Math.floor((before - startAt) / MINUTE)) {
      sampleHeap();
      options.onMinute?.({
        simulatedMs: clock.now() - startAt,
        lifecycles,
        heapUsed: heapSamples.at(-1) ?? 0,
        violations: totalViolations,
      });
    }
  };

  while (clock.now() < endAt) await step();
  accepting = false;
  // Drain: every runner still alive must finish on its own within bounded time.
  const drainUntil = clock.now() + STUCK_AFTER_MS + MINUTE;
  let allDone = false;
  void Promise.all(slots).then(() => {
    allDone = true;
  });
  while (!allDone && clock.now() < drainUntil) await step();
  await step();
  if (!allDone) {
    for (const life of active.values()) violate('not-finished', life.taskId, `runner ${life.runner.state}`);
  }
  if (clock.pendingTimers() > 0)
    violate('left-behind', '-', `${clock.pendingTimers()} timers after the drain`);

  // Memory: past a warm-up quarter, the last quarter's median must not exceed the first's by much.
  const warm = heapSamples.slice(Math.floor(heapSamples.length / 4));
  const quarter = Math.max(1, Math.floor(warm.length / 4));
  const firstQuarterMedian = median(warm.slice(0, quarter));
  const lastQuarterMedian = median(warm.slice(-quarter));
  if (
    warm.length >= 8 &&
    lastQuarterMedian - firstQuarterMedian > MEMORY_GROWTH_BYTES &&
    lastQuarterMedian > firstQuarterMedian * MEMORY_GROWTH_RATIO
  ) {
    violate('memory-growth', '-', `heap median ${firstQuarterMedian} → ${lastQuarterMedian} bytes`);
  }

  return {
    seed,
    simulatedMs: clock.now() - startAt,
    wallMs: Math.round(performance.now() - wallStart),
    lifecycles,
    runs,
    killed,
    detached,
    statsCalls,
    samplesPublished,
    faults,
    invalidSamples,
    totalFaults: FAULT_KINDS.reduce((sum, kind) => sum + faults[kind], 0),
    logLines,
    violationCounts,
    violations,
    heapSamples,
    heapGrowth: { firstQuarterMedian, lastQuarterMedian, slopeBytesPerMinute: Math.round(slope(warm)) },
  };
}
