/**
 * External driver plugins named in job files (`plugins:`), and the built-in exec driver run out of
 * process on request: each becomes a `createPluginDriver` the agent owns and stops when it ends.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { PluginDriver, PluginReattachConfig } from '../plugins/plugin-driver.js';
import type { Logger } from '../runtime/logger.js';
import type { Job, JobTask } from './job-schema.js';

export interface PluginConfig {
  command: string;
  args?: readonly string[];
  env?: Readonly<Record<string, string>>;
}

/** The key of a task's driver in the agent's driver map: `exec`, `docker`, `mock`, `plugin:<name>`. */
export function driverKeyOf(task: JobTask): string {
  return task.driver === 'plugin' ? `plugin:${task.plugin}` : task.driver;
}

/** Every job's plugins by name; one name defined two ways is a mistake, named with both jobs. */
export function collectPlugins(jobs: readonly Job[]): Map<string, PluginConfig> {
  const plugins = new Map<string, { config: PluginConfig; job: string }>();
  for (const job of jobs) {
    for (const [name, config] of Object.entries(job.plugins ?? {})) {
      const known = plugins.get(name);
      if (known && JSON.stringify(known.config) !== JSON.stringify(config)) {
        throw new Error(`plugin "${name}" is defined differently by jobs "${known.job}" and "${job.name}"`);
      }
      plugins.set(name, { config, job: job.name });
    }
  }
  return new Map([...plugins].map(([name, { config }]) => [name, config]));
}

const cli = join(
  dirname(createRequire(import.meta.url).resolve('taskpulse/package.json')),
  'bin/taskpulse.js',
);

/** `taskpulse plugin exec …` with the agent's exec settings. */
export function execPluginConfig(options: {
  execLogDir?: string;
  execCgroupParent?: string;
  logLevel?: string;
}): PluginConfig {
  return {
    command: process.execPath,
    args: [
      cli,
      'plugin',
      'exec',
      ...(options.execLogDir ? ['--exec-log-dir', options.execLogDir] : []),
      ...(options.execCgroupParent ? ['--cgroup-parent', options.execCgroupParent] : []),
    ],
    ...(options.logLevel ? { env: { TASKPULSE_PLUGIN_LOG_LEVEL: options.logLevel } } : {}),
  };
}

export async function startPlugin(
  name: string,
  config: PluginConfig,
  options: {
    logger: Logger;
    parent?: import('xstate').AnyActorRef;
    /** Launch it to outlive the agent (docs/plugins.md). */
    outliveHost?: boolean;
    /** Attach to the plugin a previous agent saved, if it still serves. */
    reattach?: PluginReattachConfig;
    /** Where the plugin's stderr log goes (default: the plugin driver's). */
    logDir?: string;
  },
) {
  const { createPluginDriver } = await import('../plugins/plugin-driver.js');
  return createPluginDriver({
    name,
    command: config.command,
    ...(config.args ? { args: config.args } : {}),
    ...(config.env ? { env: config.env } : {}),
    logger: options.logger,
    ...(options.parent ? { parent: options.parent } : {}),
    ...(options.outliveHost ? { outliveHost: true } : {}),
    ...(options.reattach ? { reattach: options.reattach } : {}),
    ...(options.logDir ? { logDir: options.logDir } : {}),
  });
}

/** Whether this driver's plugin was launched by an earlier agent (attached to, not launched). */
export const attachedTo = (driver: PluginDriver): boolean => driver.actor.getSnapshot().context.attached;

/**
 * Lets the agent's plugins go once their tasks are stopped or detached: those `keep` picks are
 * detached (they and their tasks run on, for the next agent on the data dir), the rest stopped
 * (Shutdown: a plugin ends its tasks with it).
 */
export async function releasePlugins(
  drivers: readonly PluginDriver[],
  keep: (driver: PluginDriver) => boolean,
): Promise<void> {
  await Promise.all(drivers.map((driver) => (keep(driver) ? driver.detach() : driver.stop())));
}
