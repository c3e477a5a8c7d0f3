/**
 * Writes the agent's state whenever it changes, coalesced: a change while a write is in flight
 * marks the state dirty and one more write follows with the state as it is then, so a burst of
 * changes (a hundred tasks starting) costs two writes, not a hundred, and the file on disk is never
 * more than one write behind.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../runtime/logger.js';
import { writeFileAtomic } from './atomic-file.js';
import { type AgentState, STATE_FILE } from './state-file.js';

export interface StateWriter {
  /** The state changed: write it (soon, coalesced). */
  changed(): void;
  /** Resolves once what was changed so far is on disk. */
  flush(): Promise<void>;
  /** Waits for writes in flight, then removes the state (tasks stopped: nothing to recover). */
  clear(): Promise<void>;
  /** Writes done so far and the time they took (for docs/recovery.md's figures). */
  readonly stats: { writes: number; totalMs: number; maxMs: number };
}

export function createStateWriter(dir: string, snapshot: () => AgentState, logger: Logger): StateWriter {
  const path = join(dir, STATE_FILE);
  const stats = { writes: 0, totalMs: 0, maxMs: 0 };
  let dirty = false;
  let closed = false;
  let inFlight: Promise<void> | undefined;
  let warned = false;

  const writeOnce = async () => {
    dirty = false;
    const started = performance.now();
    try {
      await writeFileAtomic(path, `${JSON.stringify(snapshot())}\n`);
      const took = performance.now() - started;
      stats.writes += 1;
      stats.totalMs += took;
      stats.maxMs = Math.max(stats.maxMs, took);
      warned = false;
    } catch (error) {
      // The last good state stays on disk; the next change tries again. One warn per failing streak.
      if (!warned) logger.warn({ path, error: String(error) }, 'cannot save the agent state');
      warned = true;
    }
  };
  const drain = async () => {
    while (dirty && !closed) await writeOnce();
    inFlight = undefined;
  };
  const changed = () => {
    if (closed) return;
    dirty = true;
    // A microtask later: every change of the same tick goes into one write.
    inFlight ??= Promise.resolve().then(drain);
  };
  return {
    changed,
    async flush() {
      while (inFlight) await inFlight;
    },
    async clear() {
      closed = true;
      while (inFlight) await inFlight;
      await unlink(path).catch(() => {});
    },
    stats,
  };
}
