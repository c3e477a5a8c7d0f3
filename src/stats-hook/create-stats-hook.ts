import { type AnyActorRef, createActor, type InspectionEvent, type Observer } from 'xstate';
import type { BackoffOptions } from '../../machines/backoff.js';
import {
  backoffDelayMs,
  type LogParams,
  type StatsHookActor,
  type StatsHookOutput,
  statsHookMachine,
} from '../../machines/stats-hook.machine.js';
import type { TaskResourceUsage } from '../drivers/usage.js';
import { createEffectsRegistry } from '../runtime/effects-registry.js';
import { ErrorRateLimiter, type Logger, silentLogger } from '../runtime/logger.js';
import { type DriverStats, openStatsActor } from './open-stats.js';
import { readStatsActor } from './read-stats.js';

/** Nomad's `StatsUpdater`: the task runner side that keeps and publishes each sample. */
export interface StatsUpdater {
  updateStats(sample: TaskResourceUsage): void;
}

export type { DriverStats };

export interface CreateStatsHookOptions {
  taskId: string;
  /** Default 1000 ms. */
  intervalMs?: number | undefined;
  stats: DriverStats;
  updater: StatsUpdater;
  /** Bound to `task` by the hook. Default: silent. */
  logger?: Logger | undefined;
  backoff?: Partial<BackoffOptions> | undefined;
  /** Default 10 s. */
  openTimeoutMs?: number | undefined;
  /** Default: off. */
  stallTimeoutMs?: number | undefined;
  /** Random source for jitter, [0, 1). Default Math.random. */
  random?: (() => number) | undefined;
  /** Stately inspector (or any inspection observer) for a hook used on its own. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /** Joins a parent's actor system (the task runner's), so the inspector shows the tree. */
  parent?: AnyActorRef | undefined;
  /** Error and warn lines of one cause are let through at most once per this window. Default 60 s. */
  errorLogWindowMs?: number | undefined;
}

export interface StatsHook {
  /** The task is running: start collecting (a second call replaces the collector). */
  poststart(): void;
  /** The task exited: stop at once, deliver nothing more. */
  exited(): void;
  /** The agent is leaving (the task may live on): stop at once. */
  shutdown(): void;
  /** The machine's current state: `retrying`, `streaming`, `backoff` or `terminal` (`idle` before poststart). */
  readonly state: string;
  readonly actor: StatsHookActor;
  /** Resolves with the final output once the hook is terminal. */
  readonly done: Promise<StatsHookOutput>;
}

/** What one hook's effects need; the shared machine finds it by the hook's actor. */
interface HookEffects {
  stats: DriverStats;
  updater: StatsUpdater;
  log(params: LogParams): void;
  random: () => number;
}

const hookEffects = createEffectsRegistry<HookEffects>('stats hook');
const effectsOf = hookEffects.of;

/** The machine with its effects provided once for every hook (see `createEffectsRegistry`). */
const providedMachine = statsHookMachine.provide({
  actors: { openStats: openStatsActor((hook) => effectsOf(hook).stats), readStats: readStatsActor },
  actions: {
    publishSample: ({ self }, { sample }) => effectsOf(self).updater.updateStats(sample as TaskResourceUsage),
    log: ({ self }, params) => effectsOf(self).log(params),
  },
  delays: {
    retryDelay: ({ context, self }) => backoffDelayMs(context, effectsOf(self).random),
  },
});

/**
 * Creates the stats hook for one task: the `statsHookMachine` with its effects provided (the driver
 * call, the stream reader, the updater, pino logging with rate-limited errors and warnings).
 */
export function createStatsHook(options: CreateStatsHookOptions): StatsHook {
  const { taskId, updater, random = Math.random } = options;
  // The child logger and the rate limiter are made at the first line that needs them: most hooks
  // never log, and both showed in the start-up profile of 10,000 tasks (docs/benchmarks.md).
  let hookLogger: Logger | undefined;
  const logger = () => {
    const baseLogger = options.logger ?? silentLogger();
    // Inside a task runner the logger is already bound to the task (and alloc); alone, bind it here.
    hookLogger ??= baseLogger.child(
      'task' in baseLogger.bindings() ? { hook: 'stats' } : { task: taskId, hook: 'stats' },
    );
    return hookLogger;
  };
  // Warn lines repeat as errors do (a stream that throws every interval): the same limit, per level.
  let limiter: ErrorRateLimiter | undefined;

  const log = (params: LogParams) => {
    const fields: Record<string, unknown> = params.error === undefined ? {} : { error: params.error };
    if (params.level === 'error' || params.level === 'warn') {
      limiter ??= new ErrorRateLimiter(options.errorLogWindowMs);
      const admitted = limiter.admit(`${params.level}:${params.msg}`);
      if (!admitted) return;
      if (admitted.suppressed > 0) fields.suppressed = admitted.suppressed;
    } else if (!(hookLogger ?? options.logger)?.isLevelEnabled(params.level)) {
      return; // a debug line nobody reads (the default logger is silent)
    }
    logger()[params.level](fields, params.msg);
  };

  const actor = createActor(providedMachine, {
    input: {
      taskId,
      intervalMs: options.intervalMs,
      backoff: options.backoff,
      openTimeoutMs: options.openTimeoutMs,
      stallTimeoutMs: options.stallTimeoutMs,
    },
    ...(options.parent ? { parent: options.parent } : { inspect: options.inspect }),
    // Inside a runner the id must not vary per task: the hook's done event (`xstate.done.actor.<id>`)
    // goes to the shared runner machine, and XState memoizes transition candidates per event type
    // on its state nodes forever: a per-task id leaked ~100 bytes per task ever run (found by the soak).
    id: options.parent ? 'stats-hook:run' : `stats-hook:${taskId}`,
  });
  hookEffects.register(actor, { stats: options.stats, updater, log, random });

  let resolveDone!: (output: StatsHookOutput) => void;
  let rejectDone!: (error: unknown) => void;
  const done = new Promise<StatsHookOutput>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => {}); // callers that await it still see the rejection
  actor.subscribe({
    complete: () => resolveDone(actor.getSnapshot().output as StatsHookOutput),
    error: (error) => {
      // Stryker disable next-line StringLiteral: log text
      logger().error({ error: String(error) }, 'stats hook crashed');
      rejectDone(error);
    },
  });

  let started = false;
  let endedBeforeStart = false;
  /** Events to a hook that is already terminal are no-ops (spec rule 11), not warnings. */
  const send = (type: 'poststart' | 'exited' | 'shutdown') => {
    if (actor.getSnapshot().status === 'active') actor.send({ type });
  };
  const endBeforeStart = (reason: 'exited' | 'shutdown') => {
    endedBeforeStart = true;
    resolveDone({ taskId, reason, calls: 0, samples: 0, dropped: 0, openErrors: 0, streamEnds: 0 });
  };

  return {
    poststart() {
      // Stryker disable next-line StringLiteral: log text
      if (endedBeforeStart) return logger().debug('poststart after the hook ended: ignored');
      if (started) return send('poststart');
      started = true;
      actor.start();
    },
    exited() {
      if (started) send('exited');
      else if (!endedBeforeStart) endBeforeStart('exited');
    },
    shutdown() {
      if (started) send('shutdown');
      else if (!endedBeforeStart) endBeforeStart('shutdown');
    },
    get state() {
      if (endedBeforeStart) return 'terminal';
      return started ? String(actor.getSnapshot().value) : 'idle';
    },
    actor,
    done,
  };
}
