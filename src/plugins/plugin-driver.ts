/**
 * `createPluginDriver({ command, args, env })`: a TaskDriver whose tasks run in a plugin process.
 * The plugin's lifecycle is `pluginSupervisorMachine` (machines/plugin-supervisor.machine.ts); this
 * file provides its effects: launching, re-attaching tasks through RecoverTask, watching the process
 * and its health, and what calls see meanwhile.
 *
 * - Calls and streams in flight when the plugin dies or hangs fail with PluginShutdownError.
 * - `startTask` and `taskStats` fail fast while the plugin is away (the runner's restart policy and
 *   the stats hook's backoff decide when to try again); `waitTask`, `stopTask`, `destroyTask` wait
 *   for the relaunched plugin and go on there, so a task is neither reported dead nor left running
 *   because its plugin restarted.
 * - A task the relaunched plugin cannot re-attach is reported exited with an error, and its process
 *   group (when the handle has a pid) is killed: no orphan.
 */

import { lstatSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type Actor, type AnyActorRef, createActor, fromCallback, fromPromise, toPromise } from 'xstate';
import {
  type PluginEndpoint,
  type PluginRestartPolicy,
  pluginSupervisorMachine,
} from '../../machines/plugin-supervisor.machine.js';
import type {
  DriverCapabilities,
  ExitResult,
  StopOptions,
  TaskDriver,
  TaskHandle,
  TaskSpec,
  TaskStatus,
} from '../drivers/contract.js';
import { PluginShutdownError } from '../drivers/errors.js';
import { processIdentity } from '../drivers/exec/recover.js';
import { type Logger, silentLogger } from '../runtime/logger.js';
import { PluginLaunchError } from './errors.js';
import { describeExit, killPlugin, type LaunchedPlugin, launchPlugin } from './launch.js';
import { connectPlugin, type PluginCapabilities, type RpcConnection } from './rpc-client.js';

export interface PluginDriverOptions {
  command: string;
  args?: readonly string[];
  /** Added to the agent's environment. */
  env?: Readonly<Record<string, string>>;
  /** For logs and errors; the driver's own name (from the plugin) is what jobs use. Default: the command's basename. */
  name?: string;
  logger?: Logger;
  /** Where the plugin's stderr log goes. Default `<os.tmpdir()>/taskpulse-plugin-logs`. */
  logDir?: string;
  /** Default 10 s. */
  handshakeTimeoutMs?: number;
  /** How often the plugin's health is checked, and how long it may take to answer. Default 2 s, 2 s. */
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  /** How long Shutdown may take before the plugin is killed. Default 2 s. */
  shutdownGraceMs?: number;
  restartPolicy?: Partial<PluginRestartPolicy>;
  /** The actor system to join (the agent's root), so the inspector shows the plugin beside the runners. */
  parent?: AnyActorRef;
}

/** What a later host process needs to reach a plugin that outlived this one (go-plugin's ReattachConfig). */
export interface PluginReattachConfig {
  protocol: 'grpc';
  protocolVersion: number;
  /** `unix:/path` */
  address: string;
  pid: number;
}

export interface PluginDriver extends TaskDriver {
  /** The supervisor actor (`pluginSupervisorMachine`). */
  readonly actor: Actor<typeof pluginSupervisorMachine>;
  /** Where the plugin serves now; undefined while it is away. */
  readonly reattach: PluginReattachConfig | undefined;
  /** The tasks the plugin owns, with what re-attaching them needs. */
  readonly tasks: ReadonlyMap<string, { spec: TaskSpec; handle: TaskHandle }>;
  /** Shuts the plugin down (controller Shutdown, then SIGKILL after the grace period). */
  stop(): Promise<void>;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
  settled: boolean;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // observed by whoever waits; never an unhandled rejection
  const d: Deferred = {
    promise,
    settled: false,
    resolve() {
      d.settled = true;
      resolve();
    },
    reject(error) {
      d.settled = true;
      reject(error);
    },
  };
  return d;
}

interface OwnedTask {
  spec: TaskSpec;
  handle: TaskHandle;
  /** Set when the relaunched plugin could not re-attach it. */
  lost?: string;
}

/**
 * A killed plugin leaves its socket behind; the host removes it: a taskpulse plugin's directory
 * (`taskpulse-plugin-*`, it made one for the socket), or the socket file itself (go-plugin's).
 */
function removeSocket(address: string): void {
  if (!address.startsWith('unix:')) return;
  const socket = address.slice('unix:'.length);
  try {
    if (basename(dirname(socket)).startsWith('taskpulse-plugin-'))
      rmSync(dirname(socket), { recursive: true, force: true });
    else if (lstatSync(socket).isSocket()) unlinkSync(socket);
  } catch {
    // gone already
  }
}

const isShutdown = (error: unknown) => error instanceof PluginShutdownError;

export async function createPluginDriver(options: PluginDriverOptions): Promise<PluginDriver> {
  const name = options.name ?? basename(options.command);
  const logger = (options.logger ?? silentLogger()).child({ plugin: name });
  const logDir = options.logDir ?? join(tmpdir(), 'taskpulse-plugin-logs');
  const healthIntervalMs = options.healthIntervalMs ?? 2000;
  const healthTimeoutMs = options.healthTimeoutMs ?? 2000;
  const shutdownGraceMs = options.shutdownGraceMs ?? 2000;
  const tasks = new Map<string, OwnedTask>();

  let current: { launched: LaunchedPlugin; conn: RpcConnection } | undefined;
  let capabilities: PluginCapabilities | undefined;
  let ready = deferred();
  let failure: Error | undefined;
  let stopping = false;

  const forget = (plugin: { launched: LaunchedPlugin; conn: RpcConnection }, reason: string) => {
    plugin.conn.drop(reason);
    killPlugin(plugin.launched.child);
    plugin.launched.relay.close();
    removeSocket(plugin.launched.endpoint.address);
  };

  const killLostTask = (task: OwnedTask) => {
    if (!task.handle.pid) return;
    // A handle that names its process's start time (exec's) is killed only while that process lives.
    const startTime = task.handle.driverState?.startTime;
    if (typeof startTime === 'number' && processIdentity(task.handle.pid)?.startTime !== startTime) return;
    try {
      process.kill(-task.handle.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  };

  const machine = pluginSupervisorMachine.provide({
    actors: {
      launchPlugin: fromPromise<PluginEndpoint, { name: string; attempt: number }>(
        async ({ input, signal }) => {
          logger.debug({ attempt: input.attempt }, 'launching plugin');
          const launched = await launchPlugin({
            name,
            command: options.command,
            args: options.args ?? [],
            env: options.env ?? {},
            logDir,
            handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
            logger,
            signal,
          });
          const conn = connectPlugin(launched.endpoint.address);
          const plugin = { launched, conn };
          try {
            capabilities = await conn.capabilities();
          } catch (error) {
            forget(plugin, 'capabilities call failed');
            await launched.exited;
            throw new PluginLaunchError(
              `plugin "${name}": its Capabilities call failed: ${(error as Error).message}`,
            );
          }
          if (signal.aborted) {
            forget(plugin, 'launch cancelled');
            throw new PluginLaunchError(`plugin "${name}": launch cancelled`);
          }
          current = plugin;
          logger.info({ pid: launched.endpoint.pid, address: launched.endpoint.address }, 'plugin serving');
          return launched.endpoint;
        },
      ),
      recoverTasks: fromPromise(async () => {
        const plugin = current;
        if (!plugin || tasks.size === 0) return;
        for (const [taskId, task] of tasks) {
          if (task.lost) continue;
          try {
            if (!capabilities?.recover) throw new Error('the plugin cannot recover tasks');
            await plugin.conn.recoverTask(task.spec, task.handle);
            logger.info({ task: taskId }, 'task re-attached after the plugin restarted');
          } catch (error) {
            task.lost = `task lost with its plugin: ${(error as Error).message}`;
            killLostTask(task);
            logger.warn({ task: taskId, error: (error as Error).message }, 'cannot re-attach task');
          }
        }
      }),
      watchPlugin: fromCallback(({ sendBack }) => {
        const plugin = current;
        if (!plugin) return () => {};
        let stopped = false;
        let checking = false;
        plugin.launched.exited.then((exit) => {
          if (!stopped) sendBack({ type: 'plugin.lost', reason: `plugin ${describeExit(exit)}` });
        });
        const timer = setInterval(async () => {
          if (checking) return;
          checking = true;
          const ok = await plugin.conn.healthy(healthTimeoutMs);
          checking = false;
          if (!ok && !stopped) {
            sendBack({
              type: 'plugin.lost',
              reason: `plugin did not answer its health check within ${healthTimeoutMs} ms`,
            });
          }
        }, healthIntervalMs);
        return () => {
          stopped = true;
          clearInterval(timer);
        };
      }),
      shutdownPlugin: fromPromise(async () => {
        const plugin = current;
        current = undefined;
        if (!plugin) return;
        await plugin.conn.shutdown(shutdownGraceMs);
        let grace: NodeJS.Timeout | undefined;
        const exited = await Promise.race([
          plugin.launched.exited.then(() => true),
          new Promise<false>((resolve) => {
            grace = setTimeout(resolve, shutdownGraceMs, false);
          }),
        ]);
        clearTimeout(grace);
        if (!exited) logger.warn({}, 'plugin did not exit after Shutdown: killing it');
        forget(plugin, 'plugin stopped');
        await plugin.launched.exited;
        // A plugin killed before it could end its tasks (or one that does not end them) leaves
        // none behind: the host kills what the handles name.
        for (const task of tasks.values()) killLostTask(task);
      }),
    },
    actions: {
      pluginServing: () => ready.resolve(),
      dropPlugin: (_, { reason }) => {
        logger.warn({ reason }, 'plugin lost');
        if (ready.settled) ready = deferred();
        const plugin = current;
        current = undefined;
        if (plugin) forget(plugin, reason);
      },
      pluginFailed: (_, { error, launches }) => {
        failure = new PluginLaunchError(
          launches > 1
            ? `plugin "${name}" failed after ${launches} launches: ${error ?? 'unknown error'}`
            : (error ?? `plugin "${name}" failed`),
        );
        logger.error({ launches }, failure.message);
        for (const task of tasks.values()) {
          task.lost ??= failure.message;
          killLostTask(task);
        }
        ready.reject(failure);
      },
    },
  });

  const actor = createActor(machine, {
    input: { name, ...(options.restartPolicy ? { restartPolicy: options.restartPolicy } : {}) },
    ...(options.parent ? { parent: options.parent } : {}),
    id: `plugin:${name}`,
  });
  actor.start();
  try {
    await ready.promise;
  } catch (error) {
    await toPromise(actor).catch(() => {});
    throw error;
  }

  const shutdownFailure = () => new PluginShutdownError({ cause: failure ?? new Error('plugin is away') });
  /** The connection now, or PluginShutdownError at once. */
  const now = (): RpcConnection => {
    if (!current || !ready.settled || failure || stopping) throw shutdownFailure();
    return current.conn;
  };
  /** The connection once the plugin serves; PluginShutdownError once it has failed or is stopped. */
  const whenServing = async (): Promise<RpcConnection> => {
    for (;;) {
      if (failure || stopping) throw shutdownFailure();
      if (current && ready.settled) return current.conn;
      try {
        await ready.promise;
      } catch {
        throw shutdownFailure();
      }
    }
  };
  /** Runs `call` against the serving plugin, again against the relaunched one if the plugin went away meanwhile. */
  const surviving = async <T>(call: (conn: RpcConnection) => Promise<T>): Promise<T> => {
    for (;;) {
      const conn = await whenServing();
      try {
        return await call(conn);
      } catch (error) {
        if (!isShutdown(error) || failure || stopping) throw error;
      }
    }
  };
  const lostExit = (reason: string): ExitResult => ({
    exitCode: null,
    signal: null,
    oomKilled: false,
    error: new Error(reason),
  });

  const caps = capabilities as PluginCapabilities | undefined;
  const driverCapabilities: DriverCapabilities = {
    stats: caps?.stats ?? false,
    sendSignals: caps?.sendSignals ?? false,
    fsIsolation: caps?.fsIsolation ?? 'none',
  };

  const driver: PluginDriver = {
    name: caps?.name || name,
    capabilities: driverCapabilities,
    actor,
    get reattach() {
      const endpoint = current?.launched.endpoint;
      return endpoint && ready.settled
        ? {
            protocol: 'grpc' as const,
            protocolVersion: endpoint.protocolVersion,
            address: endpoint.address,
            pid: endpoint.pid,
          }
        : undefined;
    },
    tasks,

    async startTask(spec: TaskSpec): Promise<TaskHandle> {
      const handle = await now().startTask(spec);
      tasks.set(spec.id, { spec, handle });
      return handle;
    },

    async waitTask(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
      for (;;) {
        const task = tasks.get(taskId);
        if (task?.lost) return lostExit(task.lost);
        if (signal?.aborted) throw signal.reason;
        let conn: RpcConnection;
        try {
          conn = await whenServing();
        } catch (error) {
          const lost = tasks.get(taskId)?.lost;
          if (lost) return lostExit(lost);
          throw error;
        }
        try {
          return await conn.waitTask(taskId, signal);
        } catch (error) {
          if (!isShutdown(error) || stopping) throw error;
          // The plugin went away: wait for it to come back and re-attach the task, then wait there.
        }
      }
    },

    async stopTask(taskId: string, stop: StopOptions): Promise<void> {
      if (tasks.get(taskId)?.lost) return;
      await surviving((conn) => conn.stopTask(taskId, stop));
    },

    async destroyTask(taskId: string, { force = false } = {}): Promise<void> {
      const task = tasks.get(taskId);
      if (task?.lost || (task && failure)) {
        tasks.delete(taskId);
        return;
      }
      await surviving((conn) => conn.destroyTask(taskId, force));
      tasks.delete(taskId);
    },

    async taskStats(taskId: string, intervalMs: number, signal: AbortSignal) {
      return now().taskStats(taskId, intervalMs, signal);
    },

    async signalTask(taskId: string, signal: NodeJS.Signals): Promise<void> {
      await surviving((conn) => conn.signalTask(taskId, signal));
    },

    async inspectTask(taskId: string): Promise<TaskStatus> {
      return surviving((conn) => conn.inspectTask(taskId));
    },

    async recoverTask(spec: TaskSpec, handle: TaskHandle): Promise<void> {
      await surviving((conn) => conn.recoverTask(spec, handle));
      tasks.set(spec.id, { spec, handle });
    },

    async stop(): Promise<void> {
      stopping = true;
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'stop' });
      await toPromise(actor).catch(() => {});
    },
  };
  return driver;
}
