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
 * - With `reattach` (a config an earlier host saved from `driver.reattach`), the driver connects to
 *   that plugin if it is still the same process and answers, and launches a new one otherwise;
 *   `detach()` lets go of the plugin without stopping it, for a later host to attach to.
 */

import { existsSync, lstatSync, rmSync, statSync, unlinkSync } from 'node:fs';
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
import { describeExit, killPlugin, launchPlugin, pluginLogPath } from './launch.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';
import { relayPluginLog } from './relay-log.js';
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
  /**
   * Launch the plugin to outlive this host (Nomad's executor): without
   * `TASKPULSE_PLUGIN_EXIT_WITH_HOST`, its stdin not connected, so it serves on when the host dies
   * or `detach()`es. Default false: the plugin shuts down when its host goes away.
   */
  outliveHost?: boolean;
  /**
   * A plugin an earlier host launched (its `driver.reattach`, saved): attached to when it is still
   * that process and answers its health check and Capabilities; a new plugin is launched otherwise.
   */
  reattach?: PluginReattachConfig;
}

/** What a later host process needs to reach a plugin that outlived this one (go-plugin's ReattachConfig). */
export interface PluginReattachConfig {
  protocol: 'grpc';
  protocolVersion: number;
  /** `unix:/path` */
  address: string;
  pid: number;
  /** The plugin process's start time (/proc/<pid>/stat field 22): a reused pid is not taken for it. */
  startTime?: number;
}

export interface PluginDriver extends TaskDriver {
  /** The supervisor actor (`pluginSupervisorMachine`). */
  readonly actor: Actor<typeof pluginSupervisorMachine>;
  /** Where the plugin serves now; undefined while it is away. */
  readonly reattach: PluginReattachConfig | undefined;
  /** The tasks the plugin owns, with what re-attaching them needs. */
  readonly tasks: ReadonlyMap<string, { spec: TaskSpec; handle: TaskHandle }>;
  /** Re-attaches a task by what `tasks` holds for it (saved, perhaps by an earlier host). */
  recoverTask(spec: TaskSpec, handle: TaskHandle): Promise<void>;
  /** The plugin's InspectTask (NOT_FOUND, or not implemented by the plugin, rejects). */
  inspectTask(taskId: string): Promise<TaskStatus>;
  /** Shuts the plugin down (controller Shutdown, then SIGKILL after the grace period). */
  stop(): Promise<void>;
  /**
   * Lets go of the plugin without stopping it (its tasks run on): calls in flight end with
   * PluginShutdownError, the connection closes. Resolves with the config to attach to it later,
   * undefined when no plugin was serving.
   */
  detach(): Promise<PluginReattachConfig | undefined>;
}

/** A saved reattach config that cannot be one is a clear error naming the field and the value. */
export function checkReattachConfig(config: PluginReattachConfig): void {
  const bad = (field: string, value: unknown, want: string) =>
    new Error(`plugin reattach config: ${field} is ${JSON.stringify(value)}, expected ${want}`);
  if (config.protocol !== 'grpc') throw bad('protocol', config.protocol, '"grpc"');
  if (!(SUPPORTED_PROTOCOL_VERSIONS as readonly number[]).includes(config.protocolVersion))
    throw bad('protocolVersion', config.protocolVersion, SUPPORTED_PROTOCOL_VERSIONS.join(' or '));
  if (typeof config.address !== 'string' || !config.address.startsWith('unix:/'))
    throw bad('address', config.address, '"unix:/<socket path>"');
  if (!Number.isInteger(config.pid) || config.pid <= 1) throw bad('pid', config.pid, 'a pid > 1');
  if (config.startTime !== undefined && (!Number.isInteger(config.startTime) || config.startTime < 0))
    throw bad('startTime', config.startTime, 'clock ticks after boot (an integer ≥ 0)');
}

/** The plugin process this host talks to: one it launched, or one an earlier host launched. */
interface Connected {
  endpoint: PluginEndpoint;
  conn: RpcConnection;
  /** Settles, with why, when the process is gone (a child's exit; a /proc poll for one attached to). */
  exited: Promise<string>;
  /** SIGKILLs the plugin's session (it runs in its own). */
  kill(): void;
  /** Stops relaying its log and watching its process; the process itself is left alone. */
  release(): void;
}

/** True while `pid` is a live process with the start time `startTime` (when given). */
function sameProcess(pid: number, startTime: number | undefined): boolean {
  const identity = processIdentity(pid);
  if (!identity || identity.state === 'Z' || identity.state === 'X') return false;
  return startTime === undefined || identity.startTime === startTime;
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

/** How often a plugin this host did not launch is checked for being gone. */
const ATTACHED_POLL_MS = 200;

function killPid(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

export async function createPluginDriver(options: PluginDriverOptions): Promise<PluginDriver> {
  const name = options.name ?? basename(options.command);
  const logger = (options.logger ?? silentLogger()).child({ plugin: name });
  const logDir = options.logDir ?? join(tmpdir(), 'taskpulse-plugin-logs');
  const healthIntervalMs = options.healthIntervalMs ?? 2000;
  const healthTimeoutMs = options.healthTimeoutMs ?? 2000;
  const shutdownGraceMs = options.shutdownGraceMs ?? 2000;
  const tasks = new Map<string, OwnedTask>();

  if (options.reattach) checkReattachConfig(options.reattach);
  let current: Connected | undefined;
  let capabilities: PluginCapabilities | undefined;
  let ready = deferred();
  let failure: Error | undefined;
  let stopping = false;

  const forget = (plugin: Connected, reason: string) => {
    plugin.conn.drop(reason);
    plugin.kill();
    plugin.release();
    removeSocket(plugin.endpoint.address);
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
            exitWithHost: !options.outliveHost,
          });
          const conn = connectPlugin(launched.endpoint.address);
          const { child } = launched;
          const plugin: Connected = {
            endpoint: launched.endpoint,
            conn,
            exited: launched.exited.then((exit) => `plugin ${describeExit(exit)}`),
            kill: () => killPlugin(child),
            release: () => {
              launched.relay.close();
              // Nothing of ours keeps this process alive for the plugin's sake (it may outlive us).
              child.stdin?.destroy();
              child.stdout?.destroy();
              child.unref();
            },
          };
          try {
            capabilities = await conn.capabilities();
          } catch (error) {
            forget(plugin, 'capabilities call failed');
            await plugin.exited;
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
      attachPlugin: fromPromise<PluginEndpoint, { name: string; reattach: PluginEndpoint }>(
        async ({ input, signal }) => {
          const saved = input.reattach;
          const where = `plugin "${name}" (pid ${saved.pid}, ${saved.address})`;
          if (!sameProcess(saved.pid, saved.startTime)) {
            const identity = processIdentity(saved.pid);
            const reused = identity !== undefined && identity.startTime !== saved.startTime;
            // Gone: what it left (its socket) goes. A reused pid leaves the address alone: the
            // config does not describe one process any more, so nothing of it is taken for ours.
            if (!reused) removeSocket(saved.address);
            throw new PluginLaunchError(
              reused ? `${where}: the pid is another process now: not attached` : `${where} is gone`,
            );
          }
          const conn = connectPlugin(saved.address);
          const fail = (why: string) => {
            conn.drop(why);
            return new PluginLaunchError(`${where}: ${why}`);
          };
          if (!(await conn.healthy(healthTimeoutMs))) {
            // Our plugin (same pid and start time) that does not answer: it would only linger.
            if (saved.startTime !== undefined) killPid(saved.pid);
            throw fail(`no answer to its health check within ${healthTimeoutMs} ms`);
          }
          try {
            capabilities = await conn.capabilities();
          } catch (error) {
            throw fail(`its Capabilities call failed: ${(error as Error).message}`);
          }
          if (signal.aborted) throw fail('attach cancelled');
          const logPath = pluginLogPath(logDir, name);
          const relay = existsSync(logPath)
            ? relayPluginLog(logPath, statSync(logPath).size, logger)
            : undefined;
          let watching: NodeJS.Timeout | undefined;
          const exited = new Promise<string>((resolve) => {
            watching = setInterval(() => {
              if (sameProcess(saved.pid, saved.startTime)) return;
              clearInterval(watching);
              resolve(`plugin process ${saved.pid} is gone`);
            }, ATTACHED_POLL_MS);
          });
          current = {
            endpoint: saved,
            conn,
            exited,
            kill: () => {
              if (sameProcess(saved.pid, saved.startTime)) killPid(saved.pid);
            },
            release: () => {
              clearInterval(watching);
              relay?.close();
            },
          };
          logger.info({ pid: saved.pid, address: saved.address }, 'attached to a running plugin');
          return saved;
        },
      ),
      releasePlugin: fromPromise(async () => {
        const plugin = current;
        current = undefined;
        if (!plugin) return;
        plugin.conn.drop('the host detached');
        plugin.release();
        logger.info({ pid: plugin.endpoint.pid }, 'detached from the plugin: it runs on');
      }),
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
        plugin.exited.then((reason) => {
          if (!stopped) sendBack({ type: 'plugin.lost', reason });
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
          plugin.exited.then(() => true),
          new Promise<false>((resolve) => {
            grace = setTimeout(resolve, shutdownGraceMs, false);
          }),
        ]);
        clearTimeout(grace);
        if (!exited) logger.warn({}, 'plugin did not exit after Shutdown: killing it');
        forget(plugin, 'plugin stopped');
        await plugin.exited;
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
    input: {
      name,
      ...(options.restartPolicy ? { restartPolicy: options.restartPolicy } : {}),
      ...(options.reattach
        ? {
            reattach: {
              pid: options.reattach.pid,
              address: options.reattach.address,
              protocolVersion: options.reattach.protocolVersion,
              startTime: options.reattach.startTime,
            },
          }
        : {}),
    },
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

  const reattachConfig = (): PluginReattachConfig | undefined => {
    const endpoint = current?.endpoint;
    if (!endpoint || !ready.settled) return undefined;
    return {
      protocol: 'grpc',
      protocolVersion: endpoint.protocolVersion,
      address: endpoint.address,
      pid: endpoint.pid,
      ...(endpoint.startTime === undefined ? {} : { startTime: endpoint.startTime }),
    };
  };

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
      return reattachConfig();
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

    async detach(): Promise<PluginReattachConfig | undefined> {
      const config = reattachConfig();
      stopping = true;
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'detach' });
      await toPromise(actor).catch(() => {});
      return config;
    },
  };
  return driver;
}
