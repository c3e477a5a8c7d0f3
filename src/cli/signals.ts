/**
 * SIGINT/SIGTERM for a running agent. The first signal stops it gracefully (kill or detach, within
 * its deadline); a second one exits at once, after SIGKILLing the task processes the agent knows of
 * (kill mode only), so even a forced exit leaves no orphan behind.
 */
import type { Agent, StopMode } from '../agent/create-agent.js';
import type { Logger } from '../runtime/logger.js';
import { EXIT } from './errors.js';

/** Where signals come from: `process`, or an emitter in tests. */
export interface SignalSource {
  on(event: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface StopSignalOptions {
  mode: StopMode;
  logger: Logger;
  /** Default `process`. */
  source?: SignalSource;
  /** Ends the process at once. Default `process.exit`. */
  exit?: (code: number) => void;
  /** Kills what it can synchronously before a forced exit (kill mode). */
  forceKill?: () => void;
}

/** Exit code of a forced exit (in the one table of exit codes, errors.ts). */
export const FORCED_EXIT_CODE = EXIT.forced;

/** Installs the handlers; returns their removal. */
export function handleStopSignals(agent: Pick<Agent, 'stop'>, options: StopSignalOptions): () => void {
  const { logger, mode } = options;
  const source = options.source ?? process;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal, mode }, 'second signal: exiting without waiting for the tasks');
      if (mode === 'kill') options.forceKill?.();
      (options.exit ?? process.exit)(FORCED_EXIT_CODE);
      return;
    }
    logger.info({ signal, mode }, 'signal received, stopping');
    void agent.stop({ mode });
  };
  source.on('SIGINT', onSignal);
  source.on('SIGTERM', onSignal);
  return () => {
    source.off('SIGINT', onSignal);
    source.off('SIGTERM', onSignal);
  };
}
