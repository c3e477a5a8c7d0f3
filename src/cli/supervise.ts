/**
 * Runs an agent for a CLI command: inspection, the live view on stdout, SIGINT/SIGTERM handling
 * (first signal: graceful stop; second: exit at once), and the summary at the end.
 */
import {
  type AgentSummary,
  type CreateAgentOptions,
  createAgent,
  type StopMode,
} from '../agent/create-agent.ts';
import type { Logger } from '../runtime/logger.ts';
import { CliError } from './errors.ts';
import { startInspection } from './inspection.ts';
import { resolveOutputMode, startLiveView } from './live-view.ts';

export interface SuperviseOptions {
  agent: Omit<CreateAgentOptions, 'logger' | 'inspect'>;
  logger: Logger;
  output: string | undefined;
  onSignal: StopMode;
  inspectPort?: number;
  recordFile?: string;
  refreshMs?: number;
}

export async function supervise(options: SuperviseOptions): Promise<AgentSummary> {
  const { logger } = options;
  const inspection = await startInspection({
    logger,
    ...(options.inspectPort === undefined ? {} : { inspectPort: options.inspectPort }),
    ...(options.recordFile === undefined ? {} : { recordFile: options.recordFile }),
  });
  if (inspection.url) process.stderr.write(`Stately inspector: ${inspection.url}\n`);
  const agent = createAgent({
    ...options.agent,
    logger,
    ...(inspection.observer ? { inspect: inspection.observer } : {}),
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without waiting for the tasks');
      process.exit(130);
    }
    logger.info({ signal, mode: options.onSignal }, 'signal received, stopping');
    void agent.stop({ mode: options.onSignal });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

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
    const summary = await agent.done;
    view.finish(summary);
    return summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await inspection.close();
  }
}
