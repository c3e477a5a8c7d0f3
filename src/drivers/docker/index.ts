/**
 * The docker driver: runs each task as a Docker container through the Docker Engine API (dockerode,
 * the client Node users know) and streams its resource usage from the engine's stats endpoint.
 * See docs/drivers/docker.md for the behaviour on stop, removal and engine faults.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { type Logger, silentLogger } from '../../runtime/logger.js';
import { importOptional } from '../../runtime/optional-package.js';
import { abortableSleep } from '../abortable-sleep.js';
import type {
  DockerTaskConfig,
  ExitResult,
  StopOptions,
  TaskDriver,
  TaskHandle,
  TaskSpec,
} from '../contract.js';
import { RecoverableError, TaskNotFoundError } from '../errors.js';
import {
  containerStopped,
  DEFAULT_ENGINE_BACKOFF,
  describe,
  type EngineBackoff,
  engineRetryDelayMs,
  isEngineFailure,
  isNotFound,
  isNotModified,
  startError,
  statusCodeOf,
} from './errors.js';
import { parseFrame } from './parse-frame.js';
import { type ErrorCounter, openEngineStats } from './stats-stream.js';
import { waitRequest } from './wait-request.js';

export { type DockerStatsFrame, isZeroedFrame, parseFrame, ZERO_TIME } from './parse-frame.js';

export interface DockerDriverOptions {
  /** The engine's Unix socket, e.g. `/var/run/docker.sock`. */
  socketPath: string;
  /** Pin an API version (`'1.41'`); default: the engine's own. */
  apiVersion?: string | undefined;
  /** Default: silent. */
  logger?: Logger | undefined;
  /** Backoff of engine errors in stats and wait; default Nomad's min(5 s × 2^n, 2 min). */
  engineBackoff?: Partial<EngineBackoff> | undefined;
  /** Retries of engine errors in a row before a stats stream throws a (recoverable) error. Default 5. */
  maxEngineRetries?: number | undefined;
  /** A stats stream silent this long is reconnected. The engine sends a frame a second. Default 10 s. */
  stallTimeoutMs?: number | undefined;
  /** Host CPU MHz (all cores): enables `totalTicks`. Default: not measured. */
  cpuTotalMhz?: number | undefined;
  /** Container name prefix. Default `taskpulse`. */
  namePrefix?: string | undefined;
  /** Clock for samples without a usable `read` time. Default Date.now. */
  now?: (() => number) | undefined;
}

interface DockerTask {
  spec: TaskSpec;
  containerId: string;
  startedAt: number;
  exit?: ExitResult;
  /** The engine said the container is not running (zeroed frame, 404, or its exit was seen). */
  stopped: boolean;
  statsErrors: ErrorCounter;
  /** Aborted on destroy: ends the task's waits and retries. */
  life: AbortController;
}

export interface DockerDriver extends TaskDriver {
  /** The container id of a task, while the driver knows it. */
  containerIdOf(taskId: string): string | undefined;
}

function readConfig(config: Readonly<Record<string, unknown>>): DockerTaskConfig {
  const { image, command, entrypoint, cpus } = config;
  const strings = (value: unknown) => Array.isArray(value) && value.every((item) => typeof item === 'string');
  if (typeof image !== 'string' || image === '') {
    throw new RecoverableError('docker: config.image must be a non-empty string', false);
  }
  if (command !== undefined && !strings(command)) {
    throw new RecoverableError('docker: config.command must be an array of strings', false);
  }
  if (entrypoint !== undefined && !strings(entrypoint)) {
    throw new RecoverableError('docker: config.entrypoint must be an array of strings', false);
  }
  if (cpus !== undefined && (typeof cpus !== 'number' || !(cpus > 0))) {
    throw new RecoverableError('docker: config.cpus must be a positive number', false);
  }
  return config as unknown as DockerTaskConfig;
}

/** Docker names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; a random suffix keeps restarts from colliding. */
function containerName(prefix: string, spec: TaskSpec): string {
  const base = spec.id.replace(/[^a-zA-Z0-9_.-]+/g, '-').replace(/^[-_.]+/, '');
  return `${prefix}-${base}-${randomBytes(4).toString('hex')}`;
}

/**
 * dockerode, imported on first use: it is an optional peer dependency (with ssh2 and gRPC it is most
 * of what an install would weigh), so embedders without Docker neither install nor load it.
 * Rejects with a `MissingPackageError` naming it when it is not installed.
 */
async function importDockerode(): Promise<typeof Docker> {
  const module = await importOptional('dockerode', 'the docker driver', () => import('dockerode'));
  return module.default;
}

/**
 * Resolves once dockerode is loaded; rejects with a `MissingPackageError` when it is not installed.
 * The agent calls it before starting anything, so a missing client fails the start, not each task.
 * (Typed without dockerode's types: the declarations must not need `@types/dockerode`.)
 */
export async function checkDockerodeInstalled(): Promise<void> {
  await importDockerode();
}

export function createDockerDriver(options: DockerDriverOptions): DockerDriver {
  let client: Promise<Docker> | undefined;
  /** The engine client, made on first use (every use is already async). */
  const engine = () =>
    (client ??= importDockerode().then(
      (Dockerode) =>
        new Dockerode({
          socketPath: options.socketPath,
          ...(options.apiVersion ? { version: `v${options.apiVersion.replace(/^v/, '')}` } : {}),
        }),
    ));
  const logger = (options.logger ?? silentLogger()).child({ driver: 'docker' });
  const backoff: EngineBackoff = { ...DEFAULT_ENGINE_BACKOFF, ...options.engineBackoff };
  const maxRetries = options.maxEngineRetries ?? 5;
  const stallTimeoutMs = options.stallTimeoutMs ?? 10_000;
  const namePrefix = options.namePrefix ?? 'taskpulse';
  const now = options.now ?? Date.now;
  const fallbackCores = availableParallelism();
  const tasks = new Map<string, DockerTask>();

  const find = (taskId: string) => {
    const task = tasks.get(taskId);
    if (!task) throw new TaskNotFoundError(taskId);
    return task;
  };

  /** Inspect after the exit: `OOMKilled` is the only place an OOM kill shows (never in stats). */
  const oomKilled = async (task: DockerTask): Promise<boolean> => {
    try {
      const info = await (await engine()).getContainer(task.containerId).inspect();
      return info.State?.OOMKilled === true;
    } catch (error) {
      logger.debug({ task: task.spec.id, error: describe(error) }, 'inspect after exit failed');
      return false;
    }
  };

  /**
   * After the engine failed mid-wait: ask inspect first, so an exit that happened while the engine
   * was away (or was done by a restarting engine) is reported with its code; otherwise wait again.
   */
  const exitedMeanwhile = async (task: DockerTask, signal: AbortSignal): Promise<ExitResult | undefined> => {
    const info = await (await engine()).getContainer(task.containerId).inspect({ abortSignal: signal });
    const state = info.State;
    if (!state || state.Running || state.Status === 'created') {
      logger.info(
        { task: task.spec.id, container: task.containerId, status: state?.Status },
        'docker wait: the engine answers again and the container still runs; waiting again',
      );
      return undefined;
    }
    logger.info(
      { task: task.spec.id, container: task.containerId, exitCode: state.ExitCode, status: state.Status },
      'docker wait: the container exited while the engine was away',
    );
    return { exitCode: state.ExitCode, signal: null, oomKilled: state.OOMKilled === true };
  };

  const waitOnce = async (task: DockerTask, signal: AbortSignal, reconcile: boolean): Promise<ExitResult> => {
    if (reconcile) {
      const exit = await exitedMeanwhile(task, signal);
      if (exit) return exit;
    }
    const answer = await waitRequest(await engine(), task.containerId, signal);
    const exit: ExitResult = {
      // The engine reports 128+n for a signal (137 = SIGKILL) and cannot say more: passed on as is.
      exitCode: typeof answer.StatusCode === 'number' ? answer.StatusCode : null,
      signal: null,
      oomKilled: await oomKilled(task),
    };
    if (answer.Error?.Message) exit.error = new Error(answer.Error.Message);
    return exit;
  };

  const driver: DockerDriver = {
    name: 'docker',
    capabilities: { stats: true, sendSignals: true, fsIsolation: 'image' },

    containerIdOf: (taskId) => tasks.get(taskId)?.containerId,

    async startTask(spec: TaskSpec): Promise<TaskHandle> {
      const config = readConfig(spec.config);
      const hostConfig: Docker.HostConfig = {};
      if (spec.resources?.memoryMb !== undefined)
        hostConfig.Memory = Math.round(spec.resources.memoryMb * 1024 * 1024);
      if (spec.resources?.cpuMhz !== undefined)
        hostConfig.CpuShares = Math.max(2, Math.round(spec.resources.cpuMhz));
      if (config.cpus !== undefined) hostConfig.NanoCpus = Math.round(config.cpus * 1e9);
      // Outside the try: a missing dockerode is a MissingPackageError, not an engine failure.
      const docker = await engine();
      let container: Docker.Container;
      try {
        container = await docker.createContainer({
          name: containerName(namePrefix, spec),
          Image: config.image,
          ...(config.command ? { Cmd: config.command } : {}),
          ...(config.entrypoint ? { Entrypoint: config.entrypoint } : {}),
          Env: Object.entries(spec.env ?? {}).map(([key, value]) => `${key}=${value}`),
          Labels: {
            'taskpulse.task_id': spec.id,
            'taskpulse.task_name': spec.name,
            ...(spec.allocId ? { 'taskpulse.alloc_id': spec.allocId } : {}),
          },
          HostConfig: hostConfig,
        });
      } catch (error) {
        throw startError(error);
      }
      try {
        await container.start();
      } catch (error) {
        await container.remove({ force: true }).catch(() => {});
        throw startError(error);
      }
      const task: DockerTask = {
        spec,
        containerId: container.id,
        startedAt: now(),
        stopped: false,
        statsErrors: { count: 0 },
        life: new AbortController(),
      };
      tasks.get(spec.id)?.life.abort();
      tasks.set(spec.id, task);
      logger.debug({ task: spec.id, container: container.id }, 'container started');
      return { taskId: spec.id, startedAt: task.startedAt, driverId: container.id };
    },

    async waitTask(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
      const task = find(taskId);
      const stop = signal ? AbortSignal.any([signal, task.life.signal]) : task.life.signal;
      for (let n = 0; ; n++) {
        if (task.exit) return task.exit;
        try {
          const exit = await waitOnce(task, stop, n > 0);
          task.exit ??= exit;
          task.stopped = true;
          return task.exit;
        } catch (error) {
          if (stop.aborted) throw stop.reason;
          if (isNotFound(error)) {
            task.stopped = true;
            task.exit ??= {
              exitCode: null,
              signal: null,
              oomKilled: false,
              error: new Error('container removed outside taskpulse'),
            };
            return task.exit;
          }
          if (!isEngineFailure(error)) throw error;
          const delayMs = engineRetryDelayMs(n, backoff);
          const fields = { op: 'wait', task: taskId, attempt: n + 1, delayMs, error: describe(error) };
          if (n === 0) logger.warn(fields, 'docker wait failed, retrying with backoff');
          else logger.debug(fields, 'docker wait retry');
          if (!(await abortableSleep(delayMs, stop))) throw stop.reason;
        }
      }
    },

    async stopTask(taskId: string, { timeoutMs, signal = 'SIGTERM' }: StopOptions): Promise<void> {
      const task = find(taskId);
      const docker = await engine();
      const container = docker.getContainer(task.containerId);
      try {
        if (signal === 'SIGTERM') {
          // The engine sends the image's stop signal, waits t seconds, then SIGKILL; it answers once
          // the container is dead.
          await container.stop({ t: Math.max(0, Math.ceil(timeoutMs / 1000)) });
        } else {
          // API 1.41 has no stop signal parameter: send it ourselves, then kill after the timeout.
          await container.kill({ signal });
          const timeout = AbortSignal.timeout(Math.max(0, timeoutMs));
          const exited = await waitRequest(docker, task.containerId, timeout).then(
            () => true,
            () => false,
          );
          if (!exited) await container.kill({ signal: 'SIGKILL' });
        }
      } catch (error) {
        // Already stopped (304) or gone (404): the goal is reached. 409 from kill: not running.
        if (isNotModified(error) || isNotFound(error) || statusCodeOf(error) === 409) return;
        throw error;
      }
    },

    async destroyTask(taskId: string, { force = false } = {}): Promise<void> {
      const task = tasks.get(taskId);
      if (!task) return;
      try {
        await (await engine()).getContainer(task.containerId).remove({ force, v: true });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      task.life.abort();
      tasks.delete(taskId);
      logger.debug({ task: taskId, container: task.containerId }, 'container removed');
    },

    /**
     * Takes up a container an earlier agent started, by the container id of its handle: a running
     * one is waited on and sampled again; one that exited meanwhile reports its exit code (the
     * engine kept it); a removed one is `TaskNotFoundError`. Nothing is started.
     */
    async recoverTask(spec: TaskSpec, handle: TaskHandle): Promise<void> {
      if (tasks.has(spec.id)) return;
      if (!handle.driverId) throw new TaskNotFoundError(spec.id);
      let info: Docker.ContainerInspectInfo;
      try {
        info = await (await engine()).getContainer(handle.driverId).inspect();
      } catch (error) {
        if (isNotFound(error)) throw new TaskNotFoundError(spec.id);
        throw error;
      }
      const running = info.State?.Running === true;
      const task: DockerTask = {
        spec,
        containerId: handle.driverId,
        startedAt: handle.startedAt,
        stopped: !running,
        statsErrors: { count: 0 },
        life: new AbortController(),
      };
      if (!running) {
        task.exit = {
          exitCode: info.State?.ExitCode ?? null,
          signal: null,
          oomKilled: info.State?.OOMKilled === true,
        };
      }
      tasks.set(spec.id, task);
      logger.debug(
        { task: spec.id, container: handle.driverId, status: info.State?.Status },
        'container recovered',
      );
    },

    async taskStats(taskId: string, intervalMs: number, signal: AbortSignal) {
      const task = find(taskId);
      if (task.stopped || task.exit) throw containerStopped();
      const container = (await engine()).getContainer(task.containerId);
      return openEngineStats({
        connect: async (connectSignal) => {
          // dockerode 5 takes `abortSignal` (its types lag behind) and resolves to the raw response.
          const query = { stream: true as const, abortSignal: connectSignal };
          return (await container.stats(query)) as unknown as Readable;
        },
        parse: (frame) => parseFrame(frame, { fallbackCores, cpuTotalMhz: options.cpuTotalMhz }, now)!,
        intervalMs,
        signal: AbortSignal.any([signal, task.life.signal]),
        stallTimeoutMs,
        backoff,
        maxRetries,
        errors: task.statsErrors,
        onStopped: () => {
          task.stopped = true;
        },
        logger: logger.child({ task: taskId }),
        now,
      });
    },
  };
  return driver;
}
