/**
 * The agent's drivers by name. Built-in drivers are created on first use and their modules loaded
 * lazily, so an agent running only `exec` tasks never loads the Docker client.
 */
import type { TaskDriver } from '../drivers/contract.js';
import { createMockDriver } from '../drivers/mock.js';
import type { Logger } from '../runtime/logger.js';

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

/** Resolves the drivers a set of names needs: given ones first, built-ins for the rest. */
export async function resolveDrivers(
  needed: Iterable<string>,
  given: Readonly<Record<string, TaskDriver>>,
  options: BuiltInDriverOptions,
): Promise<Map<string, TaskDriver>> {
  const drivers = new Map<string, TaskDriver>();
  for (const name of new Set(needed)) {
    const driver =
      given[name] ??
      ((DRIVER_NAMES as readonly string[]).includes(name)
        ? await createBuiltInDriver(name as DriverName, options)
        : undefined);
    if (!driver) throw new Error(`no driver named "${name}"`);
    drivers.set(name, driver);
  }
  return drivers;
}
