/**
 * The task runner machine against its independent table (`task-runner.spec-table.ts`), purely through
 * XState's `transition()`: target, task events with their payload, hook phases, log levels, driver
 * calls with their input, the restart timer, counters and output, at every step. Checked both ways:
 * a row the machine does not take fails by name; a machine transition no row accounts for fails by
 * name; an event the table leaves unhandled must change nothing. Kill and shutdown are sent from
 * every live state, pending included. Random lifecycles: `task-runner.walks.test.ts`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { taskRunnerMachine } from '../../machines/task-runner.machine.js';
import { machineTransitions } from './machine-transitions.js';
import { CONFIGS, checkStep, runnerFor, STEP_MS, startWalk, type Walk } from './task-runner.check.js';
import { type RunnerRecord, runnerAlphabet, stepRunner } from './task-runner.spec-table.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

const signature = (r: RunnerRecord) =>
  JSON.stringify([
    r.state,
    r.killRequested,
    r.window?.count ?? 0,
    r.lastExit !== undefined,
    r.verdict?.restart,
  ]);

describe.each(CONFIGS)('task runner machine against the spec table ($name)', ({ input, config }) => {
  const runner = runnerFor(input);
  const start = () => startWalk(runner);

  it('every (state, event) does what the table says; every machine transition is accounted for', () => {
    const taken = new Set<string>();
    const seen = new Set<string>();
    const labels = new Set<string>();
    let frontier = [start()];
    for (let depth = 0; depth < 12 && frontier.length > 0; depth++) {
      const next: Walk[] = [];
      for (const walk of frontier) {
        const live = walk.record.state !== 'dead' && walk.record.state !== 'detached';
        if (!live || seen.has(signature(walk.record))) continue;
        seen.add(signature(walk.record));
        for (const event of runnerAlphabet()) {
          const label = stepRunner(walk.record, event, config, Date.now() + STEP_MS)?.label;
          if (label) labels.add(label.replace(/, (killed|restarting|not restarting)$/, ''));
          next.push(checkStep(runner, config, walk, event, taken));
        }
      }
      frontier = next;
    }
    const missing = [...machineTransitions(taskRunnerMachine).entries()].filter(([key]) => !taken.has(key));
    expect(
      missing.map(([, name]) => name),
      'machine transitions no row of the table accounts for',
    ).toEqual([]);
    // Kill and shutdown from every live state (pending included), each a row of its own.
    for (const state of ['pending', 'starting', 'running', 'killing', 'exited', 'restarting']) {
      expect(
        [...labels].some((l) => l.startsWith(`${state} + shutdown`)),
        `${state} + shutdown`,
      ).toBe(true);
    }
    for (const row of [
      'pending + kill',
      'starting + kill',
      'running + kill',
      'exited + kill',
      'restarting + kill',
    ]) {
      expect(
        [...labels].some((l) => l.startsWith(row)),
        row,
      ).toBe(true);
    }
  });
});
