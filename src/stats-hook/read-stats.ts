import { fromCallback } from 'xstate';
import { describeValue } from '../../machines/open-error.js';
import type { ReadStatsInput, StatsHookEvent } from '../../machines/stats-hook.machine.js';
import { findSampleProblem } from '../drivers/validate-sample.js';

/**
 * The `readStats` effect: pulls samples one at a time, validates each and sends it to the hook.
 * Stopping it (the hook left `streaming`) closes the stream at once; anything the driver still
 * yields after that is never sent (spec rule 8), which the `stopped` flag guarantees even for a
 * sample already read.
 */
export const readStatsActor = fromCallback<StatsHookEvent, ReadStatsInput>(({ input, sendBack }) => {
  const { stream, stallTimeoutMs } = input;
  let lastTimestamp = input.lastTimestamp;
  let stopped = false;
  let stallTimer: NodeJS.Timeout | undefined;
  const iterator = stream.samples[Symbol.asyncIterator]();

  const send = (event: StatsHookEvent) => {
    if (!stopped) sendBack(event);
  };
  const armStallTimer = () => {
    if (stallTimeoutMs === undefined) return;
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => send({ type: 'stats.stalled' }), stallTimeoutMs);
  };

  const read = async () => {
    armStallTimer();
    for (;;) {
      const next = await iterator.next();
      if (stopped) return;
      if (next.done) return send({ type: 'stats.ended' });
      armStallTimer();
      const sample = next.value;
      const problem = findSampleProblem(sample, lastTimestamp);
      if (problem) {
        // The bad value goes on as a short string: the log line needs no more, and the raw value
        // may not survive `String()` (null-prototype object) or may be huge.
        send({
          type: 'stats.dropped',
          cause: problem.cause,
          path: problem.path,
          value: describeValue(problem.value),
        });
        continue;
      }
      lastTimestamp = (sample as { timestamp: number }).timestamp;
      send({ type: 'stats.sample', sample, timestamp: lastTimestamp });
    }
  };
  read().catch((error: unknown) => send({ type: 'stats.failed', error }));

  return () => {
    stopped = true;
    clearTimeout(stallTimer);
    stream.close();
    // A generator suspended in `await` finishes its `return()` only after that await settles;
    // aborting the stream (above) is what really interrupts it.
    iterator.return?.().catch(() => {});
  };
});
