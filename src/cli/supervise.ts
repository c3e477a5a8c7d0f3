/**
 * Runs an agent for a CLI command: inspection, the live view on stdout, SIGINT/SIGTERM handling
 * (first signal: graceful stop; second: exit at once), and the summary at the end.
 */
import {
  type Agent,
  type AgentSummary,
  type CreateAgentOptions,
  createAgent,
  type StopMode,
} from '../agent/create-agent.js';
import { createBuiltInDriver } from '../agent/drivers.js';
import type { ExecDriver } from '../drivers/exec/index.js';
import { DEFAULT_EXEC_LOG_DIR, removeAllocationLogs } from '../drivers/exec/task-logs.js';
import type { Logger } from '../runtime/logger.js';
import { CliError } from './errors.js';
import { startInspection } from './inspection.js';
import { resolveOutputMode, startLiveView } from './live-view.js';
import { passThroughOutput } from './pass-through.js';
import { handleStopSignals, type SignalSource } from './signals.js';

export interface SuperviseOptions {
  agent: Omit<CreateAgentOptions, 'logger' | 'inspect'>;
  logger: Logger;
  output: string | undefined;
  onSignal: StopMode;
  inspectPort?: number;
  recordFile?: string;
  refreshMs?: number;
  /** Write the exec tasks' output through to ours (`run`), then remove their logs unless `keepLogs`. */
  passThrough?: boolean;
  /** For tests: where signals come from, and how the process exits (defaults: `process`). */
  signals?: SignalSource;
  exit?: (code: number) => void;
}

/**
 * The exec driver, created here rather than inside the agent when a job needs it: a forced exit
 * must find the tasks' process groups synchronously, and only the driver knows their pids.
 */
async function execDriverFor(options: SuperviseOptions): Promise<ExecDriver | undefined> {
  const given = options.agent.drivers?.exec;
  if (given) return 'describeTask' in given ? (given as ExecDriver) : undefined;
  const needed = options.agent.jobs.some((job) =>
    job.groups.some((group) => group.tasks.some((task) => task.driver === 'exec')),
  );
  if (!needed) return undefined;
  return (await createBuiltInDriver('exec', {
    logger: options.logger,
    ...(options.agent.execLogDir ? { execLogDir: options.agent.execLogDir } : {}),
    ...(options.agent.execCgroupParent ? { execCgroupParent: options.agent.execCgroupParent } : {}),
  })) as ExecDriver;
}

/** SIGKILLs the process group of every exec task still known to the driver. Synchronous. */
function killExecTasks(agent: Agent, exec: ExecDriver | undefined): void {
  if (!exec) return;
  for (const alloc of agent.allocations) {
    for (const task of alloc.tasks.values()) {
      const pid = task.config.driver === 'exec' ? exec.describeTask(task.spec.id)?.pid : undefined;
      if (pid === undefined) continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
}

export async function supervise(options: SuperviseOptions): Promise<AgentSummary> {
  const { logger } = options;
  const exec = await execDriverFor(options);
  const inspection = await startInspection({
    logger,
    ...(options.inspectPort === undefined ? {} : { inspectPort: options.inspectPort }),
    ...(options.recordFile === undefined ? {} : { recordFile: options.recordFile }),
  });
  if (inspection.url) process.stderr.write(`Stately inspector: ${inspection.url}\n`);
  const logDir = options.agent.execLogDir ?? DEFAULT_EXEC_LOG_DIR;
  const agent = createAgent({
    ...options.agent,
    // Passed through, the output is read to its end before the logs go (here, not in the agent).
    ...(options.passThrough ? { keepLogs: true } : {}),
    ...(exec ? { drivers: { ...options.agent.drivers, exec } } : {}),
    logger,
    ...(inspection.observer ? { inspect: inspection.observer } : {}),
  });
  const removeSignalHandlers = handleStopSignals(agent, {
    mode: options.onSignal,
    logger,
    ...(options.signals ? { source: options.signals } : {}),
    ...(options.exit ? { exit: options.exit } : {}),
    forceKill: () => killExecTasks(agent, exec),
  });

  try {
    // The view listens before the tasks start, so it sees their first events.
    const view = startLiveView(
      agent,
      resolveOutputMode(options.output, process.stdout),
      process.stdout,
      options.refreshMs,
    );
    try {
      await agent.start();
    } catch (error) {
      view.finish(await agent.stop({ deadlineMs: 1000 }));
      throw new CliError(`cannot start the agent: ${(error as Error).message}`, 1);
    }
    if (agent.url) process.stderr.write(`HTTP API: ${agent.url}\n`);
    if (agent.url && options.agent.http?.ui !== false) process.stderr.write(`Web UI: ${agent.url}/ui\n`);
    const output = options.passThrough ? passThroughOutput(agent, logDir, view) : undefined;
    const summary = await agent.done;
    await output;
    view.finish(summary);
    if (options.passThrough && !options.agent.keepLogs) {
      for (const alloc of agent.allocations) removeAllocationLogs(logDir, alloc.id);
    }
    if (options.agent.keepLogs) process.stderr.write(`Task logs kept in ${logDir}\n`);
    return summary;
  } finally {
    removeSignalHandlers();
    await inspection.close();
  }
}
