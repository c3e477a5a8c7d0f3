/**
 * Simulated time outside vitest: Node's built-in `MockTimers` (node:test) fakes `setTimeout` and
 * `Date` (XState's `after` delays and the backoff timer are plain `setTimeout`s). `setImmediate` stays
 * real, so waiting for one flushes every pending promise between two clock steps: a hook's
 * rejected driver call is handled before the clock moves on, as it would be in real time.
 * (@sinonjs/fake-timers is only bundled inside vitest here, and vitest's `vi` needs its runner.)
 */
import { mock } from 'node:test';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface SimClock {
  /** Simulated ms since `useSimClock`. */
  now(): number;
  /** Moves time forward in `stepMs` steps, letting promises settle after each. */
  advance(ms: number, stepMs?: number): Promise<void>;
  /** Lets pending promises settle without moving time. */
  settle(): Promise<void>;
  restore(): void;
}

export function useSimClock(): SimClock {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  let elapsed = 0;
  return {
    now: () => elapsed,
    async advance(ms, stepMs = 1) {
      for (let done = 0; done < ms; done += stepMs) {
        await flush(); // what the last step (or the caller) started settles at its own time
        mock.timers.tick(stepMs);
        elapsed += stepMs;
        await flush();
      }
    },
    settle: flush,
    restore: () => mock.timers.reset(),
  };
}
