/**
 * The exec driver: runs tasks as plain child processes and streams their resource usage from /proc
 * and, when the agent is root and the host allows it, from a cgroup per task.
 *
 * - Each task runs in its own session and process group (pgid = pid); stop and destroy signal the
 *   whole group, and also every pid of the task's cgroup or /proc tree (a process that called
 *   `setsid` has left the group but not the cgroup).
 * - Stdout and stderr go to `<logDir>/<alloc id>/<task>.{stdout,stderr}`, rotated and retained as the
 *   task's `logs` policy says (`task-logs.ts`), checked once a second while the task runs.
 * - Without a cgroup the agent makes itself a child subreaper (native helper), so a process that
 *   left the task's tree is re-parented to it and still killed with its task (see orphans.ts).
 *   The log directory is made once, without a synchronous recursive mkdir.
 * - Starts are bounded (concurrency and an fd budget, start-gate.ts); a start that fails for lack of
 *   fds or processes (EMFILE, ENFILE, EAGAIN) is retried, never turned into a permanent failure.
 * - `taskStats` samples at once, then once per interval, and ends when the task's main process
 *   exits. Read failures other than "process gone" are retried inside the stream, never thrown.
 * See docs/drivers/exec.md for the configuration, the cgroup layouts and the measured costs.
 */
import type { ChildProcess } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { ensureWritableDirectory } from '../../runtime/ensure-directory.js';
import { type Logger, silentLogger } from '../../runtime/logger.js';
import { abortableSleep } from '../abortable-sleep.js';
import type {
  ExecDriverState,
  ExitResult,
  StopOptions,
  TaskDriver,
  TaskHandle,
  TaskSpec,
} from '../contract.js';
import { RecoverableError, TaskNotFoundError } from '../errors.js';
import { sampleTicker } from '../sample-clock.js';
import type { TaskResourceUsage } from '../usage.js';
import {
  type CgroupSupport,
  cgroupName,
  cgroupParentProblem,
  detectCgroupLayout,
  parentDirs,
  type TaskCgroup,
} from './cgroups.js';
import { exactTimes, exitUsage, type TimedSample } from './exit-usage.js';
import { HeldFile } from './held-file.js';
import { type HostCpu, hostHasSwap, readHostCpu } from './host-cpu.js';
import { killLeftovers } from './leftovers.js';
import { addTaskPid, deleteTaskPid, type OrphanTracker, trackOrphans } from './orphans.js';
import { listProcessTree, liveGroupMembers } from './process-tree.js';
import { reapedCpu, resetReapedBaseline } from './reaped-cpu.js';
import {
  cgroupStateOf,
  checkRecoverable,
  execStateOf,
  processIdentity,
  removeLostCgroup,
  startTimeOf,
  watchRecoveredExit,
} from './recover.js';
import { createTaskSampler, type TaskSampler } from './sampler.js';
import { spawnTask } from './spawn-task.js';
import { createStartGate, fdBudgetOf, openFileLimit } from './start-gate.js';
import { type CgroupManager, createCgroupManager } from './task-cgroup.js';
import { createLimitsApplier } from './task-limits.js';
import {
  DEFAULT_EXEC_LOG_DIR,
  DEFAULT_LOG_POLICY,
  type LogStream,
  pastSizeLimit,
  rotateLog,
  type TaskLogPaths,
  taskLogPaths,
} from './task-logs.js';

export interface ExecDriverOptions {
  /** Where per-task stdout/stderr logs go. Default `<os.tmpdir()>/taskpulse-exec-logs` (`DEFAULT_EXEC_LOG_DIR`). */
  logDir?: string | undefined;
  /** Default: silent. */
  logger?: Logger | undefined;
  /** `false` never uses cgroups; `auto` (default) uses them when root and the host allows it. */
  cgroups?: 'auto' | false | undefined;
  /** Task cgroups are created under `<hierarchy>/<cgroupParent>/`. Default `taskpulse`. */
  cgroupParent?: string | undefined;
  /** Give tasks the agent's environment under `TaskSpec.env`. Default true. */
  inheritEnv?: boolean | undefined;
  /** How long destroy waits for a killed task's processes and cgroup to go. Default 2000 ms. */
  reapTimeoutMs?: number | undefined;
  /** Without cgroups: how often a task's process tree is walked for new processes. Default 5000 ms. */
  treeRescanMs?: number | undefined;
  /** How often a re-attached task (not this process's child) is checked for its exit. Default 100 ms. */
  recoveredExitPollMs?: number | undefined;
  /** For tests: the layout to assume instead of detecting it. */
  cgroupSupport?: CgroupSupport | undefined;
  /** Task starts in flight at most. Default 32. */
  startConcurrency?: number | undefined;
  /** Fds the driver's held files may use. Default: the soft RLIMIT_NOFILE less a reserve. */
  fdBudget?: number | undefined;
  /** How long a start is retried while it fails for lack of fds or processes. Default 60 s. */
  startRetryMs?: number | undefined;
}

export interface ExecDriver extends TaskDriver {
  /** What the driver uses: a cgroup layout, or `none` with the reason. */
  readonly cgroups: CgroupSupport;
  /** A task's pid, log files and cgroup directories, for diagnostics and tests. */
  describeTask(
    taskId: string,
  ): { pid: number; stdoutPath: string; stderrPath: string; cgroupPaths: readonly string[] } | undefined;
  /**
   * SIGKILLs every process of every task now (process group, cgroup, /proc tree, adopted orphans),
   * synchronously: for a forced exit, which cannot wait for the runners.
   */
  killAll(): void;
  /** Force-destroys every task (kills, waits for the processes, removes the cgroups). */
  destroyAll(): Promise<void>;
  /** From now on every start fails (queued ones too): the agent is stopping. */
  refuseStarts(): void;
}

interface ExecTask {
  spec: TaskSpec;
  pid: number;
  /** Absent for a re-attached task: another process started it. */
  child: ChildProcess | undefined;
  cgroup: TaskCgroup | undefined;
  /** The handle's `driverState`, what a later driver needs to re-attach it. */
  state: ExecDriverState;
  /** Stops watching for the exit (a re-attached task's /proc poll). */
  unwatch: () => void;
  exit: ExitResult | undefined;
  exited: Promise<ExitResult>;
  /** Aborted when the main process exits: ends the task's stats streams. */
  life: AbortController;
  /** Monotonic ms at spawn, and the newest sample any stream yielded: the final sample's baselines. */
  startedAt: number;
  last: TimedSample | undefined;
  /** A `stopTask` is in flight: a forced destroy meanwhile keeps the exit for its `waitTask`. */
  stopping: boolean;
}

const POLL_MS = 20;
/** How often a running task's log files are checked against their size limit. */
const LOG_ROTATE_CHECK_MS = 1000;
const STREAMS: readonly LogStream[] = ['stdout', 'stderr'];
const SAMPLE_ATTEMPTS = 3;
const DEFAULT_START_CONCURRENCY = 32;

/** Failures that mean "not now" (out of fds or processes), never "never". */
const TRANSIENT_CODES = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM', 'EBUSY']);
function isTransient(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && TRANSIENT_CODES.has(code)) return true;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return cause !== undefined && cause !== error && isTransient(cause);
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already (ESRCH): nothing to signal.
  }
}

/** True while a live process is in process group `pgid` (zombies waiting for init do not count). */
function groupAlive(pgid: number): boolean {
  try {
    // Cheap first check: no process at all in the group, zombies included.
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return liveGroupMembers(pgid).length > 0;
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const never = new AbortController().signal;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await abortableSleep(POLL_MS, never);
  }
  return true;
}

export function createExecDriver(options: ExecDriverOptions = {}): ExecDriver {
  const logger = (options.logger ?? silentLogger()).child({ driver: 'exec' });
  const logDir = options.logDir ?? DEFAULT_EXEC_LOG_DIR;
  const cgroupParent = options.cgroupParent ?? 'taskpulse';
  const parentProblem = cgroupParentProblem(cgroupParent);
  if (parentProblem) throw new Error(`exec driver: cgroupParent "${cgroupParent}" ${parentProblem}`);
  const startRetryMs = options.startRetryMs ?? 60_000;
  const reapTimeoutMs = options.reapTimeoutMs ?? 2000;
  const recoveredExitPollMs = options.recoveredExitPollMs ?? 100;
  const host: HostCpu = readHostCpu();
  const swapOnHost = hostHasSwap();
  const tasks = new Map<string, ExecTask>();

  let support: CgroupSupport =
    options.cgroups === false
      ? { version: 'none', reason: 'disabled by configuration' }
      : (options.cgroupSupport ?? detectCgroupLayout());
  let manager: CgroupManager | undefined;
  if (support.version !== 'none') {
    manager = createCgroupManager(support, cgroupParent);
    support = manager.prepare();
    if (support.version === 'none') manager = undefined;
  }
  if (support.version === 'none') {
    logger.info(
      { reason: support.reason },
      'cgroups unavailable: exec stats come from the /proc process tree',
    );
  } else {
    logger.debug({ cgroups: support.version, parent: cgroupParent }, 'exec driver uses cgroups');
  }

  /** A cgroup read at exit that fails leaves that figure out; it must not throw from an exit handler. */
  const readQuietly = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      logger.debug({ error: String(error) }, 'exec cgroup read at exit failed');
      return undefined;
    }
  };

  const applyLimits = createLimitsApplier(logger, () => support);

  let orphans: OrphanTracker | undefined;
  let refusing = false;
  const refused = (spec: TaskSpec) =>
    new RecoverableError(`exec task ${spec.id} not started: the agent is stopping`, false);
  let logDirReady: Promise<void> | undefined;
  const gate = createStartGate({
    concurrency: options.startConcurrency ?? DEFAULT_START_CONCURRENCY,
    fdBudget: options.fdBudget ?? fdBudgetOf(openFileLimit()),
    fdsInUse: () => HeldFile.openCount,
    onFdWait: (waiting) =>
      logger.info({ waiting, heldFds: HeldFile.openCount }, 'fd budget reached: task starts wait'),
  });

  /** Exits of tasks force-destroyed while a stop was waiting (the agent's shutdown deadline). */
  const destroyedWhileStopping = new Map<string, ExitResult>();

  const find = (taskId: string) => {
    const task = tasks.get(taskId);
    if (!task) throw new TaskNotFoundError(taskId);
    return task;
  };

  /** Signals the group, the cgroup's pids, and (while the main process lives) its /proc tree. */
  const signalTask = (task: ExecTask, signal: NodeJS.Signals) => {
    const pids = new Set<number>(task.cgroup?.pids() ?? []);
    if (!task.exit) for (const pid of listProcessTree(task.pid)) pids.add(pid);
    if (!task.cgroup) for (const pid of orphans?.pidsOf(task.spec.id) ?? []) pids.add(pid);
    signalQuietly(-task.pid, signal);
    for (const pid of pids) signalQuietly(pid, signal);
  };

  const newCgroup = (taskId: string): TaskCgroup | undefined => {
    if (!manager) return undefined;
    try {
      return manager.create(taskId);
    } catch (error) {
      // Out of fds or memory for a moment: the start is retried, cgroups stay on. This task's
      // cgroup still in use by another run of it (a `RecoverableError`): only this task fails.
      if (isTransient(error) || error instanceof RecoverableError) throw error;
      // The host refused (delegation, read-only cgroupfs): say so once and carry on without.
      logger.info(
        { error: (error as Error).message },
        'cannot create task cgroups: exec stats come from the /proc process tree',
      );
      support = { version: 'none', reason: (error as Error).message };
      manager = undefined;
      return undefined;
    }
  };

  /**
   * Where a task of this id may have a cgroup: under this driver's parent, and where the handle of an
   * earlier run says (only a directory of the task's own name: a damaged state never points this at
   * another cgroup).
   */
  const cgroupDirsOf = (taskId: string, saved?: ExecDriverState['cgroup']): string[] => {
    const name = cgroupName(taskId);
    const dirs = new Set(
      manager ? parentDirs(manager.layout, cgroupParent).map((dir) => join(dir, name)) : [],
    );
    const fromHandle = !saved ? [] : saved.version === 'v2' ? [saved.dir] : Object.values(saved.dirs);
    for (const dir of fromHandle) if (basename(dir) === name) dirs.add(dir);
    return [...dirs];
  };

  /** SIGKILLs what is left of these tasks (not run by this driver) and removes their cgroups. */
  const clearLeftovers = async (taskIds: readonly string[], saved?: ExecDriverState['cgroup']) => {
    const killed = await killLeftovers(
      taskIds.filter((id) => !tasks.has(id)),
      {
        exclude: new Set([process.pid]),
        cgroupDirsOf: (taskId) => cgroupDirsOf(taskId, saved),
        timeoutMs: reapTimeoutMs,
      },
    );
    for (const [taskId, pids] of killed) {
      logger.warn(
        { task: taskId, pids },
        'killed processes of the task that no driver watched (left by an agent that ended without them)',
      );
    }
    return Object.fromEntries(killed);
  };

  async function startOnce(spec: TaskSpec): Promise<TaskHandle> {
    if (refusing) throw refused(spec);
    const cgroup = newCgroup(spec.id);
    // Before the process exists: an escapee of its first microseconds must already come to us.
    if (!cgroup) orphans ??= trackOrphans(logger);
    let spawned: Awaited<ReturnType<typeof spawnTask>>;
    let spawnedPid: number | undefined;
    let startTime: number | undefined;
    try {
      applyLimits(spec, cgroup);
      spawned = await spawnTask({
        spec,
        logDir,
        ...(cgroup ? { procsFiles: cgroup.procsFiles } : {}),
        ...(options.inheritEnv === false ? { inheritEnv: false } : {}),
        onPid: (pid) => {
          spawnedPid = pid;
          startTime = startTimeOf(pid);
          addTaskPid(pid);
        },
      });
    } catch (error) {
      if (spawnedPid !== undefined) deleteTaskPid(spawnedPid);
      await cgroup?.remove();
      manager?.release();
      throw error;
    }
    const { child, pid } = spawned;
    if (!cgroup) resetReapedBaseline();
    const task = track(
      {
        spec,
        pid,
        child,
        cgroup,
        state: {
          // Read when the pid was known, before the loop could reap a child that exits at once.
          startTime: startTime ?? 0,
          ...(cgroup ? { cgroup: cgroupStateOf(cgroup) } : {}),
          stdoutPath: spawned.stdoutPath,
          stderrPath: spawned.stderrPath,
        },
        logPaths: taskLogPaths(logDir, spec.allocId ?? spec.id, spec.name),
      },
      (finish) => {
        child.once('exit', (exitCode, signal) => finish({ exitCode, signal }));
        return () => {};
      },
    );
    // Errors after spawn (a failed kill) must not crash the agent; exits are handled above.
    child.on('error', (error) => logger.debug({ task: spec.id, error: String(error) }, 'exec child error'));
    tasks.set(spec.id, task);
    logger.debug({ task: spec.id, pid, command: spawned.command }, 'exec task started');
    return handleOf(task);
  }

  const handleOf = (task: ExecTask): TaskHandle => ({
    taskId: task.spec.id,
    startedAt: Date.now(),
    pid: task.pid,
    driverState: { ...task.state },
  });

  type ExitStatus = Pick<ExitResult, 'exitCode' | 'signal' | 'exitCodeUnknown'>;

  /**
   * A task this driver watches from now on, spawned or re-attached: its log rotation, its stats'
   * lifetime, and its exit, read at once when `watchExit` reports it (the kernel's figures for the
   * ended task), then the exact final sample.
   */
  function track(
    init: Pick<ExecTask, 'spec' | 'pid' | 'child' | 'cgroup' | 'state'> & {
      logPaths: TaskLogPaths | undefined;
    },
    watchExit: (finish: (status: ExitStatus) => void) => () => void,
  ): ExecTask {
    const { logPaths, ...owned } = init;
    const { spec, cgroup } = owned;
    const policy = spec.logs ?? DEFAULT_LOG_POLICY;
    // The live files' paths once: the check runs every second per task (its path joins and name
    // escaping were ~1 % of the agent's busy time with 1,000 idle tasks).
    const live = logPaths ? STREAMS.map((stream) => [stream, logPaths.live(stream)] as const) : [];
    const rotate = () => {
      if (!logPaths) return;
      for (const [stream, path] of live) {
        try {
          if (pastSizeLimit(path, policy)) rotateLog(logPaths, stream, policy);
        } catch (error) {
          logger.warn({ task: spec.id, stream, error: String(error) }, 'cannot rotate the task log');
        }
      }
    };
    const rotation = setInterval(rotate, LOG_ROTATE_CHECK_MS);
    rotation.unref();
    let resolveExited!: (exit: ExitResult) => void;
    const task: ExecTask = {
      ...owned,
      unwatch: () => {},
      exit: undefined,
      exited: new Promise<ExitResult>((resolve) => {
        resolveExited = resolve;
      }),
      life: new AbortController(),
      stopping: false,
      startedAt: performance.now(),
      last: undefined,
    };
    task.unwatch = watchExit(({ exitCode, signal, exitCodeUnknown }) => {
      if (task.exit) return;
      // Read at once, before anything else runs: the kernel's figures for the ended task.
      const exitedAt = performance.now();
      const timestamp = Date.now();
      const cgroupUsage = cgroup && readQuietly(() => cgroup.read());
      const oomKills = (cgroup && readQuietly(() => cgroup.oomKills())) ?? 0;
      // Only a reaping parent has the reaped CPU: a re-attached task keeps its last reading.
      const reaped = cgroup || !task.child ? Promise.resolve(undefined) : reapedCpu();
      const exit: ExitResult = {
        exitCode,
        signal,
        oomKilled: oomKills > 0,
        ...(exitCodeUnknown ? { exitCodeUnknown: true } : {}),
      };
      task.exit = exit;
      task.unwatch();
      clearInterval(rotation);
      rotate();
      task.life.abort();
      void reaped.then((rusage) => {
        const usage = exitUsage({
          times: exactTimes(cgroupUsage, rusage, task.last),
          cgroup: cgroupUsage,
          last: task.last,
          startedAt: task.startedAt,
          exitedAt,
          timestamp,
          host,
        });
        if (usage) exit.usage = usage;
        if (exit.oomKilled) logger.info({ task: spec.id, oomKills }, 'exec task was OOM killed');
        resolveExited(exit);
      });
    });
    return task;
  }

  async function* stream(task: ExecTask, intervalMs: number, signal: AbortSignal) {
    const cgroup = task.cgroup;
    const sampler: TaskSampler = createTaskSampler({
      rootPid: task.pid,
      host,
      ...(cgroup ? { cgroup } : {}),
      ...(options.treeRescanMs === undefined ? {} : { treeRescanMs: options.treeRescanMs }),
      hostHasSwap: swapOnHost,
    });
    // The shared sample clock (one timer per interval for all tasks, phases spread), watching the
    // two signals once for the stream's life (`AbortSignal.any` per stream showed in the start-up
    // profile); `ticker.ended` is the stream's stop check.
    const ticker = sampleTicker(signal, task.life.signal);
    try {
      while (!ticker.ended) {
        let sample: TaskResourceUsage | undefined;
        for (let attempt = 1; attempt <= SAMPLE_ATTEMPTS; attempt++) {
          try {
            sample = sampler.sample();
            break;
          } catch (error) {
            // EMFILE, EAGAIN, a half-written file: try again shortly, then skip this tick.
            logger.debug({ task: task.spec.id, attempt, error: String(error) }, 'exec stats read failed');
            if (!(await ticker.next(Math.min(50, intervalMs)))) return;
          }
        }
        if (ticker.ended) return;
        if (sample) {
          task.last = { sample, at: performance.now() };
          yield sample;
        }
        if (!(await ticker.next(intervalMs))) return;
      }
    } finally {
      ticker.close();
      sampler.close();
    }
  }

  return {
    name: 'exec',
    capabilities: { stats: true, sendSignals: true, fsIsolation: 'none' },
    get cgroups() {
      return support;
    },

    describeTask(taskId) {
      const task = tasks.get(taskId);
      if (!task) return undefined;
      return {
        pid: task.pid,
        stdoutPath: task.state.stdoutPath,
        stderrPath: task.state.stderrPath,
        cgroupPaths: task.cgroup?.paths ?? [],
      };
    },

    async startTask(spec: TaskSpec): Promise<TaskHandle> {
      if (tasks.has(spec.id)) throw new RecoverableError(`task already exists: ${spec.id}`, false);
      logDirReady ??= ensureWritableDirectory(logDir).catch((error: unknown) => {
        throw new RecoverableError(`exec log directory: ${(error as Error).message}`, false);
      });
      await logDirReady;
      const deadline = Date.now() + startRetryMs;
      for (let attempt = 1; ; attempt++) {
        try {
          return await gate.run(() => startOnce(spec));
        } catch (error) {
          if (!isTransient(error)) throw error;
          if (Date.now() >= deadline) {
            throw new RecoverableError(`cannot start ${spec.id}: ${(error as Error).message}`, true, {
              cause: error,
            });
          }
          logger.debug(
            { task: spec.id, attempt, error: String(error) },
            'exec start failed for now, retrying',
          );
          await abortableSleep(Math.min(10 * 2 ** attempt, 500), new AbortController().signal);
        }
      }
    },
    async waitTask(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
      const destroyed = destroyedWhileStopping.get(taskId);
      if (destroyed && destroyedWhileStopping.delete(taskId)) return destroyed;
      const task = find(taskId);
      if (!signal) return task.exited;
      return Promise.race([
        task.exited,
        new Promise<never>((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
      ]);
    },

    async stopTask(taskId: string, { timeoutMs, signal = 'SIGTERM' }: StopOptions): Promise<void> {
      const task = find(taskId);
      task.stopping = true;
      try {
        if (!task.exit) {
          signalTask(task, signal);
          await waitUntil(() => task.exit !== undefined && !groupAlive(task.pid), timeoutMs);
        }
        signalTask(task, 'SIGKILL');
        await task.exited;
      } finally {
        task.stopping = false;
      }
    },

    async destroyTask(taskId: string, { force = false } = {}): Promise<void> {
      const task = tasks.get(taskId);
      if (!task) return;
      if (!task.exit && !force) throw new Error(`cannot destroy running task ${taskId} without force`);
      signalTask(task, 'SIGKILL');
      await task.exited;
      task.life.abort();
      if (!(await waitUntil(() => !groupAlive(task.pid), reapTimeoutMs))) {
        logger.warn(
          { task: taskId, pgid: task.pid },
          'processes of the task are still exiting after SIGKILL',
        );
      }
      if (task.cgroup && !(await task.cgroup.remove())) {
        logger.warn({ task: taskId, paths: task.cgroup.paths }, 'cannot remove the task cgroup');
      }
      task.unwatch();
      tasks.delete(taskId);
      // Re-attached without a cgroup: what its main process forked went to init with the agent that
      // started it, out of this process's sight (no subreaper held it): found by its mark instead.
      if (!task.child && !task.cgroup) await clearLeftovers([taskId]);
      if (task.stopping && task.exit) destroyedWhileStopping.set(taskId, task.exit);
      deleteTaskPid(task.pid);
      if (task.child) releaseChild(task.child);
      if (![...tasks.values()].some((other) => other.cgroup)) manager?.release();
    },

    async recoverTask(spec: TaskSpec, handle: TaskHandle): Promise<void> {
      const known = tasks.get(spec.id);
      if (known) {
        // This process started it (an exec plugin that outlived its host): it is watched already,
        // and its exit status, if it exited meanwhile, is kept for waitTask.
        if (known.pid === handle.pid) return;
        throw new RecoverableError(
          `exec task ${spec.id}: cannot recover: this driver runs it as pid ${known.pid}, the handle says ${handle.pid}`,
          false,
        );
      }
      const state = execStateOf(spec, handle);
      let checked: ReturnType<typeof checkRecoverable>;
      try {
        checked = checkRecoverable(spec, state);
      } catch (error) {
        // Its process is gone: what is left of the task (children that outlived it, in its cgroup
        // or marked with its id) is killed and the cgroup removed, or the next run would run beside
        // them and could not make its cgroup. A pid that is another process's now: the cgroup is
        // removed only if empty, and nothing is signalled.
        if (error instanceof TaskNotFoundError) {
          if (processIdentity(state.pid) === undefined) await clearLeftovers([spec.id], state.cgroup);
          else removeLostCgroup(spec, state);
        }
        throw error;
      }
      const { cgroup } = checked;
      const { pid, ...driverState } = state;
      // Rotated where it writes (the layout under whatever log dir started it).
      const logPaths = taskLogPaths(dirname(dirname(state.stdoutPath)), spec.allocId ?? spec.id, spec.name);
      const task = track(
        {
          spec,
          pid,
          child: undefined,
          cgroup,
          state: driverState,
          logPaths: logPaths.live('stdout') === state.stdoutPath ? logPaths : undefined,
        },
        (finish) => watchRecoveredExit(pid, state.startTime, recoveredExitPollMs, finish),
      );
      tasks.set(spec.id, task);
      logger.info({ task: spec.id, pid, cgroup: cgroup?.paths }, 'exec task re-attached');
    },

    clearTasks(specs) {
      return clearLeftovers(specs.map((spec) => spec.id));
    },

    refuseStarts() {
      refusing = true;
    },

    killAll() {
      for (const task of tasks.values()) signalTask(task, 'SIGKILL');
    },

    async destroyAll() {
      await Promise.allSettled([...tasks.keys()].map((id) => this.destroyTask(id, { force: true })));
    },

    async taskStats(taskId: string, intervalMs: number, signal: AbortSignal) {
      const task = find(taskId);
      if (task.exit) throw new RecoverableError('task exited', false);
      return stream(task, intervalMs, signal);
    },
  };
}

/** Drops the listeners we added so a destroyed task's ChildProcess can be collected. */
function releaseChild(child: ChildProcess): void {
  child.removeAllListeners('error');
}
