/**
 * The agent: runs jobs. One allocation per group instance (`count`), one task runner per task (each
 * with its stats hook), all publishing on one bus; an optional HTTP API and a Prometheus sink read
 * from them. It ends when every task is dead, unless told to keep serving; `stop()` kills the tasks
 * or detaches from them, within a deadline.
 *
 * With a `dataDir` the agent saves its state there on every change (docs/recovery.md) and locks it;
 * a new agent on the same dir takes up what the last one left: its allocations (same ids), its
 * plugins, and every task by its driver handle, without starting a second copy.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';
import type { RestartPolicy } from '../../machines/restart-policy.js';
import type { TaskRunnerOutput } from '../../machines/task-runner.machine.js';
import type { TaskDriver, TaskSpec } from '../drivers/contract.js';
import { DEFAULT_EXEC_LOG_DIR, DEFAULT_LOG_POLICY, removeAllocationLogs } from '../drivers/exec/task-logs.js';
import type { PluginDriver } from '../plugins/plugin-driver.js';
import { createSupervisorRoot } from '../runtime/actor-system.js';
import { createBus, type TaskBus, type TaskRef } from '../runtime/bus.js';
import { ensureWritableDirectory } from '../runtime/ensure-directory.js';
import { type Logger, silentLogger } from '../runtime/logger.js';
import { createTaskRunner, type TaskRunner } from '../task-runner/create-task-runner.js';
import { resolveDrivers } from './drivers.js';
import { createHttpApi, type HttpApi, type HttpLimits, type Route } from './http-api.js';
import { logRoutes } from './http-logs.js';
import type { Job, JobGroup, JobTask } from './job-schema.js';
import { createMetricsSink, type MetricLabels, type MetricsSink } from './metrics.js';
import { attachedTo, collectPlugins, driverKeyOf, releasePlugins } from './plugin-drivers.js';
import { type DataDirLock, lockDataDir } from './state/data-dir-lock.js';
import { StateError } from './state/errors.js';
import { planRecovery, type RecoveryPlan } from './state/recovery-plan.js';
import {
  type AgentState,
  PLUGIN_LOG_DIR,
  readState,
  type SavedTask,
  STATE_VERSION,
} from './state/state-file.js';
import { createStateWriter, type StateWriter } from './state/state-writer.js';
import { createLiveState, type LiveState } from './ui/live-state.js';
import { uiRoutes } from './ui/ui-routes.js';
import { trackUsage, type UsageSummary } from './usage-summary.js';

export type StopMode = 'kill' | 'detach';

/** How long a stop waits, after its deadline, for the drivers' force destroy of what is left. */
export const FORCE_DESTROY_WAIT_MS = 3000;

export interface CreateAgentOptions {
  /** Parsed jobs (see `loadJobFile`). */
  jobs: Job[];
  /** Drivers by name; built-ins (`exec`, `docker`, `mock`) are created for names not given. */
  drivers?: Record<string, TaskDriver> | undefined;
  /** Default: silent. */
  logger?: Logger | undefined;
  /** Default: a new bus. */
  bus?: TaskBus | undefined;
  /** Serve the HTTP API (default port 4646 on 127.0.0.1; port 0 picks a free one). Off when omitted. */
  http?:
    | {
        port?: number | undefined;
        host?: string | undefined;
        token?: string | undefined;
        limits?: Partial<HttpLimits> | undefined;
        /** More routes on the same server, tried after the API's own and before the web UI's. */
        routes?: readonly Route[] | undefined;
        /** Serve the web UI at `/ui` (live charts and machines, docs/ui.md). Default true. */
        ui?: boolean | undefined;
      }
    | undefined;
  /** Prometheus metric name prefix. Default `taskpulse_task`. */
  metricsPrefix?: string | undefined;
  /** Add the agent process's own metrics (prom-client's defaults) to the Prometheus text. Default true. */
  processMetrics?: boolean | undefined;
  /** Keep running (and serving the API) after every task is dead, until `stop()`. */
  keepServing?: boolean | undefined;
  /**
   * What `stop()` does by default: `kill` (default) stops the tasks and clears the saved state;
   * `detach` leaves tasks and plugins running and keeps the state for the next agent. A crash of
   * the agent behaves like `detach`.
   */
  onStop?: StopMode | undefined;
  /**
   * Where the agent saves its state and takes its lock (docs/recovery.md). A new agent on the same
   * dir recovers the tasks of the last one. Default: none (nothing saved; the CLI has a default).
   */
  dataDir?: string | undefined;
  /**
   * How long `stop()` waits for the tasks. Default 30 s. In kill mode, tasks still alive at the
   * deadline are force-destroyed by their driver (SIGKILL of every process, cgroup removed), which
   * may take up to `FORCE_DESTROY_WAIT_MS` more.
   */
  shutdownDeadlineMs?: number | undefined;
  /** Inspection observer (Stately inspector, a recorder) for every runner's actor system. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /** Exec driver output directory (default `DEFAULT_EXEC_LOG_DIR`); Docker socket path (built-in drivers only). */
  execLogDir?: string | undefined;
  /** Keep the tasks' log files when the agent ends (by default an allocation's go with it). */
  keepLogs?: boolean | undefined;
  /**
   * Run the built-in exec driver out of process (`taskpulse plugin exec`, docs/plugins.md). Default
   * false: in process costs less CPU per sample (docs/plugins.md weighs it against the crash boundary).
   */
  execOutOfProcess?: boolean | undefined;
  /** Exec driver's parent cgroup (default `taskpulse`). */
  execCgroupParent?: string | undefined;
  dockerSocketPath?: string | undefined;
}

export interface AgentTask {
  readonly name: string;
  readonly spec: TaskSpec;
  readonly config: JobTask;
  readonly runner: TaskRunner;
  /** Set once the runner is final. */
  output: TaskRunnerOutput | undefined;
}

export interface Allocation {
  /** A UUID, as Nomad's. */
  readonly id: string;
  /** `<job>.<group>[<index>]`, as Nomad names allocations. */
  readonly name: string;
  readonly job: Job;
  readonly group: JobGroup;
  readonly index: number;
  readonly tasks: ReadonlyMap<string, AgentTask>;
}

export interface TaskSummary {
  allocId: string;
  job: string;
  group: string;
  task: string;
  state: string;
  failed: boolean;
  restarts: number;
  exitCode: number | null;
  signal: string | null;
  /** null when never measured (shown as absent, not 0). */
  peakRssBytes: number | null;
  /** Summed over runs; exact from the kernel's figures at each exit where the driver gives them. */
  cpuSeconds: number | null;
  /** Samples taken: 0 when the driver measured nothing. */
  samples: number;
}

export interface AgentSummary {
  tasks: TaskSummary[];
  /** True when some task failed (its restart policy gave up, or it could not start). */
  failed: boolean;
  /** Why the agent ended. */
  reason: 'tasks-done' | 'stopped';
  /** Set when `stop()` hit its deadline with tasks still alive. */
  timedOut: boolean;
}

export interface Agent {
  readonly bus: TaskBus;
  readonly allocations: readonly Allocation[];
  allocation(id: string): Allocation | undefined;
  readonly metrics: MetricsSink;
  readonly usage: UsageSummary;
  /** The HTTP API's URL once started (when enabled). */
  readonly url: string | undefined;
  /** Resolves the drivers, starts the HTTP API, then every task. */
  start(): Promise<void>;
  /** Kills (or detaches from) every task within the deadline; resolves with `done`'s summary. */
  stop(options?: { mode?: StopMode; deadlineMs?: number }): Promise<AgentSummary>;
  /** Resolves when the agent has ended (every task dead and not keeping serving, or stopped). */
  readonly done: Promise<AgentSummary>;
  /** State writes so far and their cost (with a `dataDir`). */
  readonly stateWrites: StateWriter['stats'] | undefined;
}

function restartPolicyOf(group: JobGroup): Partial<RestartPolicy> | undefined {
  const restart = group.restart;
  if (!restart) return undefined;
  const policy: Partial<RestartPolicy> = {};
  if (restart.attempts !== undefined) policy.attempts = restart.attempts;
  if (restart.interval !== undefined) policy.intervalMs = restart.interval;
  if (restart.delay !== undefined) policy.delayMs = restart.delay;
  if (restart.mode !== undefined) policy.mode = restart.mode;
  return policy;
}

/** Whose saved task this is: allocations are matched to the job files by job, group and index. */
const allocKey = (job: string, group: string, index: number) => `${job}.${group}[${index}]`;

function taskSpec(allocId: string, task: JobTask): TaskSpec {
  const spec: TaskSpec = { id: `${allocId}/${task.name}`, name: task.name, allocId, config: task.config };
  if (task.env) spec.env = task.env;
  if (task.logs) {
    spec.logs = {
      maxFiles: task.logs.max_files ?? DEFAULT_LOG_POLICY.maxFiles,
      maxFileSizeBytes:
        task.logs.max_file_size === undefined
          ? DEFAULT_LOG_POLICY.maxFileSizeBytes
          : task.logs.max_file_size * 2 ** 20,
    };
  }
  if (task.resources) {
    spec.resources = {
      ...(task.resources.cpu === undefined ? {} : { cpuMhz: task.resources.cpu }),
      ...(task.resources.memory === undefined ? {} : { memoryMb: task.resources.memory }),
      ...(task.resources.cores === undefined ? {} : { cores: task.resources.cores }),
    };
  }
  return spec;
}

/** Share of the shutdown deadline a runner's kill may take, failed stops retried included. */
const KILL_REPORT_SHARE = 0.9;

export function createAgent(options: CreateAgentOptions): Agent {
  const bus = options.bus ?? createBus();
  const logger = options.logger ?? silentLogger();
  const deadlineDefault = options.shutdownDeadlineMs ?? 30_000;
  const allocations: Allocation[] = [];
  const byId = new Map<string, Allocation>();
  const taskLabels = new Map<string, MetricLabels>();

  const metrics = createMetricsSink({
    bus,
    labelsFor: (ref: TaskRef) => taskLabels.get(ref.taskId),
    ...(options.metricsPrefix ? { prefix: options.metricsPrefix } : {}),
    processMetrics: options.processMetrics ?? true,
  });
  const usage = trackUsage(bus);
  let http: HttpApi | undefined;
  // One bus subscription and one inspection observer per actor system, whatever the pages open.
  const live: LiveState | undefined =
    options.http && options.http.ui !== false ? createLiveState({ bus, allocations }) : undefined;
  let url: string | undefined;
  let stopping: Promise<AgentSummary> | undefined;
  let timedOut = false;
  let ended = false;

  let resolveDone!: (summary: AgentSummary) => void;
  const done = new Promise<AgentSummary>((resolve) => {
    resolveDone = resolve;
  });

  // Plugins by name from every job (a name defined two ways throws here, before anything runs).
  const plugins = collectPlugins(options.jobs);
  const ownedPlugins: PluginDriver[] = [];
  // Allocations exist from the start, so the API lists them (pending) before anything runs.
  const plans: { alloc: Allocation; tasks: Map<string, AgentTask>; driverNames: string[] }[] = [];
  for (const job of options.jobs) {
    for (const group of job.groups) {
      for (let index = 0; index < group.count; index++) {
        const id = randomUUID();
        const tasks = new Map<string, AgentTask>();
        const alloc: Allocation = {
          id,
          name: `${job.name}.${group.name}[${index}]`,
          job,
          group,
          index,
          tasks,
        };
        allocations.push(alloc);
        byId.set(id, alloc);
        plans.push({ alloc, tasks, driverNames: group.tasks.map(driverKeyOf) });
      }
    }
  }

  const summary = (reason: AgentSummary['reason']): AgentSummary => {
    const tasks: TaskSummary[] = allocations.flatMap((alloc) =>
      [...alloc.tasks.values()].map((task) => {
        const totals = usage.get(task.spec.id);
        const output = task.output;
        const snapshot = task.runner.actor.getSnapshot();
        return {
          allocId: alloc.id,
          job: alloc.job.name,
          group: alloc.group.name,
          task: task.name,
          state: task.runner.state,
          failed: output?.failed ?? snapshot.context.failed,
          restarts: output?.restarts ?? snapshot.context.restarts,
          exitCode: snapshot.context.lastExit?.exitCode ?? null,
          signal: snapshot.context.lastExit?.signal ?? null,
          peakRssBytes: totals?.peakRssBytes ?? null,
          cpuSeconds: totals?.cpuSeconds ?? null,
          samples: totals?.samples ?? 0,
        };
      }),
    );
    return { tasks, failed: tasks.some((task) => task.failed), reason, timedOut };
  };

  const logDir = options.execLogDir ?? DEFAULT_EXEC_LOG_DIR;
  /** An allocation's logs go with it, unless kept on purpose or a detached task still writes them. */
  const removeLogs = () => {
    if (options.keepLogs) return;
    for (const alloc of allocations) {
      const tasks = [...alloc.tasks.values()];
      if (tasks.some((task) => task.output?.state === 'detached')) continue;
      if (!alloc.group.tasks.some((task) => task.driver === 'exec')) continue;
      try {
        removeAllocationLogs(logDir, alloc.id);
      } catch (error) {
        logger.warn({ alloc_id: alloc.id, error: String(error) }, 'cannot remove the task logs');
      }
    }
  };

  const finish = async (reason: AgentSummary['reason']) => {
    if (ended) return;
    ended = true;
    const result = summary(reason);
    removeLogs();
    live?.flush();
    await http?.close();
    // Detached, the state stays for the next agent; otherwise nothing is left to recover.
    if (reason === 'stopped' && stopMode === 'detach') await writer?.flush();
    else await writer?.clear();
    await lock?.release();
    await releaseOwnedPlugins(reason === 'stopped' && stopMode === 'detach');
    live?.close();
    root?.stop();
    metrics.close();
    usage.close();
    logger.info({ reason, failed: result.failed }, 'agent stopped');
    resolveDone(result);
  };

  /**
   * The agent's plugins go after their tasks: detached with them (plugin and tasks run on for the
   * next agent, whose state names them), else stopped. Before this agent took the saved state over
   * (a stop or a failure while it started), a plugin it attached to is left as it was found: its
   * tasks are the ones that state names.
   */
  const releaseOwnedPlugins = (detach: boolean) =>
    releasePlugins(ownedPlugins.splice(0), (driver) => detach || (!writer && attachedTo(driver)));

  let root: AnyActorRef | undefined;
  let drivers: Map<string, TaskDriver> | undefined;
  let stopMode: StopMode = options.onStop ?? 'kill';

  // Saved state (with a data dir): the lock, what the last agent left, and the writer of ours.
  const dataDir = options.dataDir;
  let lock: DataDirLock | undefined;
  let writer: StateWriter | undefined;
  /** Saved tasks by `<alloc id>/<task name>`, once the saved allocations are matched to ours. */
  const savedTasks = new Map<string, SavedTask>();
  /** Each task's last state before a detach (what the next agent must see), by task id. */
  const liveStates = new Map<string, string>();

  const snapshot = (): AgentState => ({
    version: STATE_VERSION,
    savedAt: Date.now(),
    agent: { pid: process.pid },
    allocations: allocations.map((alloc) => ({
      id: alloc.id,
      job: alloc.job.name,
      group: alloc.group.name,
      index: alloc.index,
      tasks: [...alloc.tasks.values()].map((task) => {
        const context = task.runner.actor.getSnapshot().context;
        const handle = task.runner.handle;
        return {
          name: task.name,
          driver: driverKeyOf(task.config),
          spec: task.spec as SavedTask['spec'],
          state: liveStates.get(task.spec.id) ?? 'pending',
          ...(handle ? { handle: handle as NonNullable<SavedTask['handle']> } : {}),
          restarts: context.restarts,
          ...(context.restartWindow ? { restartWindow: context.restartWindow } : {}),
          failed: context.failed,
          ...(context.lastExit ? { lastExit: context.lastExit } : {}),
        };
      }),
    })),
    plugins: Object.fromEntries(
      [...(drivers ?? [])].flatMap(([key, driver]) => {
        const reattach = (driver as Partial<PluginDriver>).reattach;
        return reattach ? [[key, reattach]] : [];
      }),
    ),
  });

  /** Locks the data dir and reads what the last agent saved; its allocations take their old ids. */
  const openDataDir = async (dir: string) => {
    try {
      await ensureWritableDirectory(dir);
    } catch (error) {
      throw new StateError(`data dir ${dir}: ${(error as Error).message}`);
    }
    lock = await lockDataDir(dir);
    try {
      const saved = await readState(dir);
      if (saved) adoptAllocations(saved, dir);
      return saved;
    } catch (error) {
      await lock.release();
      lock = undefined;
      throw error;
    }
  };
  const adoptAllocations = (saved: AgentState, dir: string) => {
    const ours = new Map(
      allocations.map((alloc) => [allocKey(alloc.job.name, alloc.group.name, alloc.index), alloc]),
    );
    for (const old of saved.allocations) {
      const alloc = ours.get(allocKey(old.job, old.group, old.index));
      const missing = old.tasks.find(
        (task) => !alloc?.group.tasks.some((config) => config.name === task.name),
      );
      if (!alloc || missing) {
        throw new StateError(
          `the agent state in ${dir} has ${missing ? `task "${missing.name}" of ` : ''}allocation ${allocKey(old.job, old.group, old.index)} (${old.id}), which the job files do not define; run the agent with the job files it was started with (nothing was started)`,
        );
      }
      // A task that may still run on the driver it was started with is that driver's to take up:
      // started on another, it would run twice, the first copy (a plugin's child, a container)
      // orphaned.
      for (const task of old.tasks) {
        const config = alloc.group.tasks.find((candidate) => candidate.name === task.name);
        const now = config && driverKeyOf(config);
        if (task.state !== 'dead' && now !== task.driver) {
          throw new StateError(
            `the agent state in ${dir} has task "${task.name}" of allocation ${allocKey(old.job, old.group, old.index)} (${old.id}) on the ${task.driver} driver, and the job files now run it on ${now}; run the agent with the job files it was started with and stop the job, then change its driver (nothing was started)`,
          );
        }
      }
      byId.delete(alloc.id);
      (alloc as { id: string }).id = old.id;
      byId.set(old.id, alloc);
      for (const task of old.tasks) savedTasks.set(`${old.id}/${task.name}`, task);
    }
  };
  const allTasks = () => allocations.flatMap((alloc) => [...alloc.tasks.values()]);
  /**
   * A plugin relaunched under this agent serves from another process: saved at once, or a crash
   * would leave the next agent a dead pid to attach to and the relaunched plugin to nobody.
   */
  const savePluginMoves = (driver: PluginDriver, stateWriter: StateWriter) => {
    let saved = driver.reattach?.pid;
    driver.actor.subscribe(() => {
      const pid = driver.reattach?.pid;
      if (ended || pid === undefined || pid === saved) return;
      saved = pid;
      stateWriter.changed();
    });
  };

  /**
   * A saved task this agent starts (or leaves dead) may still run: an agent killed after its driver
   * forked the task and before the state write that saved the handle (or the write of `starting`
   * itself) left a process no state names. Its driver kills what it finds of it first (exec: by its
   * cgroup and the task id in its environment), so a task never runs twice and nothing of it is
   * orphaned. Nomad's docker driver does the same with a container it finds under the task's name.
   */
  const clearBeforeStart = async (plansOf: Map<string, RecoveryPlan>, byKey: Map<string, TaskDriver>) => {
    const specsOf = new Map<TaskDriver, TaskSpec[]>();
    for (const [id, plan] of plansOf) {
      const saved = savedTasks.get(id);
      const driver = saved && byKey.get(saved.driver);
      if (plan.mode === 'running' || !saved || !driver?.clearTasks) continue;
      specsOf.set(driver, [...(specsOf.get(driver) ?? []), saved.spec as TaskSpec]);
    }
    await Promise.all(
      [...specsOf].map(([driver, specs]) =>
        driver.clearTasks!(specs).catch((error: unknown) =>
          logger.warn(
            { driver: driver.name, error: String(error) },
            'cannot look for what the last agent left of the tasks it was starting',
          ),
        ),
      ),
    );
  };

  /** The deadline is the promise: what is still alive is SIGKILLed by its driver, not left behind. */
  const forceDestroy = async (alive: AgentTask[]) => {
    let timer: NodeJS.Timeout | undefined;
    const destroyed = Promise.allSettled(
      alive.map((task) => drivers?.get(task.config.driver)?.destroyTask(task.spec.id, { force: true })),
    );
    const waited = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), FORCE_DESTROY_WAIT_MS);
    });
    const result = await Promise.race([destroyed, waited]);
    clearTimeout(timer);
    if (result === 'late')
      logger.error({ waitedMs: FORCE_DESTROY_WAIT_MS }, 'force destroy of tasks still running');
    else {
      for (const [index, outcome] of result.entries()) {
        if (outcome.status === 'rejected') {
          logger.error(
            { task: alive[index]?.spec.id, error: String(outcome.reason) },
            'cannot force-destroy task',
          );
        }
      }
    }
  };

  const agent: Agent = {
    bus,
    allocations,
    allocation: (id) => byId.get(id),
    metrics,
    usage,
    get url() {
      return url;
    },
    async start() {
      const saved = dataDir ? await openDataDir(dataDir) : undefined;
      if (saved) {
        logger.info(
          { dataDir, allocations: saved.allocations.length, tasks: savedTasks.size },
          'recovering the state of the last agent',
        );
      }
      // Inspected, the whole agent is one actor system: the inspector shows agent → runners → stats
      // hooks. Otherwise runners share small systems (see src/runtime/actor-system.ts).
      root = options.inspect ? createSupervisorRoot({ id: 'agent', inspect: options.inspect }) : undefined;
      const needed = plans.flatMap((plan) => plan.driverNames);
      // The exec tasks of an agent that ran exec out of process are that plugin's children: they
      // are taken up through it (attached to, or relaunched), whatever this agent was told.
      const execOutOfProcess = options.execOutOfProcess || saved?.plugins.exec !== undefined;
      if (execOutOfProcess && !options.execOutOfProcess) {
        logger.info({}, 'the last agent ran the exec driver out of process: so does this one');
      }
      drivers = await resolveDrivers(needed, options.drivers ?? {}, {
        logger,
        ...(options.execLogDir ? { execLogDir: options.execLogDir } : {}),
        ...(options.execCgroupParent ? { execCgroupParent: options.execCgroupParent } : {}),
        ...(options.dockerSocketPath ? { dockerSocketPath: options.dockerSocketPath } : {}),
        plugins,
        ...(execOutOfProcess ? { execOutOfProcess: true } : {}),
        ...(root ? { parent: root } : {}),
        owned: ownedPlugins,
        // With a data dir the next agent attaches to them; without one nobody could, so they exit
        // with the agent.
        ...(dataDir ? { outliveHost: true, pluginLogDir: join(dataDir, PLUGIN_LOG_DIR) } : {}),
        ...(saved ? { reattach: saved.plugins } : {}),
      });
      // Stopped (a signal) while the drivers were resolved: start nothing, or the tasks would outlive it;
      // `finish` ran before the plugins were known, so they are let go here.
      if (stopping) {
        await releaseOwnedPlugins(stopMode === 'detach');
        await lock?.release();
        return;
      }
      if (options.http) {
        http = createHttpApi({
          ...options.http,
          agent,
          metrics,
          logger,
          // Routes given by the embedder come before the web UI's, so they may take its paths.
          routes: [
            ...logRoutes(agent, logDir),
            ...(options.http.routes ?? []),
            ...(live ? uiRoutes({ live }) : []),
          ],
        });
        url = await http.listen();
        if (stopping) {
          await http.close(); // `finish` closed it before it listened
          return;
        }
        logger.info({ url }, 'HTTP API listening');
      }
      /** What each saved task's runner does (re-attach, start, stay dead), decided before any runs. */
      const plansOf = new Map<string, RecoveryPlan>();
      for (const [id, task] of savedTasks) {
        const driver = drivers.get(task.driver);
        if (driver) plansOf.set(id, await planRecovery(task, driver));
      }
      await clearBeforeStart(plansOf, drivers);
      for (const { alloc, tasks } of plans) {
        const allocLogger = logger.child({ job: alloc.job.name, task_group: alloc.group.name });
        for (const config of alloc.group.tasks) {
          const savedTask = savedTasks.get(`${alloc.id}/${config.name}`);
          const recovered = plansOf.get(`${alloc.id}/${config.name}`);
          // A recovered task keeps the spec it was started with (what its driver knows it by).
          const spec = savedTask ? (savedTask.spec as TaskSpec) : taskSpec(alloc.id, config);
          taskLabels.set(spec.id, {
            job: alloc.job.name,
            task_group: alloc.group.name,
            alloc_id: alloc.id,
            task: config.name,
            namespace: alloc.job.namespace,
          });
          const runner = createTaskRunner({
            task: spec,
            driver: drivers!.get(driverKeyOf(config))!,
            bus,
            logger: allocLogger,
            jobType: alloc.job.type,
            ...(alloc.group.restart ? { restartPolicy: restartPolicyOf(alloc.group) } : {}),
            ...(config.stats_interval === undefined ? {} : { statsIntervalMs: config.stats_interval }),
            ...(config.kill_timeout === undefined ? {} : { killTimeoutMs: config.kill_timeout }),
            ...(config.kill_signal === undefined ? {} : { killSignal: config.kill_signal }),
            ...(root ? { parent: root } : {}),
            ...(recovered ? { recovered } : {}),
          });
          const task: AgentTask = { name: config.name, spec, config, runner, output: undefined };
          runner.done.then(
            (output) => {
              task.output = output;
            },
            (error: unknown) =>
              logger.error({ task: config.name, error: String(error) }, 'task runner failed'),
          );
          tasks.set(config.name, task);
        }
      }
      live?.attach();
      if (dataDir) {
        // Saved before any task starts, so a crash from here on is recovered with these ids.
        const stateWriter = createStateWriter(dataDir, snapshot, logger);
        writer = stateWriter;
        bus.on('task:state', ({ taskId, state }) => {
          // A detach is this agent leaving, not a change of the task: the next one sees it as it was.
          if (state !== 'detached') liveStates.set(taskId, state);
          stateWriter.changed();
        });
        for (const task of allTasks()) {
          const saved = savedTasks.get(task.spec.id);
          if (saved) liveStates.set(task.spec.id, saved.state);
        }
        for (const driver of ownedPlugins) savePluginMoves(driver, stateWriter);
        stateWriter.changed();
        await stateWriter.flush();
      }
      logger.info({ allocations: allocations.length, tasks: allTasks().length }, 'agent started');
      for (const task of allTasks()) {
        if (plansOf.has(task.spec.id)) task.runner.recover();
        else task.runner.start();
      }

      void Promise.allSettled(allTasks().map((task) => task.runner.done)).then(() => {
        if (options.keepServing || stopping) return;
        void finish('tasks-done');
      });
    },
    stop({ mode = options.onStop ?? 'kill', deadlineMs = deadlineDefault } = {}) {
      stopping ??= (async () => {
        stopMode = mode;
        logger.info({ mode, deadlineMs }, 'agent stopping');
        // A runner already final has nothing to stop (XState warns about events sent to it).
        const runners = allTasks().map((task) =>
          task.runner.actor.getSnapshot().status !== 'active'
            ? task.runner.done
            : mode === 'kill'
              ? // A runner gives up on a stop it cannot confirm a little before the deadline, so the
                // failure (event, log, `failed`) is reported before the deadline passes.
                task.runner.kill({ deadlineMs: Math.floor(deadlineMs * KILL_REPORT_SHARE) })
              : task.runner.shutdown(),
        );
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<'deadline'>((resolve) => {
          timer = setTimeout(() => resolve('deadline'), deadlineMs);
        });
        const outcome = await Promise.race([Promise.allSettled(runners), deadline]);
        clearTimeout(timer);
        if (outcome === 'deadline') {
          timedOut = true;
          const alive = allTasks().filter((task) => !task.output);
          logger.warn(
            { alive: alive.map((task) => task.spec.id), deadlineMs, mode },
            mode === 'kill'
              ? 'shutdown deadline passed with tasks still alive: killing them'
              : 'shutdown deadline passed with tasks still alive',
          );
          if (mode === 'kill') await forceDestroy(alive);
        }
        await finish('stopped');
        return done;
      })();
      return stopping;
    },
    done,
    get stateWrites() {
      return writer?.stats;
    },
  };
  return agent;
}
