/**
 * Signals to a running agent (`agent` and `run`). Every catchable signal whose default action would
 * kill the process is handled, so none of them ends the agent with its tasks left behind:
 * - stop signals (INT, TERM, HUP, QUIT, XCPU, PWR): the first stops gracefully (kill or detach,
 *   within the shutdown deadline); a second one exits at once (130), after SIGKILLing every process
 *   of every task (kill mode), so even a forced exit leaves no orphan behind;
 * - ignored signals (USR2, ALRM, VTALRM, PROF, IO, XFSZ, STKFLT): one `warn` line, nothing else.
 *   They are not requests to stop, and dying of one would orphan every task.
 * Not handled: SIGKILL and SIGSTOP (cannot be), SIGUSR1 (Node's inspector), SIGPIPE (ignored by Node:
 * a closed output is an EPIPE error, see `guardOutput`), and the fault signals (SEGV, BUS, FPE, ILL,
 * ABRT, TRAP, SYS). See docs/cli.md.
 */
import type { Agent, StopMode } from '../agent/create-agent.js';
import type { Logger } from '../runtime/logger.js';
import { EXIT } from './errors.js';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGXCPU', 'SIGPWR'] as const;
export const IGNORED_SIGNALS = [
  'SIGUSR2',
  'SIGALRM',
  'SIGVTALRM',
  'SIGPROF',
  'SIGIO',
  'SIGXFSZ',
  'SIGSTKFLT',
] as const;
type HandledSignal = (typeof STOP_SIGNALS)[number] | (typeof IGNORED_SIGNALS)[number];

/** Where signals come from: `process`, or an emitter in tests. */
export interface SignalSource {
  on(event: HandledSignal, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: HandledSignal, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface StopSignalOptions {
  mode: StopMode;
  logger: Logger;
  /** Default `process`. */
  source?: SignalSource;
  /** Ends the process at once. Default `process.exit`. */
  exit?: (code: number) => void;
  /**
   * Kills every task process before a forced exit (kill mode): synchronously first, then may clean
   * up (cgroups) until the returned promise settles; a third signal does not wait for that.
   */
  forceKill?: () => void | Promise<void>;
}

/** Exit code of a forced exit (in the one table of exit codes, errors.ts). */
export const FORCED_EXIT_CODE = EXIT.forced;

/** Installs the handlers; returns their removal. */
export function handleStopSignals(agent: Pick<Agent, 'stop'>, options: StopSignalOptions): () => void {
  const { logger, mode } = options;
  const source = options.source ?? process;
  const exit = options.exit ?? process.exit;
  let signals = 0;
  const onStop = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 2) return exit(FORCED_EXIT_CODE);
    if (signals === 2) {
      logger.warn({ signal, mode }, 'second signal: exiting without waiting for the tasks');
      if (mode !== 'kill' || !options.forceKill) return exit(FORCED_EXIT_CODE);
      const forceKill = options.forceKill;
      // The synchronous part (SIGKILLs) runs now, inside the try; its cleanup may take a moment.
      void new Promise<void>((resolve) => resolve(forceKill()))
        .catch((error: unknown) => logger.error({ error: String(error) }, 'forced kill failed'))
        .finally(() => exit(FORCED_EXIT_CODE));
      return;
    }
    logger.info({ signal, mode }, 'signal received, stopping');
    void agent.stop({ mode });
  };
  const onIgnored = (signal: NodeJS.Signals) => {
    logger.warn({ signal }, 'signal ignored (it does not stop the agent; SIGTERM does)');
  };
  // Under `node --cpu-prof` (or --prof) SIGPROF is V8's sampling tick: a handler of ours replaces
  // V8's, and the first tick then kills the agent ("Profiling timer expired"), tasks left behind.
  const profiled = source === process && process.execArgv.some((arg) => /^--(cpu-)?prof\b/.test(arg));
  const ignored = IGNORED_SIGNALS.filter((signal) => !(profiled && signal === 'SIGPROF'));
  for (const signal of STOP_SIGNALS) source.on(signal, onStop);
  for (const signal of ignored) source.on(signal, onIgnored);
  return () => {
    for (const signal of STOP_SIGNALS) source.off(signal, onStop);
    for (const signal of ignored) source.off(signal, onIgnored);
  };
}
