/**
 * A driver wrapper that injects faults into any `TaskDriver` by a seeded schedule, so a soak or a
 * test can replay exactly the run that failed. Every decision draws from one PRNG in call order:
 * the same seed, the same driver behaviour and the same (fake) clock give the same run.
 *
 * Faults, by where they strike:
 * - opening a stats stream (`taskStats`): every error class the stats hook classifies, or a hang
 *   (the call settles only when aborted);
 * - inside an opened stream: it ends early, throws, delays a sample (slow), or yields an invalid one;
 * - the task: it vanishes (stats and waits answer "task not found", its streams end);
 * - the driver: its process goes away for a while (starts and stats calls fail with
 *   `PluginShutdownError`, open streams throw it). Stop and destroy still reach the wrapped driver,
 *   so the wrapper never strands a task the inner driver would otherwise clean up.
 */
import { abortableSleep, untilAborted } from '../drivers/abortable-sleep.js';
import type { ExitResult, StopOptions, TaskDriver, TaskHandle, TaskSpec } from '../drivers/contract.js';
import {
  PluginShutdownError,
  RecoverableError,
  StatsNotImplementedError,
  TaskNotFoundError,
} from '../drivers/errors.js';
import type { TaskResourceUsage } from '../drivers/usage.js';
import type { SampleProblemCause } from '../drivers/validate-sample.js';

/** A small, fast, seedable PRNG (mulberry32): returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const OPEN_FAULTS = [
  'open-not-implemented',
  'open-recoverable',
  'open-unrecoverable',
  'open-plugin-shutdown',
  'open-task-not-found',
  'open-plain-error',
  'open-hang',
] as const;
export type OpenFault = (typeof OPEN_FAULTS)[number];

export const STREAM_FAULTS = ['stream-end', 'stream-throw', 'slow-sample', 'invalid-sample'] as const;
export type StreamFault = (typeof STREAM_FAULTS)[number];

export const INVALID_SAMPLE_KINDS = [
  'nan',
  'negative',
  'infinity',
  'wrong-type',
  'missing-field',
  'timestamp-backwards',
  'unknown-measured',
  'not-an-object',
] as const;
export type InvalidSampleKind = (typeof INVALID_SAMPLE_KINDS)[number];

/** The validator's cause each kind must be dropped for. */
export const INVALID_SAMPLE_CAUSE: Record<InvalidSampleKind, SampleProblemCause> = {
  nan: 'not-finite',
  negative: 'negative',
  infinity: 'not-finite',
  'wrong-type': 'wrong-type',
  'missing-field': 'missing-field',
  'timestamp-backwards': 'timestamp-backwards',
  'unknown-measured': 'unknown-measured',
  'not-an-object': 'not-an-object',
};

export type FaultKind = OpenFault | StreamFault | 'task-vanish' | 'driver-gone';
export const FAULT_KINDS: readonly FaultKind[] = [
  ...OPEN_FAULTS,
  ...STREAM_FAULTS,
  'task-vanish',
  'driver-gone',
];

export interface FaultOptions {
  seed: number;
  /** Chance that a `taskStats` call fails to open (or hangs). Default 0.3. */
  openFaultRate?: number;
  /** Relative weights of the open faults. Default: all 1, except not-implemented and unrecoverable 0.2
   * (they end stats collection for the run, so they would otherwise hide the other faults). */
  openFaultWeights?: Partial<Record<OpenFault, number>>;
  /** Chance that an opened stream ends, or throws, after a random 0–`maxSamplesBeforeFault` samples. */
  streamEndRate?: number;
  streamThrowRate?: number;
  maxSamplesBeforeFault?: number;
  /** Per sample: chance it comes late (by 1–`slowFactor` × interval), or is invalid. */
  slowSampleRate?: number;
  slowFactor?: number;
  invalidSampleRate?: number;
  /** Which invalid kinds to draw from. Default all. */
  invalidKinds?: readonly InvalidSampleKind[];
  /** Per `taskStats` call: chance the task vanishes, or the driver's process goes away. */
  taskVanishRate?: number;
  driverGoneRate?: number;
  /** How long the driver stays away: uniform in [min, max] ms. Default 1–8 s. */
  driverGoneMs?: readonly [number, number];
}

export interface FaultInjectingDriver extends TaskDriver {
  /** Faults injected so far, by kind. */
  readonly faults: Readonly<Record<FaultKind, number>>;
  /** Invalid samples injected, by kind. */
  readonly invalidSamples: Readonly<Record<InvalidSampleKind, number>>;
  /** True while the driver's process is "away". */
  readonly gone: boolean;
  /** Was this object yielded as an injected invalid sample? (So a checker can prove it was never published.) */
  isInjectedInvalid(sample: unknown): boolean;
  /** Calls in flight and streams open in the wrapper right now (all 0 when everything was cleaned up). */
  readonly active: number;
  /** Makes the task vanish now (as the schedule would): for tests that need a fault at a given moment. */
  vanish(taskId: string): void;
  /** Takes the driver's process away now, for `ms` (default: drawn from `driverGoneMs`). */
  goAway(ms?: number): void;
}

const DEFAULT_OPEN_WEIGHTS: Record<OpenFault, number> = {
  'open-not-implemented': 0.2,
  'open-recoverable': 1,
  'open-unrecoverable': 0.2,
  'open-plugin-shutdown': 1,
  'open-task-not-found': 1,
  'open-plain-error': 1,
  'open-hang': 1,
};

function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

/**
 * Returns a broken copy of `sample` (never mutates it). `previousTimestamp` is needed for
 * `timestamp-backwards`: the copy's timestamp goes below it.
 */
export function corruptSample(
  sample: TaskResourceUsage,
  kind: InvalidSampleKind,
  random: () => number = Math.random,
  previousTimestamp = sample.timestamp,
): unknown {
  if (kind === 'not-an-object') return random() < 0.5 ? null : 'sample';
  const copy = structuredClone(sample) as TaskResourceUsage & { pids?: Record<string, unknown> };
  // Strike the totals or a per-pid entry, memory or CPU, so every path of the validator is exercised.
  const inPid = random() < 0.3;
  if (inPid) copy.pids = { '4242': structuredClone(copy.resourceUsage) };
  const usage = (inPid ? copy.pids?.['4242'] : copy.resourceUsage) as Record<string, Record<string, unknown>>;
  const section = usage.memory && (random() < 0.5 || !usage.cpu) ? usage.memory : (usage.cpu ?? {});
  const field = 'rss' in section ? (random() < 0.5 ? 'rss' : 'usage') : 'percent';
  switch (kind) {
    case 'nan':
      section[field] = Number.NaN;
      break;
    case 'negative':
      section[field] = -1 - Math.floor(random() * 1000);
      break;
    case 'infinity':
      section[field] = random() < 0.5 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      break;
    case 'wrong-type': {
      const wrong = [String(section[field]), null, {}, [1], true, 10n];
      section[field] = wrong[Math.floor(random() * wrong.length)];
      break;
    }
    case 'missing-field':
      if (random() < 0.3) delete (copy as Partial<TaskResourceUsage>).timestamp;
      else delete section[field];
      break;
    case 'timestamp-backwards':
      copy.timestamp = previousTimestamp - 1 - Math.floor(random() * 10_000);
      break;
    case 'unknown-measured':
      section.measured = [...((section.measured as string[]) ?? []), random() < 0.5 ? 'Bogus' : 'rss'];
      break;
  }
  return copy;
}

interface TaskFaultState {
  vanished: boolean;
  /** Aborts every call and stream of the task at once when it vanishes. */
  controllers: Set<AbortController>;
  vanishWaiters: Set<(error: Error) => void>;
}

/** Wraps `driver` so it misbehaves by the seeded schedule in `options`. */
export function withFaults(driver: TaskDriver, options: FaultOptions): FaultInjectingDriver {
  const random = mulberry32(options.seed);
  const openFaultRate = options.openFaultRate ?? 0.3;
  const weights = { ...DEFAULT_OPEN_WEIGHTS, ...options.openFaultWeights };
  const totalWeight = OPEN_FAULTS.reduce((sum, fault) => sum + weights[fault], 0);
  const invalidKinds = options.invalidKinds ?? INVALID_SAMPLE_KINDS;
  const maxBefore = options.maxSamplesBeforeFault ?? 3;
  const [goneMin, goneMax] = options.driverGoneMs ?? [1000, 8000];
  const faults = zeroCounts<FaultKind>(FAULT_KINDS);
  const invalidSamples = zeroCounts<InvalidSampleKind>(INVALID_SAMPLE_KINDS);
  const injected = new WeakSet<object>();
  const tasks = new Map<string, TaskFaultState>();
  let goneUntil = Number.NEGATIVE_INFINITY;
  let goneControllers = new Set<AbortController>();
  let active = 0;

  const chance = (rate: number | undefined) => rate !== undefined && rate > 0 && random() < rate;
  const isGone = () => Date.now() < goneUntil;
  const stateOf = (taskId: string) => {
    let state = tasks.get(taskId);
    if (!state) {
      state = { vanished: false, controllers: new Set(), vanishWaiters: new Set() };
      tasks.set(taskId, state);
    }
    return state;
  };
  const pickOpenFault = (): OpenFault => {
    let roll = random() * totalWeight;
    for (const fault of OPEN_FAULTS) {
      roll -= weights[fault];
      if (roll < 0) return fault;
    }
    return 'open-plain-error';
  };
  const openError = (fault: Exclude<OpenFault, 'open-hang'>, taskId: string): Error => {
    switch (fault) {
      case 'open-not-implemented':
        return new StatsNotImplementedError();
      case 'open-recoverable':
        return new RecoverableError('injected: recoverable', true);
      case 'open-unrecoverable':
        return new RecoverableError('injected: container stopped', false);
      case 'open-plugin-shutdown':
        return new PluginShutdownError();
      case 'open-task-not-found':
        return new TaskNotFoundError(taskId);
      case 'open-plain-error':
        return new Error('injected: driver failure');
    }
  };

  const vanish = (taskId: string) => {
    const state = stateOf(taskId);
    if (state.vanished) return;
    state.vanished = true;
    faults['task-vanish'] += 1;
    const error = new TaskNotFoundError(taskId);
    for (const controller of state.controllers) controller.abort(error);
    for (const fail of state.vanishWaiters) fail(error);
    state.vanishWaiters.clear();
  };
  const goAway = (ms?: number) => {
    faults['driver-gone'] += 1;
    goneUntil = Date.now() + (ms ?? goneMin + random() * (goneMax - goneMin));
    const controllers = goneControllers;
    goneControllers = new Set();
    for (const controller of controllers) controller.abort(new PluginShutdownError());
  };

  /** One controller per call: aborted by the caller, the task vanishing, or the driver going away. */
  const linkController = (taskId: string, signal: AbortSignal) => {
    const controller = new AbortController();
    const state = stateOf(taskId);
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    state.controllers.add(controller);
    goneControllers.add(controller);
    const unlink = () => {
      signal.removeEventListener('abort', onAbort);
      state.controllers.delete(controller);
      goneControllers.delete(controller);
    };
    // However the call ends (caller, vanish, outage, a stream nobody reads being closed), it unlinks.
    controller.signal.addEventListener('abort', unlink, { once: true });
    if (signal.aborted) controller.abort(signal.reason);
    return { controller, unlink };
  };

  async function* faultyStream(
    inner: AsyncIterable<TaskResourceUsage>,
    intervalMs: number,
    controller: AbortController,
    unlink: () => void,
  ): AsyncGenerator<unknown> {
    const iterator = inner[Symbol.asyncIterator]();
    const endAfter = chance(options.streamEndRate) ? Math.floor(random() * (maxBefore + 1)) : -1;
    const throwAfter =
      endAfter < 0 && chance(options.streamThrowRate) ? Math.floor(random() * (maxBefore + 1)) : -1;
    let lastTimestamp: number | undefined;
    active += 1;
    try {
      for (let index = 0; ; index++) {
        if (index === endAfter) {
          faults['stream-end'] += 1;
          return;
        }
        if (index === throwAfter) {
          faults['stream-throw'] += 1;
          throw random() < 0.5
            ? new Error('injected: stream broke')
            : new RecoverableError('injected: read failed', true);
        }
        const next = await iterator.next();
        const reason: unknown = controller.signal.reason;
        if (reason instanceof PluginShutdownError) throw reason;
        if (next.done || controller.signal.aborted) return;
        if (chance(options.slowSampleRate)) {
          faults['slow-sample'] += 1;
          const delay = intervalMs * (1 + random() * ((options.slowFactor ?? 3) - 1));
          if (!(await abortableSleep(delay, controller.signal))) {
            if (controller.signal.reason instanceof PluginShutdownError) throw controller.signal.reason;
            return;
          }
        }
        const sample = next.value;
        if (chance(options.invalidSampleRate)) {
          let kind = invalidKinds[Math.floor(random() * invalidKinds.length)] ?? 'nan';
          // Backwards needs a sample the hook has already accepted in this stream to go back from.
          if (kind === 'timestamp-backwards' && lastTimestamp === undefined) kind = 'nan';
          faults['invalid-sample'] += 1;
          invalidSamples[kind] += 1;
          const bad = corruptSample(sample, kind, random, lastTimestamp);
          if (typeof bad === 'object' && bad !== null) injected.add(bad);
          yield bad;
          continue;
        }
        lastTimestamp = sample.timestamp;
        yield sample;
      }
    } finally {
      active -= 1;
      unlink();
      controller.abort();
      iterator.return?.()?.catch(() => {});
    }
  }

  const wrapped: FaultInjectingDriver = {
    name: driver.name,
    capabilities: driver.capabilities,
    get faults() {
      return faults;
    },
    get invalidSamples() {
      return invalidSamples;
    },
    get gone() {
      return isGone();
    },
    get active() {
      return active;
    },
    vanish,
    goAway,
    isInjectedInvalid: (sample) => typeof sample === 'object' && sample !== null && injected.has(sample),

    async startTask(task: TaskSpec): Promise<TaskHandle> {
      if (isGone()) throw new PluginShutdownError();
      // A new run of the task: it is known to the driver again.
      tasks.delete(task.id);
      return driver.startTask(task);
    },

    async waitTask(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
      const state = stateOf(taskId);
      if (state.vanished) throw new TaskNotFoundError(taskId);
      let fail!: (error: Error) => void;
      const vanished = new Promise<never>((_, reject) => {
        fail = reject;
      });
      state.vanishWaiters.add(fail);
      try {
        return await Promise.race([driver.waitTask(taskId, signal), vanished]);
      } finally {
        state.vanishWaiters.delete(fail);
      }
    },

    stopTask: (taskId: string, stopOptions: StopOptions) => driver.stopTask(taskId, stopOptions),

    async destroyTask(taskId, destroyOptions) {
      try {
        return await driver.destroyTask(taskId, destroyOptions);
      } finally {
        tasks.delete(taskId);
      }
    },

    async taskStats(taskId, intervalMs, signal) {
      if (isGone()) throw new PluginShutdownError();
      const state = stateOf(taskId);
      if (state.vanished) throw new TaskNotFoundError(taskId);
      if (chance(options.driverGoneRate)) {
        goAway();
        throw new PluginShutdownError();
      }
      if (chance(options.taskVanishRate)) {
        vanish(taskId);
        throw new TaskNotFoundError(taskId);
      }
      if (chance(openFaultRate)) {
        const fault = pickOpenFault();
        faults[fault] += 1;
        if (fault !== 'open-hang') throw openError(fault, taskId);
        const { controller, unlink } = linkController(taskId, signal);
        active += 1;
        try {
          return await untilAborted(controller.signal);
        } finally {
          active -= 1;
          unlink();
        }
      }
      const { controller, unlink } = linkController(taskId, signal);
      let inner: AsyncIterable<TaskResourceUsage>;
      try {
        inner = await driver.taskStats(taskId, intervalMs, controller.signal);
      } catch (error) {
        unlink();
        throw error;
      }
      return faultyStream(inner, intervalMs, controller, unlink) as AsyncIterable<TaskResourceUsage>;
    },
  };
  return wrapped;
}
