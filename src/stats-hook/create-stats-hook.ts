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
  return new TaskStatsHook(options);
}

/**
 * One hook, and the effects its actor finds (it registers itself). A class rather than an object of
 * closures: 10,000 hooks share its methods, where an object literal with getters was a
 * dictionary-mode object and a closure per method, per task (the scale heap profile).
 */
class TaskStatsHook implements StatsHook, HookEffects {
  readonly actor: StatsHookActor;
  readonly stats: DriverStats;
  readonly updater: StatsUpdater;
  readonly random: () => number;
  private readonly options: CreateStatsHookOptions;
  // The child logger and the rate limiter are made at the first line that needs them: most hooks
  // never log, and both showed in the start-up profile of 10,000 tasks (docs/benchmarks.md).
  private hookLogger: Logger | undefined;
  // Warn lines repeat as errors do (a stream that throws every interval): the same limit, per level.
  private limiter: ErrorRateLimiter | undefined;
  private started = false;
  private endedBeforeStart = false;
  /** How the hook ended, once it has; the first end counts. */
  private outcome: { output: StatsHookOutput } | { error: unknown } | undefined;
  // `done` is made when first asked for (most hooks are asked once, when their runner ends): a
  // pending promise, its resolvers and its `catch` per task otherwise.
  private donePromise: Promise<StatsHookOutput> | undefined;
  private settle: { resolve(output: StatsHookOutput): void; reject(error: unknown): void } | undefined;

  constructor(options: CreateStatsHookOptions) {
    const { taskId } = options;
    this.options = options;
    this.stats = options.stats;
    this.updater = options.updater;
    this.random = options.random ?? Math.random;
    this.actor = createActor(providedMachine, {
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
    hookEffects.register(this.actor, this);

    this.actor.subscribe({
      complete: () => this.end({ output: this.actor.getSnapshot().output as StatsHookOutput }),
      error: (error) => {
        // Stryker disable next-line StringLiteral: log text
        this.logger().error({ error: String(error) }, 'stats hook crashed');
        this.end({ error });
      },
    });
  }

  get done(): Promise<StatsHookOutput> {
    if (!this.donePromise) {
      const { outcome } = this;
      this.donePromise = new Promise<StatsHookOutput>((resolve, reject) => {
        if (!outcome) this.settle = { resolve, reject };
        else if ('output' in outcome) resolve(outcome.output);
        else reject(outcome.error);
      });
      this.donePromise.catch(() => {}); // callers that await it still see the rejection
    }
    return this.donePromise;
  }

  private end(outcome: { output: StatsHookOutput } | { error: unknown }): void {
    if (this.outcome) return;
    this.outcome = outcome;
    const { settle } = this;
    this.settle = undefined;
    if (!settle) return;
    if ('output' in outcome) settle.resolve(outcome.output);
    else settle.reject(outcome.error);
  }

  private logger(): Logger {
    if (!this.hookLogger) {
      const baseLogger = this.options.logger ?? silentLogger();
      // Inside a task runner the logger is already bound to the task (and alloc); alone, bind it here.
      this.hookLogger = baseLogger.child(
        'task' in baseLogger.bindings() ? { hook: 'stats' } : { task: this.options.taskId, hook: 'stats' },
      );
    }
    return this.hookLogger;
  }

  log(params: LogParams): void {
    const fields: Record<string, unknown> = params.error === undefined ? {} : { error: params.error };
    if (params.level === 'error' || params.level === 'warn') {
      this.limiter ??= new ErrorRateLimiter(this.options.errorLogWindowMs);
      const admitted = this.limiter.admit(`${params.level}:${params.msg}`);
      if (!admitted) return;
      if (admitted.suppressed > 0) fields.suppressed = admitted.suppressed;
    } else if (!(this.hookLogger ?? this.options.logger)?.isLevelEnabled(params.level)) {
      return; // a debug line nobody reads (the default logger is silent)
    }
    this.logger()[params.level](fields, params.msg);
  }

  /** Events to a hook that is already terminal are no-ops (spec rule 11), not warnings. */
  private send(type: 'poststart' | 'exited' | 'shutdown'): void {
    if (this.actor.getSnapshot().status === 'active') this.actor.send({ type });
  }

  private endBeforeStart(reason: 'exited' | 'shutdown'): void {
    this.endedBeforeStart = true;
    this.end({
      output: {
        taskId: this.options.taskId,
        reason,
        calls: 0,
        samples: 0,
        dropped: 0,
        openErrors: 0,
        streamEnds: 0,
      },
    });
  }

  poststart(): void {
    if (this.endedBeforeStart) {
      // Stryker disable next-line StringLiteral: log text
      this.logger().debug('poststart after the hook ended: ignored');
    } else if (this.started) {
      this.send('poststart');
    } else {
      this.started = true;
      this.actor.start();
    }
  }

  exited(): void {
    if (this.started) this.send('exited');
    else if (!this.endedBeforeStart) this.endBeforeStart('exited');
  }

  shutdown(): void {
    if (this.started) this.send('shutdown');
    else if (!this.endedBeforeStart) this.endBeforeStart('shutdown');
  }

  get state(): string {
    if (this.endedBeforeStart) return 'terminal';
    return this.started ? String(this.actor.getSnapshot().value) : 'idle';
  }
}
