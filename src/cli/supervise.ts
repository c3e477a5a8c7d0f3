/**
 * Runs an agent for a CLI command: output paths checked first, inspection, the live view on stdout,
 * signal handling (see signals.ts), a closed stdout or stderr (see closed-output.ts), and the summary
 * at the end. Nothing starts before every output path is known to work.
 */
import {
  type Agent,
  type AgentSummary,
  type CreateAgentOptions,
  createAgent,
  type StopMode,
} from '../agent/create-agent.js';
import { createBuiltInDriver } from '../agent/drivers.js';
import { StateError } from '../agent/state/errors.js';
import type { ExecDriver } from '../drivers/exec/index.js';
import { DEFAULT_EXEC_LOG_DIR, removeAllocationLogs } from '../drivers/exec/task-logs.js';
import { DirectoryError, ensureWritableDirectory } from '../runtime/ensure-directory.js';
import type { Logger } from '../runtime/logger.js';
import { watchOutput } from './closed-output.js';
import { CliError, EXIT } from './errors.js';
import { startInspection } from './inspection.js';
import { resolveOutputMode, startLiveView } from './live-view.js';
import { passThroughOutput } from './pass-through.js';
import { handleStopSignals, type SignalSource } from './signals.js';

export interface SuperviseOptions {
  agent: Omit<CreateAgentOptions, 'logger' | 'inspect'>;
  logger: Logger;
  output: string | undefined;
  onSignal: StopMode;
  /** A closed stdout: `stop` the tasks (`run`, as a pipeline would), or `continue` without output. */
  onOutputClosed?: 'stop' | 'continue';
  inspectPort?: number;
  recordFile?: string;
  refreshMs?: number;
  /** Write the exec tasks' output through to ours (`run`), then remove their logs unless `keepLogs`. */
  passThrough?: boolean;
  /** For tests: where signals come from, and how the process exits (defaults: `process`). */
  signals?: SignalSource;
  exit?: (code: number) => void;
}

export interface SuperviseSummary extends AgentSummary {
  /** Set when stdout could not be written any more: the error code (`EPIPE`…). */
  stdoutClosedBy: string | undefined;
}

/** How long a forced exit waits for the exec driver to remove the tasks' cgroups. */
const FORCED_CLEANUP_MS = 1500;

const hasExecTasks = (options: SuperviseOptions) =>
  options.agent.jobs.some((job) =>
    job.groups.some((group) => group.tasks.some((task) => task.driver === 'exec')),
  );
/** An exec driver in this process (out of process, `--exec-plugin`, the tasks are the plugin's). */
const needsExec = (options: SuperviseOptions) => !options.agent.execOutOfProcess && hasExecTasks(options);

/**
 * The exec driver, created here rather than inside the agent when a job needs it: a forced exit
 * must kill the tasks' processes synchronously, and only the driver knows them.
 */
async function execDriverFor(options: SuperviseOptions): Promise<ExecDriver | undefined> {
  const given = options.agent.drivers?.exec;
  if (given) return 'killAll' in given ? (given as ExecDriver) : undefined;
  if (!needsExec(options)) return undefined;
  return (await createBuiltInDriver('exec', {
    logger: options.logger,
    ...(options.agent.execLogDir ? { execLogDir: options.agent.execLogDir } : {}),
    ...(options.agent.execCgroupParent ? { execCgroupParent: options.agent.execCgroupParent } : {}),
  })) as ExecDriver;
}

/** `--exec-log-dir` (or the default one, when exec tasks will write there): made and writable. */
async function checkExecLogDir(options: SuperviseOptions): Promise<void> {
  const given = options.agent.execLogDir;
  if (given === undefined && !hasExecTasks(options)) return;
  try {
    await ensureWritableDirectory(given ?? DEFAULT_EXEC_LOG_DIR);
  } catch (error) {
    if (!(error instanceof DirectoryError)) throw error;
    const what = given === undefined ? 'exec log directory' : `--exec-log-dir ${given}`;
    throw new CliError(`${what}: ${error.message}`, EXIT.usage);
  }
}

function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

export async function supervise(options: SuperviseOptions): Promise<SuperviseSummary> {
  const { logger } = options;
  // A closed stderr only silences the direct writes below (the logger guards its own fd).
  watchOutput(process.stderr);
  const stdout = watchOutput(process.stdout);
  await checkExecLogDir(options);
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
  // Stopping starts nothing new: a start still queued in the driver fails instead of racing the stop.
  const stopper: Pick<Agent, 'stop'> = {
    stop(stopOptions) {
      exec?.refuseStarts();
      return agent.stop(stopOptions);
    },
  };
  const removeSignalHandlers = handleStopSignals(stopper, {
    mode: options.onSignal,
    logger,
    ...(options.signals ? { source: options.signals } : {}),
    ...(options.exit ? { exit: options.exit } : {}),
    ...(exec
      ? {
          forceKill: () => {
            exec.killAll();
            return withTimeout(exec.destroyAll(), FORCED_CLEANUP_MS);
          },
        }
      : {}),
  });
  let stdoutClosedBy: string | undefined;
  stdout.onClosed((code) => {
    stdoutClosedBy = code;
    if (options.onOutputClosed === 'stop') {
      logger.warn({ code }, 'stdout closed: stopping the command, as a pipeline would');
      void stopper.stop({ mode: 'kill' });
    } else {
      logger.warn({ code }, 'stdout closed: no more live output; the tasks go on');
    }
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
      // A saved state it cannot use (corrupt, newer, locked): like a bad job file, nothing started.
      if (error instanceof StateError) throw new CliError(error.message, EXIT.usage);
      throw new CliError(`cannot start the agent: ${(error as Error).message}`, 1);
    }
    if (agent.url) process.stderr.write(`HTTP API: ${agent.url}\n`);
    if (agent.url && options.agent.http?.ui !== false) process.stderr.write(`Web UI: ${agent.url}/ui\n`);
    const output = options.passThrough ? passThroughOutput(agent, logDir, view) : undefined;
    const summary = await agent.done;
    // Nothing of a killed (or finished) agent's tasks may outlive it, whatever state a runner was in.
    if (exec && !summary.tasks.some((task) => task.state === 'detached')) await exec.destroyAll();
    await output;
    view.finish(summary);
    if (options.passThrough && !options.agent.keepLogs) {
      for (const alloc of agent.allocations) removeAllocationLogs(logDir, alloc.id);
    }
    if (options.agent.keepLogs) process.stderr.write(`Task logs kept in ${logDir}\n`);
    return { ...summary, stdoutClosedBy };
  } finally {
    removeSignalHandlers();
    await inspection.close();
  }
}
