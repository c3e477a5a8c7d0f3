/**
 * Nomad's restart policy (`restart` stanza) and its restart tracker, as a pure decision. A task may
 * restart `attempts` times within `intervalMs`; each restart waits `delayMs`. Past the limit, mode
 * `fail` ends the task as failed and mode `delay` waits for the interval to run out, then starts a
 * fresh window.
 */

export interface RestartPolicy {
  attempts: number;
  intervalMs: number;
  delayMs: number;
  mode: 'fail' | 'delay';
}

export type JobType = 'batch' | 'service';

const MINUTE = 60_000;

/** Nomad's defaults: batch 3 attempts in 24 h, service 2 in 30 min; 15 s delay; mode fail. */
export const DEFAULT_RESTART_POLICIES: Record<JobType, RestartPolicy> = {
  batch: { attempts: 3, intervalMs: 24 * 60 * MINUTE, delayMs: 15_000, mode: 'fail' },
  service: { attempts: 2, intervalMs: 30 * MINUTE, delayMs: 15_000, mode: 'fail' },
};

/** The restarts counted in the current window. */
export interface RestartWindow {
  startedAt: number;
  count: number;
}

export type ExitOutcome = 'success' | 'failure';

export type RestartDecision =
  | { restart: true; delayMs: number; window: RestartWindow; message: string }
  | { restart: false; failed: boolean; message: string };

export function decideRestart(
  policy: RestartPolicy,
  jobType: JobType,
  outcome: ExitOutcome,
  window: RestartWindow | undefined,
  now: number,
): RestartDecision {
  if (outcome === 'success' && jobType === 'batch') {
    return { restart: false, failed: false, message: 'Exited successfully' };
  }
  // With no restarts allowed (`run`, or `attempts: 0`) there are no attempts to exceed, in either
  // mode: as Nomad, mode `delay` does not wait out the window to restart a task allowed none.
  if (policy.attempts === 0)
    return { restart: false, failed: true, message: 'Restarts not allowed by the policy' };
  const current =
    window === undefined || now - window.startedAt > policy.intervalMs
      ? { startedAt: now, count: 0 }
      : window;
  if (current.count < policy.attempts) {
    return {
      restart: true,
      delayMs: policy.delayMs,
      window: { startedAt: current.startedAt, count: current.count + 1 },
      message: `Restart within policy (${current.count + 1} of ${policy.attempts})`,
    };
  }
  if (policy.mode === 'delay') {
    const untilWindowEnds = Math.max(current.startedAt + policy.intervalMs - now, 0);
    return {
      restart: true,
      delayMs: untilWindowEnds + policy.delayMs,
      window: { startedAt: now + untilWindowEnds, count: 0 },
      message: 'Exceeded allowed attempts, applying a delay',
    };
  }
  return { restart: false, failed: true, message: 'Exceeded allowed attempts' };
}
