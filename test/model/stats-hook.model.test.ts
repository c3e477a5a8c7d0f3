/**
 * Model-based tests of the stats hook, generated from `machines/stats-hook.machine.ts`. Each path of
 * the derived model drives the real `createStatsHook` (scripted driver, fake timers) and checks, in
 * every state, what must hold there. A final check fails if the paths left any state or transition of
 * the production machine unvisited.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type StatsHookContext, statsHookMachine } from '../../machines/stats-hook.machine.js';
import {
  PluginShutdownError,
  RecoverableError,
  StatsNotImplementedError,
  TaskNotFoundError,
} from '../../src/drivers/errors.js';
import { createStatsHook, type StatsHook } from '../../src/stats-hook/create-stats-hook.js';
import { createMachineCoverage } from '../../src/testing/coverage.js';
import {
  createMachineTestModel,
  describePath,
  type EventExecutor,
  type ModelPath,
  type ModelSnapshot,
} from '../../src/testing/machine-test-model.js';
import {
  type ErrorVariant,
  type HookEvent,
  type HookEventKey,
  type HookRecord,
  type HookStep,
  initialRecord,
  SPEC_DEFAULTS,
  stepHook,
} from '../oracle/stats-hook.spec-table.js';
import {
  createScriptedDriver,
  type ScriptedDriver,
  type ScriptedStream,
} from '../support/scripted-driver.js';
import {
  advance,
  captureLogs,
  flush,
  invalidSample,
  type LogLine,
  useFakeTime,
  validSample,
} from './harness.js';

const OPEN_TIMEOUT_MS = 10_000;
const STALL_TIMEOUT_MS = 30_000;
const INTERVAL_MS = 1000;

/** One error of every class the hook tells apart (spec rule 4), for opens and for streams. */
const errorVariants = [
  { variant: 'not-implemented', error: new StatsNotImplementedError() },
  { variant: 'unrecoverable', error: new RecoverableError('container stopped', false) },
  { variant: 'recoverable', error: new RecoverableError('try again', true) },
  { variant: 'plugin-shutdown', error: new PluginShutdownError() },
  { variant: 'task-not-found', error: new TaskNotFoundError('t1') },
  { variant: 'other', error: new Error('boom') },
];

const testModel = createMachineTestModel(statsHookMachine, {
  input: {
    taskId: 't1',
    intervalMs: INTERVAL_MS,
    openTimeoutMs: OPEN_TIMEOUT_MS,
    stallTimeoutMs: STALL_TIMEOUT_MS,
  },
  variants: {
    'error:openStats': errorVariants,
    'stats.failed': errorVariants,
    'stats.dropped': [
      { variant: 'negative', cause: 'negative', path: 'resourceUsage.memory.rss', value: -1 },
      { variant: 'not-an-object', cause: 'not-an-object', path: '', value: 'x' },
    ],
  },
});

const shortest = testModel.shortestPaths();
const { paths: edgePaths, edgeCount } = testModel.transitionPaths();
const coverage = createMachineCoverage(statsHookMachine);

interface Run {
  driver: ScriptedDriver;
  hook: StatsHook;
  lines: LogLine[];
  /** The independent expectation (`test/oracle/stats-hook.spec-table.ts`), stepped with the path. */
  oracle: HookRecord;
  step: HookStep | undefined;
  /** What the runtime had shown before the step: log lines, driver calls, samples. */
  seen: { lines: number; calls: number; published: number };
  /** Error lines let through, by rate-limit key (rule 10: one per minute per cause). */
  errorAdmittedAt: Map<string, number>;
  published: unknown[];
  /** Valid samples pushed into the streams, in order: what the updater must have received. */
  expected: unknown[];
  stream: ScriptedStream | undefined;
  counter: number;
}

let run: Run;

beforeEach(() => {
  useFakeTime();
  const driver = createScriptedDriver();
  const published: unknown[] = [];
  const { logger, lines } = captureLogs();
  const hook = createStatsHook({
    taskId: 't1',
    intervalMs: INTERVAL_MS,
    openTimeoutMs: OPEN_TIMEOUT_MS,
    stallTimeoutMs: STALL_TIMEOUT_MS,
    stats: { stats: (intervalMs, signal) => driver.taskStats('t1', intervalMs, signal) },
    updater: { updateStats: (sample) => published.push(sample) },
    logger,
    inspect: coverage.inspect,
  });
  hook.actor.subscribe({ error: () => {} });
  run = {
    driver,
    hook,
    lines,
    oracle: initialRecord(),
    step: undefined,
    seen: { lines: 0, calls: 0, published: 0 },
    errorAdmittedAt: new Map(),
    published,
    expected: [],
    stream: undefined,
    counter: 0,
  };
});

afterEach(() => {
  run.hook.shutdown();
  vi.useRealTimers();
});

const currentStream = () => {
  if (!run.stream) throw new Error('the path expects an open stream, but none was opened');
  return run.stream;
};

/** Waits out a delay and checks it is exactly that long: one ms early, nothing has happened yet. */
const waitExactly = async (ms: number, state: string) => {
  await advance(ms - 1);
  expect(run.hook.state, `still ${state} 1 ms before its ${ms} ms timer`).toBe(state);
  await advance(1);
};

const executorsByKey: Record<string, EventExecutor> = {
  'xstate.init': () => run.hook.poststart(),
  'done:openStats': () => {
    run.stream = run.driver.openStream();
  },
  'error:openStats': (event) => run.driver.pending('taskStats').reject(event.error),
  'after:openTimeout': () => waitExactly(OPEN_TIMEOUT_MS, 'retrying'),
  // The oracle's delay, not the model's: a machine with a wrong delay must not set its own test's clock.
  'after:retryDelay': () => waitExactly(run.oracle.backoff?.delayMs ?? Number.NaN, 'backoff'),
  'stats.sample': () => {
    const sample = validSample(++run.counter);
    run.expected.push(sample);
    currentStream().push(sample);
  },
  'stats.dropped': (event) => currentStream().push(invalidSample(String(event.cause), ++run.counter)),
  'stats.ended': () => currentStream().end(),
  'stats.stalled': () => waitExactly(STALL_TIMEOUT_MS, 'streaming'),
  'stats.failed': (event) => currentStream().fail(event.error),
  exited: () => run.hook.exited(),
  shutdown: () => run.hook.shutdown(),
  poststart: () => run.hook.poststart(),
};

/** The model event as the oracle names it. */
function oracleEvent(event: { type: string; variant?: string; cause?: unknown }): HookEvent {
  const key = testModel.keyOf(event) as HookEventKey;
  if (key === 'error:openStats' || key === 'stats.failed')
    return { key, error: event.variant as ErrorVariant };
  if (key === 'stats.dropped') return { key, cause: String(event.cause) };
  if (key === 'stats.sample') return { key, timestamp: validSample(run.counter + 1).timestamp };
  return { key };
}

/** Every executor first steps the oracle: the expectation is fixed before the runtime moves. */
const executors: Record<string, EventExecutor> = Object.fromEntries(
  Object.entries(executorsByKey).map(([key, execute]) => [
    key,
    async (event, before) => {
      run.seen = {
        lines: run.lines.length,
        calls: run.driver.history.length,
        published: run.published.length,
      };
      if (key === 'xstate.init') {
        run.oracle = initialRecord();
        run.step = undefined;
      } else {
        const stepped = stepHook(run.oracle, oracleEvent(event), SPEC_DEFAULTS_FOR_TEST);
        if (!stepped) throw new Error(`the spec table has no row for ${run.oracle.state} + ${key}`);
        run.oracle = stepped.record;
        run.step = stepped.step;
      }
      await execute(event, before);
    },
  ]),
);
const SPEC_DEFAULTS_FOR_TEST = { ...SPEC_DEFAULTS, intervalMs: INTERVAL_MS, openTimeoutMs: OPEN_TIMEOUT_MS };

/** The runtime against the oracle's step: log levels (errors rate-limited), calls, samples, state. */
function checkAgainstOracle(): void {
  const { oracle, step, hook, driver } = run;
  expect(hook.state, 'the runtime is in the state the spec table says').toBe(oracle.state);
  expect(hook.actor.getSnapshot().context.counts, 'counters as the spec table counts them').toEqual(
    oracle.counts,
  );
  const newLines = run.lines.slice(run.seen.lines).filter((line) => line.hook === 'stats');
  const initial = step === undefined;
  const expectedLevels = (initial ? [] : step.row.logs).filter((level) => {
    if (level !== 'error') return true;
    const key = step?.row.key === 'after:openTimeout' ? 'timed out' : 'open failed';
    const last = run.errorAdmittedAt.get(key);
    if (last !== undefined && Date.now() - last < 60_000) return false; // rule 10: rate-limited
    run.errorAdmittedAt.set(key, Date.now());
    return true;
  });
  expect(
    newLines.map((line) => line.level),
    `log levels of the step (${initial ? 'start' : step.row.label})`,
  ).toEqual(expectedLevels);
  expect(driver.history.length - run.seen.calls, 'driver calls the step started').toBe(
    initial || step.newCall ? 1 : 0,
  );
  expect(run.published.length - run.seen.published, 'samples the step handed on').toBe(
    step?.row.publish ? 1 : 0,
  );
}

/** What must hold in each state, against the real runtime. */
async function check(model: ModelSnapshot): Promise<void> {
  await flush();
  checkAgainstOracle();
  const { driver, hook } = run;
  const state = String(model.value);
  const context = model.context as StatsHookContext;
  expect(hook.state, 'the runtime is in the model state').toBe(state);
  const live = hook.actor.getSnapshot().context;
  expect(live.counts, 'calls, samples, drops, errors and stream ends as the model counts them').toEqual(
    context.counts,
  );
  expect(live.failedOpens).toBe(context.failedOpens);
  expect(run.published, 'every valid sample reached the updater, in order').toEqual(run.expected);

  switch (state) {
    case 'retrying':
      expect(
        driver.inFlight().map((c) => c.method),
        'exactly one driver call in flight',
      ).toEqual(['taskStats']);
      expect(driver.openStreams()).toHaveLength(0);
      expect(vi.getTimerCount(), 'only the open time-out runs').toBe(1);
      break;
    case 'streaming':
      expect(driver.inFlight(), 'no driver call in flight').toHaveLength(0);
      expect(driver.openStreams(), 'one open stream').toHaveLength(1);
      expect(vi.getTimerCount(), 'only the stall timer runs').toBe(1);
      break;
    case 'backoff':
      expect(driver.inFlight(), 'no driver call in flight').toHaveLength(0);
      expect(driver.openStreams(), 'no open stream').toHaveLength(0);
      expect(vi.getTimerCount(), 'one timer: the backoff').toBe(1);
      break;
    case 'terminal': {
      expect(driver.inFlight(), 'no driver call left').toHaveLength(0);
      expect(driver.openStreams(), 'no stream left').toHaveLength(0);
      expect(vi.getTimerCount(), 'no timer left').toBe(0);
      expect(Object.keys(hook.actor.getSnapshot().children), 'no child actor left').toEqual([]);
      const output = await hook.done;
      expect(output, 'the output: the reason and every counter, as the spec table says').toEqual({
        taskId: 't1',
        reason: run.oracle.reason,
        ...run.oracle.counts,
      });
      expect(output.reason).toBe(context.reason ?? 'exited');
      expect(output).toMatchObject(context.counts);
      // Nothing wakes up later: no call, no sample, however long we wait.
      const calls = driver.history.length;
      await advance(3_600_000);
      expect(driver.history.length, 'no driver call after terminal').toBe(calls);
      expect(run.published).toEqual(run.expected);
      break;
    }
    default:
      throw new Error(`no checks written for state ${state}: add them here`);
  }
}

const runPath = (path: ModelPath) => testModel.run(path, executors, check);

describe('stats hook, generated from its machine', () => {
  it('generates paths', () => {
    expect(shortest.length).toBeGreaterThan(0);
    expect(edgePaths.length).toBeGreaterThan(0);
    console.info(
      `stats hook model: ${shortest.length} shortest paths, ${edgePaths.length} transition paths covering ${edgeCount} model edges`,
    );
  });

  describe('shortest path to every state', () => {
    it.each(shortest.map((path) => [describePath(testModel, path), path] as const))('%s', async (_, path) => {
      await runPath(path);
    });
  });

  describe('every transition', () => {
    it.each(edgePaths.map((path) => [describePath(testModel, path), path] as const))(
      '%s',
      async (_, path) => {
        await runPath(path);
      },
    );
  });

  it('visited every state and transition of the production machine', () => {
    const report = coverage.report();
    expect(report.states.missing.length + report.transitions.missing.length, report.text).toBe(0);
    console.info(report.text);
  });
});
