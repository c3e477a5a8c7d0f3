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
import type { TaskBus, TaskEvent, TaskRef } from '../runtime/bus.js';
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
    startTask: fromCall(async (call) => effectsOf(call.self._parent).startTask(call)),
    waitTask: fromCall(async ({ self, signal }) => effectsOf(self._parent).waitTask(signal)),
    stopTask: fromCall<TaskExit, { taskId: string; timeoutMs: number }>(async (call) =>
      effectsOf(call.self._parent).stopTask(call.input.timeoutMs, call),
    ),
    destroyTask: fromCall(async ({ self }) => effectsOf(self._parent).destroyTask()),
    recoverTask: fromCall(async ({ self }) => effectsOf(self._parent).recoverTask()),
  },
  actions: {
    runHooks: ({ self }, { phase }) => effectsOf(self).runHooks(phase),
    taskEvent: ({ self }, params) => effectsOf(self).taskEvent(params),
    log: ({ self }, params) => effectsOf(self).log(params),
  },
});

/** Creates the runner of one task: the `taskRunnerMachine` with its driver calls and hooks provided. */
export function createTaskRunner(options: CreateTaskRunnerOptions): TaskRunner {
  const { task, driver, bus } = options;
  const ref: TaskRef = {
    taskId: task.id,
    name: task.name,
    ...(task.allocId ? { allocId: task.allocId } : {}),
  };
  const logger = (options.logger ?? silentLogger()).child({
    task: task.name,
    ...(task.allocId ? { alloc_id: task.allocId } : {}),
  });
  const stats = statsTaskHook({ ...options.statsHook, intervalMs: options.statsIntervalMs ?? 1000 });
  const hooks: AnyTaskHook[] = [stats, ...(options.hooks ?? [])];
  const events: TaskEvent[] = [];
  let latest: LatestResourceUsage | undefined;
  let handle: TaskHandle | undefined = options.recovered?.handle;

  const updater = {
    updateStats(sample: TaskResourceUsage) {
      latest = { sample, exited: false };
      bus?.emit('task:stats', { ...ref, sample, metrics: publishableMetrics(sample.resourceUsage) });
    },
  };
  /** The driver's final sample of the run that just ended (exact figures after the exit), if any. */
  let finalUsage: TaskResourceUsage | undefined;
  const markExited = () => {
    // Published before the task is marked exited, so it is the run's last sample (rule 13).
    if (finalUsage && isValidSample(finalUsage, latest?.sample.timestamp)) updater.updateStats(finalUsage);
    finalUsage = undefined;
    if (latest) latest = { sample: latest.sample, exited: true };
    bus?.emit('task:stats-ended', ref);
  };

  const exitOf = (result: ExitResult) => {
    finalUsage = result.usage;
    return toTaskExit(result);
  };

  let hookContext: TaskHookContext;
  const runHooks = (phase: HookPhase) => {
    if (phase === 'exited') markExited();
    for (const hook of hooks) {
      try {
        hook[phase]?.(hookContext);
      } catch (error) {
        // Stryker disable next-line StringLiteral: log text
        logger.error({ hook: hook.name, phase, error: String(error) }, 'task hook failed');
      }
    }
  };

  const effects: RunnerEffects = {
    async startTask(call) {
      handle = undefined; // the last run's, if any: gone (a saved state must not point at it)
      for (const hook of hooks) await hook.prestart?.(hookContext);
      const started = await driver.startTask(task);
      handle = started;
      // Killed while the driver was still starting it: the task came up after the runner stopped
      // supervising it. Destroy it, or a process started a moment too late would be left behind.
      if (call.cancelled() && actor.getSnapshot().context.killRequested) {
        // Stryker disable next-line StringLiteral: log text
        logger.debug('task started after it was killed: destroying it');
        await driver.destroyTask(task.id, { force: true });
      }
      return started.driverId === undefined ? {} : { driverId: started.driverId };
    },
    waitTask: async (signal) => exitOf(await driver.waitTask(task.id, signal)),
    async stopTask(timeoutMs, call) {
      await driver.stopTask(task.id, { timeoutMs, signal: options.killSignal ?? 'SIGTERM' });
      // The runner may have moved on (shutdown while killing): then no further driver call.
      if (call.cancelled()) throw CALL_CANCELLED;
      return exitOf(await driver.waitTask(task.id, call.signal));
    },
    destroyTask: () => driver.destroyTask(task.id, { force: true }),
    async recoverTask() {
      if (!handle) throw new Error('no saved handle to recover the task with');
      if (!driver.recoverTask) throw new Error(`the ${driver.name} driver cannot recover tasks`);
      for (const hook of hooks) await hook.recover?.(hookContext);
      await driver.recoverTask(task, handle);
    },
    runHooks,
    taskEvent(params) {
      const event: TaskEvent = { ...params, time: Date.now() };
      events.push(event);
      if (events.length > MAX_TASK_EVENTS) events.shift();
      logger.debug({ event: event.type }, event.message);
      bus?.emit('task:event', { ...ref, event });
    },
    log: ({ level, msg, error, driverId }) =>
      logger[level](
        { ...(error === undefined ? {} : { error }), ...(driverId ? { driver_id: driverId } : {}) },
        msg,
      ),
  };

  const shared = options.parent || options.inspect ? undefined : acquireSharedRoot();
  const actor = createActor(providedMachine, {
    id: `task-runner:${task.id}`,
    input: {
      taskId: task.id,
      jobType: options.jobType,
      restartPolicy: options.restartPolicy,
      killTimeoutMs: options.killTimeoutMs,
      killDeadlineMs: options.killDeadlineMs,
      killRetry: options.killRetry,
      recovered: options.recovered?.runner,
    },
    parent: options.parent ?? shared?.root ?? createSupervisorRoot({ inspect: options.inspect }),
  });
  hookContext = { task, driver, logger, runner: actor, updater };
  runnerEffects.register(actor, effects);

  let lastState = '';
  // One observer for the state changes and the end (an observer per concern doubled the work of
  // every transition's notification).
  const finished = new Promise<TaskRunnerOutput>((resolve, reject) => {
    actor.subscribe({
      next: (snapshot) => {
        const state = stateName(snapshot.value);
        if (state === lastState) return;
        lastState = state;
        // Stryker disable next-line StringLiteral: log text
        logger.debug({ state }, 'task state changed');
        bus?.emit('task:state', {
          ...ref,
          state,
          ...(snapshot.status === 'done' ? { failed: snapshot.context.failed } : {}),
        });
      },
      complete: () => resolve(actor.getSnapshot().output as TaskRunnerOutput),
      error: (error) => {
        // Stryker disable next-line StringLiteral: log text
        logger.error({ error: String(error) }, 'task runner crashed');
        reject(error);
      },
    });
  });
  const done = finished
    .then(async (output) => {
      await stats.settled();
      return output;
    })
    .finally(() => shared?.release());
  done.catch(() => {});
  actor.start();

  return {
    start: () => actor.send({ type: 'start' }),
    recover() {
      if (!options.recovered) throw new Error('recover(): the runner was not made with `recovered`');
      actor.send({ type: 'recover', mode: options.recovered.mode });
    },
    get handle() {
      return handle;
    },
    kill({ deadlineMs }: { deadlineMs?: number } = {}) {
      actor.send(deadlineMs === undefined ? { type: 'kill' } : { type: 'kill', deadlineMs });
      return done;
    },
    shutdown() {
      actor.send({ type: 'shutdown' });
      return done;
    },
    restart() {
      if (!actor.getSnapshot().can({ type: 'restart' })) return false;
      actor.send({ type: 'restart' });
      return true;
    },
    get state() {
      return stateName(actor.getSnapshot().value);
    },
    latestResourceUsage: () => latest,
    events,
    statsHook: stats,
    actor,
    done,
  };
}

/** `{ exited: 'destroying' }` reads as `exited`: the sub-steps are the runner's business. */
function stateName(value: string | Record<string, unknown>): string {
  return typeof value === 'string' ? value : (Object.keys(value)[0] ?? '');
}
