/**
 * The agent's drivers by name. Built-in drivers are created on first use and their modules loaded
 * lazily, so an agent running only `exec` tasks never loads the Docker client.
 */
import type { TaskDriver } from '../drivers/contract.js';
import { createMockDriver } from '../drivers/mock.js';
import type { PluginDriver, PluginReattachConfig } from '../plugins/plugin-driver.js';
import type { Logger } from '../runtime/logger.js';
import {
  attachedTo,
  execPluginConfig,
  type PluginConfig,
  releasePlugins,
  startPlugin,
} from './plugin-drivers.js';

export const DRIVER_NAMES = ['exec', 'docker', 'mock'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

export interface BuiltInDriverOptions {
  logger: Logger;
  /** Where the exec driver writes task stdout/stderr; default: its own choice. */
  execLogDir?: string;
  /** The cgroup (in every hierarchy) under which the exec driver makes its task cgroups. */
  execCgroupParent?: string;
  /** Docker Engine socket; default `DOCKER_HOST` (unix://), else `/var/run/docker.sock`. */
  dockerSocketPath?: string;
}

export interface ResolveDriversOptions extends BuiltInDriverOptions {
  /** Plugins by name, for the `plugin:<name>` keys. */
  plugins?: ReadonlyMap<string, PluginConfig>;
  /** Run the built-in exec driver in a `taskpulse plugin exec` process. Default false (docs/plugins.md). */
  execOutOfProcess?: boolean;
  /** The actor system plugin supervisors join (the agent's inspected root). */
  parent?: import('xstate').AnyActorRef;
  /** Receives every plugin driver started here: the caller stops them when it is done. */
  owned?: PluginDriver[];
  /**
   * Launch plugins to outlive the agent (an agent with a data dir: the next one attaches to them).
   * Without it a plugin exits with the agent, as nothing would ever attach to it again.
   */
  outliveHost?: boolean;
  /** The plugins a previous agent saved, by driver key (`exec`, `plugin:<name>`): attached to first. */
  reattach?: Readonly<Record<string, PluginReattachConfig>>;
  /** Where the plugins' stderr logs go (`<data dir>/plugins`: the next agent relays the same file). */
  pluginLogDir?: string;
}

/** Creates a built-in driver. */
export async function createBuiltInDriver(
  name: DriverName,
  options: BuiltInDriverOptions,
): Promise<TaskDriver> {
  const { logger } = options;
  switch (name) {
    case 'exec': {
      const { createExecDriver } = await import('../drivers/exec/index.js');
      return createExecDriver({
        logger,
        ...(options.execLogDir ? { logDir: options.execLogDir } : {}),
        ...(options.execCgroupParent ? { cgroupParent: options.execCgroupParent } : {}),
      });
    }
    case 'docker': {
      const { checkDockerodeInstalled, createDockerDriver } = await import('../drivers/docker/index.js');
      const { resolveDockerSocket } = await import('../drivers/docker/docker-host.js');
      // dockerode is an optional peer dependency: without it the agent fails to start, naming it,
      // rather than starting and failing every docker task.
      await checkDockerodeInstalled();
      return createDockerDriver({ socketPath: resolveDockerSocket(options.dockerSocketPath), logger });
    }
    case 'mock':
      return createMockDriver();
  }
}

/**
 * Resolves the drivers a set of names needs: given ones first, then `plugin:<name>` plugins, then
 * built-ins. If one fails to start, the plugins already started are stopped before the error (but
 * one attached to, which is left as it was found).
 */
export async function resolveDrivers(
  needed: Iterable<string>,
  given: Readonly<Record<string, TaskDriver>>,
  options: ResolveDriversOptions,
): Promise<Map<string, TaskDriver>> {
  const drivers = new Map<string, TaskDriver>();
  const owned: PluginDriver[] = [];
  const plugin = async (key: string, name: string, config: PluginConfig) => {
    const reattach = options.reattach?.[key];
    const driver = await startPlugin(name, config, {
      logger: options.logger,
      ...(options.parent ? { parent: options.parent } : {}),
      ...(options.outliveHost ? { outliveHost: true } : {}),
      ...(reattach ? { reattach } : {}),
      ...(options.pluginLogDir ? { logDir: options.pluginLogDir } : {}),
    });
    owned.push(driver);
    return driver;
  };
  try {
    for (const name of new Set(needed)) {
      // Out of process, exec is the plugin even where an exec driver is given (the CLI gives its
      // own, to kill the tasks on a forced exit: the plugin's are not in this process).
      let driver: TaskDriver | undefined =
        name === 'exec' && options.execOutOfProcess ? undefined : given[name];
      if (!driver && name.startsWith('plugin:')) {
        const config = options.plugins?.get(name.slice('plugin:'.length));
        if (config) driver = await plugin(name, name.slice('plugin:'.length), config);
      } else if (!driver && name === 'exec' && options.execOutOfProcess) {
        driver = withLeftoverClearing(await plugin(name, 'exec', execPluginConfig(options)), options.logger);
      } else if (!driver && (DRIVER_NAMES as readonly string[]).includes(name)) {
        driver = await createBuiltInDriver(name as DriverName, options);
      }
      if (!driver) throw new Error(`no driver named "${name}"`);
      drivers.set(name, driver);
    }
  } catch (error) {
    // Nothing was taken up: a plugin an earlier agent launched keeps the tasks its state names.
    await releasePlugins(owned, attachedTo);
    throw error;
  }
  options.owned?.push(...owned);
  return drivers;
}

/**
 * The exec plugin's tasks run in sessions of their own and outlive it. When the agent and its exec
 * plugin die together between a fork and the state write of the task's handle, the relaunched
 * plugin knows nothing of that process (InspectTask: not found) and would start the task beside it.
 * The agent finds it as the in-process driver does, by the task id in its environment and its
 * session (drivers/exec/leftovers.ts; same machine, same /proc), and kills it first. The plugin
 * removes the task's empty cgroup before it makes it again.
 */
function withLeftoverClearing(plugin: PluginDriver, logger: Logger): PluginDriver {
  return Object.assign(plugin, {
    async clearTasks(specs: readonly { id: string }[]) {
      const { killLeftovers } = await import('../drivers/exec/leftovers.js');
      const pid = plugin.reattach?.pid;
      const killed = await killLeftovers(
        specs.map((spec) => spec.id),
        { exclude: new Set(pid ? [process.pid, pid] : [process.pid]), timeoutMs: 2000 },
      );
      for (const [task, pids] of killed) {
        logger.warn(
          { task, pids },
          'killed processes of the task that no driver watched (left by an agent and exec plugin that ended without them)',
        );
      }
      return Object.fromEntries(killed);
    },
  });
}
