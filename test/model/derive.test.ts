/** The generator itself, on a small machine: what it derives, and that the coverage check can fail. */
import { describe, expect, it } from 'vitest';
import { assign, createActor, fromPromise, setup, waitFor } from 'xstate';
import { createMachineCoverage } from '../../src/testing/coverage.js';
import { deriveTestMachine } from '../../src/testing/derive-test-machine.js';
import { createMachineTestModel, describePath } from '../../src/testing/machine-test-model.js';

const fetcher = setup({
  types: { context: {} as { retries: number } },
  actors: { load: fromPromise<string>(async () => 'ok') },
  guards: {
    isFatal: (_, params: { error: unknown }) => (params.error as { fatal?: boolean }).fatal === true,
  },
  actions: {
    countRetry: assign({ retries: ({ context }) => context.retries + 1 }),
  },
}).createMachine({
  id: 'fetcher',
  context: { retries: 0 },
  initial: 'loading',
  states: {
    loading: {
      invoke: {
        src: 'load',
        onDone: 'loaded',
        onError: [
          { guard: { type: 'isFatal', params: ({ event }) => ({ error: event.error }) }, target: 'failed' },
          { target: 'waiting', actions: 'countRetry' },
        ],
      },
    },
    waiting: { after: { 500: 'loading' }, on: { cancel: 'failed' } },
    loaded: { type: 'final' },
    failed: { type: 'final' },
  },
});

describe('deriveTestMachine', () => {
  it('turns invoke outcomes and delays into events, keeping guards', () => {
    const { events } = deriveTestMachine(fetcher);
    expect([...events.values()].map((e) => e.key).sort()).toEqual([
      'after:500',
      'cancel',
      'done:load',
      'error:load',
    ]);
  });

  it('gives createTestModel paths to every state, each guarded branch its own', () => {
    const model = createMachineTestModel(fetcher, {
      variants: {
        'error:load': [
          { variant: 'fatal', error: { fatal: true } },
          { variant: 'transient', error: { fatal: false } },
        ],
      },
    });
    const names = model.shortestPaths().map((path) => describePath(model, path));
    expect(names).toEqual(
      expect.arrayContaining([
        'init → done:load',
        'init → error:load(fatal)',
        'init → error:load(transient) → cancel',
      ]),
    );
    const { paths } = model.transitionPaths();
    expect(paths.map((path) => describePath(model, path))).toContain(
      'init → error:load(transient) → after:500 → done:load',
    );
  });

  it('reports what a live run never visited', async () => {
    const coverage = createMachineCoverage(fetcher);
    const actor = createActor(fetcher, { inspect: coverage.inspect }).start();
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(actor.getSnapshot().value).toBe('loaded');
    const report = coverage.report();
    expect(report.states.missing).toEqual(['fetcher.waiting', 'fetcher.failed']);
    expect(report.transitions.missing).toEqual([
      'fetcher.loading —error:load[0]→ fetcher.failed',
      'fetcher.loading —error:load[1]→ fetcher.waiting',
      'fetcher.waiting —cancel[0]→ fetcher.failed',
      'fetcher.waiting —after:500[0]→ fetcher.loading',
    ]);
    expect(report.text).toContain('fetcher: 3/5 states, 1/5 transitions visited');
  });
});
