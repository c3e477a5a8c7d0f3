import { type AnyActorRef, createActor } from 'xstate';
import type { JobType, RestartPolicy } from '../../machines/restart-policy.js';
import {
  type HookPhase,
  type RecoveredRunner,
  type RecoveryMode,
  type TaskEventParams,
  type TaskExit,
  type TaskRunnerActor,
  type TaskRunnerOutput,
  taskRunnerMachine,
} from '../../machines/task-runner.machine.js';
import type { ExitResult, TaskDriver, TaskHandle, TaskSpec } from '../drivers/contract.js';
import { publishableMetrics, type TaskResourceUsage } from '../drivers/usage.js';
import { isValidSample } from '../drivers/validate-sample.js';
import { acquireSharedRoot, createSupervisorRoot, type InspectOption } from '../runtime/actor-system.js';
import type { TaskBus, TaskBusEvents, TaskEvent, TaskRef } from '../runtime/bus.js';
import { CALL_CANCELLED, type CallArgs, fromCall } from '../runtime/call-actor.js';
import { createEffectsRegistry } from '../runtime/effects-registry.js';
import { type Logger, silentLogger } from '../runtime/logger.js';
import type { AnyTaskHook, TaskHookContext } from './hooks.js';
import { type StatsHookSettings, type StatsTaskHook, statsTaskHook } from './stats-task-hook.js';

export interface CreateTaskRunnerOptions {
  task: TaskSpec;
  driver: TaskDriver;
  /** Bound to `task` and `alloc_id`. Default: silent. */
  logger?: Logger | undefined;
  /** Where state changes, task events and samples are published. */
  bus?: TaskBus | undefined;
  /** Default 1000 ms. */
  statsIntervalMs?: number | undefined;
  /** Batch tasks that exit 0 are done; service tasks restart. Default `service`. */
  jobType?: JobType | undefined;
  /** Defaults are Nomad's for the job type. */
  restartPolicy?: Partial<RestartPolicy> | undefined;
  /** Default 5 s. */
  killTimeoutMs?: number | undefined;
  /** How long a kill may take, failed stops retried included (see `TaskRunner.kill`). Default kill timeout + 30 s. */
  killDeadlineMs?: number | undefined;
  /** Backoff between failed stops. Default 500 ms doubling to 5 s. */
  killRetry?: { baseMs?: number; capMs?: number } | undefined;
  /** Stop signal for `kill()`. Default SIGTERM. */
  killSignal?: NodeJS.Signals | undefined;
  /** The stats hook's tuning (backoff, time-outs, jitter). */
  statsHook?: Omit<StatsHookSettings, 'intervalMs' | 'inspect'> | undefined;
  /** Your own hooks, called by phase after the stats hook. */
  hooks?: AnyTaskHook[] | undefined;
  /**
   * The actor system to join: an agent's root (see `createSupervisorRoot`). Default: one shared
   * process-wide root, or a root of its own when `inspect` is given.
   */
  parent?: AnyActorRef | undefined;
  /** Inspection observer (e.g. the Stately inspector) for a runner without `parent`. */
  inspect?: InspectOption | undefined;
  /**
   * A task an earlier agent started: what it saved of the runner, and the driver's handle to
   * re-attach the task with (`driver.recoverTask`). Such a runner is begun with `recover()`.
   */
  recovered?: { mode: RecoveryMode; runner: RecoveredRunner; handle: TaskHandle | undefined } | undefined;
}

export interface LatestResourceUsage {
  sample: TaskResourceUsage;
  /** True once the task has exited: the figures are its last, not live. */
  exited: boolean;
}

export interface TaskRunner {
  start(): void;
  /** Begins a runner made with `recovered`: re-attaches its task, starts it, or leaves it dead. */
  recover(): void;
  /** The driver's handle of the task's current run (what a later agent re-attaches it with). */
  readonly handle: TaskHandle | undefined;
  /**
   * Stops the task (stop signal, timeout, kill; failed stops retried with backoff) and resolves when
   * the runner is dead. By `deadlineMs` (default: the runner's `killDeadlineMs`) a task not confirmed
   * stopped is reported as such: a failing `Killing` event and `failed`.
   */
  kill(options?: { deadlineMs?: number }): Promise<TaskRunnerOutput>;
  /** Leaves the task running and stops supervising it. */
  shutdown(): Promise<TaskRunnerOutput>;
  /**
   * Stops the task and starts it again at once, outside its restart policy. Only a running task (or
   * one waiting to restart) can; returns false otherwise.
   */
  restart(): boolean;
  /** `pending`, `starting`, `running`, `killing`, `killFailed`, `exited`, `restarting`, `dead` or `detached`. */
  readonly state: string;
  latestResourceUsage(): LatestResourceUsage | undefined;
  /** The latest task events (at most 10, as Nomad keeps). */
  readonly events: readonly TaskEvent[];
  readonly statsHook: StatsTaskHook;
  readonly actor: TaskRunnerActor;
  /** Resolves when the runner is final and every hook actor it spawned is terminal. */
  readonly done: Promise<TaskRunnerOutput>;
}

const MAX_TASK_EVENTS = 10;

/**
 * `{ ...ref, ...fields }` without a spread. On Node 20 an object spread followed by more properties
 * gets a hidden class of its own every time (a map and its descriptors, ~250 B of old space that
 * only a full collection frees: one per bus event and per kept task event, the scale heap profile);
 * `Object.assign` onto a fresh literal keeps one shape per call site.
 */
const withRef = <T extends object>(ref: TaskRef, fields: T): TaskRef & T => Object.assign({}, ref, fields);

/**
 * The bus event of one sample. `metrics` is built when first read (the metrics sink reads it when
 * scraped): the map of every publishable figure was built for every sample of every task, read or not.
 * A class, not `{ ...ref, sample, get metrics() }`: that literal (a spread, then an accessor) cost
 * 5.6 % of exec-sampling's busy time on its own (a fresh shape and a closure per sample); here the
 * getter is the prototype's and every event of a runner has one of two shapes (with or without
 * `allocId`). The own properties are the ref's and `sample`, as before; `metrics` is read as before.
 */
class StatsEvent implements TaskRef {
  // Assigned in the constructor, in the order the literal had (`declare`: no field definitions first).
  declare readonly taskId: string;
  declare readonly name: string;
  declare readonly allocId?: string;
  declare readonly sample: TaskResourceUsage;
  #metrics: Map<string, number> | undefined = undefined;

  constructor(ref: TaskRef, sample: TaskResourceUsage) {
    const own = this as { taskId: string; name: string; allocId?: string; sample: TaskResourceUsage };
    own.taskId = ref.taskId;
    own.name = ref.name;
    if (ref.allocId !== undefined) own.allocId = ref.allocId;
    own.sample = sample;
  }

  get metrics(): Map<string, number> {
    this.#metrics ??= publishableMetrics(this.sample.resourceUsage);
    return this.#metrics;
  }
}

function statsEvent(ref: TaskRef, sample: TaskResourceUsage): TaskBusEvents['task:stats'] {
  return new StatsEvent(ref, sample);
}

function toTaskExit(result: ExitResult): TaskExit {
  const exit: TaskExit = { exitCode: result.exitCode, signal: result.signal, oomKilled: result.oomKilled };
  if (result.error) exit.error = result.error.message;
  return exit;
}

type LogParams = {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  error?: string;
  driverId?: string;
};

/** What one runner's effects need; the shared machine finds it by the runner's actor. */
interface RunnerEffects {
  startTask(call: CallArgs<unknown>): Promise<{ driverId?: string }>;
  waitTask(signal: AbortSignal): Promise<TaskExit>;
  stopTask(timeoutMs: number, call: CallArgs<unknown>): Promise<TaskExit>;
  destroyTask(): Promise<void>;
  recoverTask(): Promise<void>;
  runHooks(phase: HookPhase): void;
  taskEvent(params: TaskEventParams): void;
  log(params: LogParams): void;
}

const runnerEffects = createEffectsRegistry<RunnerEffects>('task runner');
const effectsOf = runnerEffects.of;

/**
 * The machine with its effects provided once for every runner (see `createEffectsRegistry`).
 * Invoked actors reach their runner as `self._parent`.
 */
const providedMachine = taskRunnerMachine.provide({
  // `fromCall`: promise actors that make an AbortController only for the calls that use one.
  actors: {
    startTask: fromCall((call) => effectsOf(call.self._parent).startTask(call)),
    waitTask: fromCall(({ self, signal }) => effectsOf(self._parent).waitTask(signal)),
    stopTask: fromCall<TaskExit, { taskId: string; timeoutMs: number }>((call) =>
      effectsOf(call.self._parent).stopTask(call.input.timeoutMs, call),
    ),
    destroyTask: fromCall(({ self }) => effectsOf(self._parent).destroyTask()),
    recoverTask: fromCall(({ self }) => effectsOf(self._parent).recoverTask()),
  },
  actions: {
    runHooks: ({ self }, { phase }) => effectsOf(self).runHooks(phase),
    taskEvent: ({ self }, params) => effectsOf(self).taskEvent(params),
    log: ({ self }, params) => effectsOf(self).log(params),
  },
});

/** Creates the runner of one task: the `taskRunnerMachine` with its driver calls and hooks provided. */
export function createTaskRunner(options: CreateTaskRunnerOptions): TaskRunner {
  const core = new RunnerCore(options);
  const shared = options.parent || options.inspect ? undefined : acquireSharedRoot();
  const actor = createActor(providedMachine, {
    id: `task-runner:${options.task.id}`,
    input: {
      taskId: options.task.id,
      jobType: options.jobType,
      restartPolicy: options.restartPolicy,
      killTimeoutMs: options.killTimeoutMs,
      killDeadlineMs: options.killDeadlineMs,
      killRetry: options.killRetry,
      recovered: options.recovered?.runner,
    },
    parent: options.parent ?? shared?.root ?? createSupervisorRoot({ inspect: options.inspect }),
  });
  core.runner = actor;
  runnerEffects.register(actor, core);
  return new Runner(core, actor, shared);
}

/**
 * One runner's state and effects (what the shared machine finds by its actor), and the context its
 * hooks get. Classes, not objects of closures: 10,000 runners share their methods, where object
 * literals with getters were dictionary-mode objects and a closure per method, per task (the scale
 * heap profile, docs/benchmarks.md).
 */
class RunnerCore implements RunnerEffects, TaskHookContext {
  readonly task: TaskSpec;
  readonly driver: TaskDriver;
  readonly logger: Logger;
  /** Set as soon as the actor is made (before it starts). */
  runner!: TaskRunnerActor;
  readonly updater: { updateStats(sample: TaskResourceUsage): void } = this;
  readonly stats: StatsTaskHook;
  readonly hooks: AnyTaskHook[];
  readonly events: TaskEvent[] = [];
  readonly ref: TaskRef;
  readonly recovered: CreateTaskRunnerOptions['recovered'];
  latest: LatestResourceUsage | undefined;
  handle: TaskHandle | undefined;
  /** The driver's final sample of the run that just ended (exact figures after the exit), if any. */
  private finalUsage: TaskResourceUsage | undefined;
  private readonly bus: TaskBus | undefined;
  private readonly killSignal: NodeJS.Signals;

  constructor(options: CreateTaskRunnerOptions) {
    const { task } = options;
    this.task = task;
    this.driver = options.driver;
    this.bus = options.bus;
    this.killSignal = options.killSignal ?? 'SIGTERM';
    this.recovered = options.recovered;
    this.handle = options.recovered?.handle;
    this.ref = {
      taskId: task.id,
      name: task.name,
      ...(task.allocId ? { allocId: task.allocId } : {}),
    };
    this.logger = (options.logger ?? silentLogger()).child({
      task: task.name,
      ...(task.allocId ? { alloc_id: task.allocId } : {}),
    });
    this.stats = statsTaskHook(
      Object.assign({}, options.statsHook, { intervalMs: options.statsIntervalMs ?? 1000 }),
    );
    this.hooks = [this.stats, ...(options.hooks ?? [])];
  }

  updateStats(sample: TaskResourceUsage): void {
    this.latest = { sample, exited: false };
    this.bus?.emit('task:stats', statsEvent(this.ref, sample));
  }

  private markExited(): void {
    // Published before the task is marked exited, so it is the run's last sample (rule 13).
    const { finalUsage, latest } = this;
    if (finalUsage && isValidSample(finalUsage, latest?.sample.timestamp)) this.updateStats(finalUsage);
    this.finalUsage = undefined;
    if (this.latest) this.latest = { sample: this.latest.sample, exited: true };
    this.bus?.emit('task:stats-ended', this.ref);
  }

  private exitOf(result: ExitResult): TaskExit {
    this.finalUsage = result.usage;
    return toTaskExit(result);
  }

  runHooks(phase: HookPhase): void {
    if (phase === 'exited') this.markExited();
    for (const hook of this.hooks) {
      try {
        hook[phase]?.(this);
      } catch (error) {
        // Stryker disable next-line StringLiteral: log text
        this.logger.error({ hook: hook.name, phase, error: String(error) }, 'task hook failed');
      }
    }
  }

  async startTask(call: CallArgs<unknown>): Promise<{ driverId?: string }> {
    const { task, driver } = this;
    this.handle = undefined; // the last run's, if any: gone (a saved state must not point at it)
    for (const hook of this.hooks) await hook.prestart?.(this);
    const started = await driver.startTask(task);
    this.handle = started;
    // Killed while the driver was still starting it: the task came up after the runner stopped
    // supervising it. Destroy it, or a process started a moment too late would be left behind.
    if (call.cancelled() && this.runner.getSnapshot().context.killRequested) {
      // Stryker disable next-line StringLiteral: log text
      this.logger.debug('task started after it was killed: destroying it');
      await driver.destroyTask(task.id, { force: true });
    }
    return started.driverId === undefined ? {} : { driverId: started.driverId };
  }

  waitTask(signal: AbortSignal): Promise<TaskExit> {
    return this.driver.waitTask(this.task.id, signal).then((result) => this.exitOf(result));
  }

  async stopTask(timeoutMs: number, call: CallArgs<unknown>): Promise<TaskExit> {
    await this.driver.stopTask(this.task.id, { timeoutMs, signal: this.killSignal });
    // The runner may have moved on (shutdown while killing): then no further driver call.
    if (call.cancelled()) throw CALL_CANCELLED;
    return this.exitOf(await this.driver.waitTask(this.task.id, call.signal));
  }

  destroyTask(): Promise<void> {
    return this.driver.destroyTask(this.task.id, { force: true });
  }

  async recoverTask(): Promise<void> {
    const { driver, handle } = this;
    if (!handle) throw new Error('no saved handle to recover the task with');
    if (!driver.recoverTask) throw new Error(`the ${driver.name} driver cannot recover tasks`);
    for (const hook of this.hooks) await hook.recover?.(this);
    await driver.recoverTask(this.task, handle);
  }

  taskEvent(params: TaskEventParams): void {
    const event: TaskEvent = Object.assign({}, params, { time: Date.now() });
    this.events.push(event);
    if (this.events.length > MAX_TASK_EVENTS) this.events.shift();
    this.logger.debug({ event: event.type }, event.message);
    this.bus?.emit('task:event', withRef(this.ref, { event }));
  }

  log({ level, msg, error, driverId }: LogParams): void {
    this.logger[level](
      { ...(error === undefined ? {} : { error }), ...(driverId ? { driver_id: driverId } : {}) },
      msg,
    );
  }

  /** The runner's one observer: state changes on the bus (an observer per concern doubled the work). */
  observe(shared: { release(): void } | undefined): Promise<TaskRunnerOutput> {
    const actor = this.runner;
    let lastState = '';
    // One promise pending for the runner's life (and its `catch`), not a chain of four.
    const done = new Promise<TaskRunnerOutput>((resolve, reject) => {
      actor.subscribe({
        next: (snapshot) => {
          const state = stateName(snapshot.value);
          if (state === lastState) return;
          lastState = state;
          // Stryker disable next-line StringLiteral: log text
          this.logger.debug({ state }, 'task state changed');
          this.bus?.emit(
            'task:state',
            withRef(
              this.ref,
              snapshot.status === 'done' ? { state, failed: snapshot.context.failed } : { state },
            ),
          );
        },
        complete: () => {
          const output = actor.getSnapshot().output as TaskRunnerOutput;
          // Done once every hook actor it spawned is terminal too; then it leaves its shared root.
          resolve(
            this.stats
              .settled()
              .then(() => output)
              .finally(() => shared?.release()),
          );
        },
        error: (error) => {
          // Stryker disable next-line StringLiteral: log text
          this.logger.error({ error: String(error) }, 'task runner crashed');
          shared?.release();
          reject(error);
        },
      });
    });
    done.catch(() => {});
    return done;
  }
}

class Runner implements TaskRunner {
  readonly done: Promise<TaskRunnerOutput>;

  constructor(
    private readonly core: RunnerCore,
    readonly actor: TaskRunnerActor,
    shared: { release(): void } | undefined,
  ) {
    this.done = core.observe(shared);
    actor.start();
  }

  start(): void {
    this.actor.send({ type: 'start' });
  }

  recover(): void {
    const { recovered } = this.core;
    if (!recovered) throw new Error('recover(): the runner was not made with `recovered`');
    this.actor.send({ type: 'recover', mode: recovered.mode });
  }

  get handle(): TaskHandle | undefined {
    return this.core.handle;
  }

  kill({ deadlineMs }: { deadlineMs?: number } = {}): Promise<TaskRunnerOutput> {
    this.actor.send(deadlineMs === undefined ? { type: 'kill' } : { type: 'kill', deadlineMs });
    return this.done;
  }

  shutdown(): Promise<TaskRunnerOutput> {
    this.actor.send({ type: 'shutdown' });
    return this.done;
  }

  restart(): boolean {
    if (!this.actor.getSnapshot().can({ type: 'restart' })) return false;
    this.actor.send({ type: 'restart' });
    return true;
  }

  get state(): string {
    return stateName(this.actor.getSnapshot().value);
  }

  latestResourceUsage(): LatestResourceUsage | undefined {
    return this.core.latest;
  }

  get events(): readonly TaskEvent[] {
    return this.core.events;
  }

  get statsHook(): StatsTaskHook {
    return this.core.stats;
  }
}

/** `{ exited: 'destroying' }` reads as `exited`: the sub-steps are the runner's business. */
function stateName(value: string | Record<string, unknown>): string {
  return typeof value === 'string' ? value : (Object.keys(value)[0] ?? '');
}
