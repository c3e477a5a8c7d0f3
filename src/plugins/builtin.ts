/**
 * The built-in drivers as plugins serve them (`taskpulse plugin exec|docker|mock`). The exec
 * driver is wrapped, not changed (`asExecPlugin`).
 */
import { createBuiltInDriver, type DriverName } from '../agent/drivers.js';
import type { ExitResult, TaskDriver, TaskHandle, TaskSpec, TaskStatus } from '../drivers/contract.js';
import { TaskNotFoundError } from '../drivers/errors.js';
import type { ExecDriver } from '../drivers/exec/index.js';
import type { Logger } from '../runtime/logger.js';

/**
 * The exec driver as its plugin serves it, which outlives the agent (docs/plugins.md). It adds:
 * - SignalTask, by signalling the task's process group (its pid is the group's id);
 * - InspectTask, from the handles this plugin process gave out (StartTask) or took (RecoverTask):
 *   an agent killed after StartTask and before it saved the handle finds the task by id in the
 *   plugin that outlived it, and re-attaches it;
 * - a StartTask of a task this plugin still runs returns that task's handle rather than failing
 *   (`task already exists`) or starting a second copy: the agent that asks saved its state before
 *   the start, so it does not know the task runs. One whose run ended is replaced by a new run.
 */
export function asExecPlugin(exec: ExecDriver, logger: Logger): TaskDriver {
  const recover = exec.recoverTask?.bind(exec);
  if (!recover) throw new Error('the exec driver cannot recover tasks');
  const handles = new Map<string, TaskHandle>();
  /** The task's exit if it has exited (the driver keeps it until destroyTask), else undefined. */
  const exitOf = async (taskId: string): Promise<ExitResult | undefined> => {
    let exit: ExitResult | undefined;
    exec.waitTask(taskId).then(
      (result) => {
        exit = result;
      },
      () => {},
    );
    // A settled exit is seen within the microtasks that run before the next macrotask.
    await new Promise((resolve) => setImmediate(resolve));
    return exit;
  };
  const known = (taskId: string) => (exec.describeTask(taskId) ? handles.get(taskId) : undefined);

  return Object.assign(Object.create(exec) as ExecDriver, {
    async startTask(spec: TaskSpec): Promise<TaskHandle> {
      const running = known(spec.id);
      if (running) {
        if (!(await exitOf(spec.id))) {
          logger.info(
            { task: spec.id, pid: running.pid },
            'task already runs in this plugin: nothing started',
          );
          return running;
        }
        await exec.destroyTask(spec.id, { force: false });
      }
      const handle = await exec.startTask(spec);
      handles.set(spec.id, handle);
      return handle;
    },
    async recoverTask(spec: TaskSpec, handle: TaskHandle): Promise<void> {
      await recover(spec, handle);
      handles.set(spec.id, handle);
    },
    async destroyTask(taskId: string, options?: { force?: boolean }): Promise<void> {
      await exec.destroyTask(taskId, options);
      handles.delete(taskId);
    },
    async inspectTask(taskId: string): Promise<TaskStatus> {
      const handle = known(taskId);
      if (!handle) throw new TaskNotFoundError(taskId);
      const exit = await exitOf(taskId);
      return exit ? { handle, state: 'exited', exit } : { handle, state: 'running' };
    },
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
  return name === 'exec' ? asExecPlugin(driver as ExecDriver, options.logger) : driver;
}
