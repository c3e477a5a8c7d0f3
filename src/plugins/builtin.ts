/**
 * The built-in drivers as plugins serve them (`taskpulse plugin exec|docker|mock`). The exec
 * driver is wrapped, not changed: the plugin adds SignalTask by signalling the task's process
 * group (its pid is the group's id).
 */
import { createBuiltInDriver, type DriverName } from '../agent/drivers.js';
import type { TaskDriver } from '../drivers/contract.js';
import { TaskNotFoundError } from '../drivers/errors.js';
import type { ExecDriver } from '../drivers/exec/index.js';
import type { Logger } from '../runtime/logger.js';

export function withExecSignals(exec: ExecDriver): TaskDriver {
  return Object.assign(Object.create(exec) as ExecDriver, {
    async signalTask(taskId: string, signal: NodeJS.Signals): Promise<void> {
      const task = exec.describeTask(taskId);
      if (!task) throw new TaskNotFoundError(taskId);
      try {
        process.kill(-task.pid, signal);
      } catch {
        // the group is gone: the task exited
      }
    },
  });
}

export async function builtInPluginDriver(
  name: DriverName,
  options: { logger: Logger; execLogDir?: string; execCgroupParent?: string; dockerSocketPath?: string },
): Promise<TaskDriver> {
  const driver = await createBuiltInDriver(name, options);
  return name === 'exec' ? withExecSignals(driver as ExecDriver) : driver;
}
