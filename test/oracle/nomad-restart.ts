/**
 * Nomad's restart tracker (client/allocrunner/taskrunner/restarts, Nomad 1.x) as a plain reference,
 * written from its behaviour, not from `machines/restart-policy.ts`:
 *
 * - a batch task that exits 0 is done (not failed) and never restarts; a service task restarts
 *   after any exit, 0 included;
 * - `attempts: 0`: no restart at all (Nomad: "Policy allows no restarts"), whatever the mode;
 * - each failure counts one attempt in the current window; a failure after the window is over
 *   (strictly later than start + interval) opens a new window;
 * - within `attempts` the task restarts after `delay`; past it, mode `fail` ends the task as failed
 *   and mode `delay` waits for the window to end.
 *
 * taskpulse's documented choices where it differs from Nomad (docs/job-file.md), kept visible here:
 * the first window opens at the first failure (Nomad: when the tracker is made); restart delays
 * have no 25 % jitter; mode `delay` waits for the window to end and then the delay too, and the
 * new window starts where the old one ended.
 */
export interface ReferencePolicy {
  attempts: number;
  intervalMs: number;
  delayMs: number;
  mode: 'fail' | 'delay';
}

export type ReferenceJobType = 'batch' | 'service';

/** Nomad's defaults (`structs.DefaultServiceJobRestartPolicy`, `DefaultBatchJobRestartPolicy`). */
export const NOMAD_DEFAULTS: Record<ReferenceJobType, ReferencePolicy> = {
  batch: { attempts: 3, intervalMs: 24 * 3_600_000, delayMs: 15_000, mode: 'fail' },
  service: { attempts: 2, intervalMs: 30 * 60_000, delayMs: 15_000, mode: 'fail' },
};

export interface ReferenceWindow {
  startedAt: number;
  count: number;
}

export type ReferenceVerdict =
  | { restart: true; delayMs: number; message: string; window: ReferenceWindow }
  | { restart: false; failed: boolean; message: string };

export function referenceRestart(
  policy: ReferencePolicy,
  jobType: ReferenceJobType,
  exitedZero: boolean,
  window: ReferenceWindow | undefined,
  now: number,
): ReferenceVerdict {
  if (exitedZero && jobType === 'batch')
    return { restart: false, failed: false, message: 'Exited successfully' };
  if (policy.attempts === 0)
    return { restart: false, failed: true, message: 'Restarts not allowed by the policy' };
  const expired = window === undefined || now > window.startedAt + policy.intervalMs;
  const startedAt = expired ? now : window.startedAt;
  const count = (expired ? 0 : window.count) + 1;
  if (count <= policy.attempts) {
    return {
      restart: true,
      delayMs: policy.delayMs,
      message: `Restart within policy (${count} of ${policy.attempts})`,
      window: { startedAt, count },
    };
  }
  if (policy.mode === 'fail') return { restart: false, failed: true, message: 'Exceeded allowed attempts' };
  const windowEnd = startedAt + policy.intervalMs;
  const wait = windowEnd > now ? windowEnd - now : 0;
  return {
    restart: true,
    delayMs: wait + policy.delayMs,
    message: 'Exceeded allowed attempts, applying a delay',
    window: { startedAt: now + wait, count: 0 },
  };
}
