/**
 * Model-based tests of the task runner, generated from `machines/task-runner.machine.ts`. Each path
 * drives the real `createTaskRunner` (scripted driver, fake timers), with its real stats hook, and
 * checks in every state which driver calls are in flight, what timers run, and what is left at the end.
 * The model comes from the machine, so each path also steps the independent table
 * (`test/oracle/task-runner.spec-table.ts`) and the runtime must match it at every step: the state,
 * the task events with their payload, the hook phases, the log levels, the driver calls started,
 * and the length of every timer it waits out.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RecoveryMode, TaskExit, TaskRunnerContext } from '../../machines/task-runner.machine.js';
import { taskRunnerMachine } from '../../machines/task-runner.machine.js';
import type { ExitResult } from '../../src/drivers/contract.js';
import { PluginShutdownError, RecoverableError, TaskNotFoundError } from '../../src/drivers/errors.js';
import { createBus, type TaskEvent } from '../../src/runtime/bus.js';
import { createTaskRunner, type TaskRunner } from '../../src/task-runner/create-task-runner.js';
import { createMachineCoverage } from '../../src/testing/coverage.js';
import {
  createMachineTestModel,
  describePath,
  type EventExecutor,
  type ModelPath,
  type ModelSnapshot,
} from '../../src/testing/machine-test-model.js';
import { tableState } from '../oracle/task-runner.check.js';
import {
  entryEffects,
  initialRunnerRecord,
  type RecoverError,
  type RecoverMode,
  type RunnerConfig,
  type RunnerEvent,
  type RunnerEventKey,
  type RunnerRecord,
  type RunnerStep,
  type StartError,
  type StopError,
  stepRunner,
} from '../oracle/task-runner.spec-table.js';
import { createScriptedDriver, type ScriptedCall, type ScriptedDriver } from '../support/scripted-driver.js';
import { advance, captureLogs, flush, type LogLine, useFakeTime } from './harness.js';

const RESTART_DELAY_MS = 15_000;
const restartPolicy = {
  attempts: 1,
  delayMs: RESTART_DELAY_MS,
  intervalMs: 30 * 60_000,
  mode: 'fail',
} as const;

const exit = (exitCode: number | null, signal: string | null = null): TaskExit => ({
  exitCode,
  signal,
  oomKilled: false,
});

/** One retry of a failed stop fits in the deadline (1 s ≤ 1.5 s), a second (2 s) does not. */
const killRetry = { baseMs: 1000, capMs: 1000 };
const KILL_DEADLINE_MS = 1500;

/**
 * The runner is made as a recovered one (a saved handle, counts from zero), so `recover` reaches
 * every mode; `start` works the same on it as on a fresh runner.
 */
const recovered = { restarts: 0, restartWindow: undefined };

const testModel = createMachineTestModel(taskRunnerMachine, {
  input: {
    taskId: 't1',
    jobType: 'service',
    restartPolicy,
    killRetry,
    killDeadlineMs: KILL_DEADLINE_MS,
    recovered,
  },
  variants: {
    recover: [
      { variant: 'running', mode: 'running' },
      { variant: 'start', mode: 'start' },
      { variant: 'dead', mode: 'dead' },
    ],
    'error:recoverTask': [
      { variant: 'not-found', error: new TaskNotFoundError('t1') },
      { variant: 'other', error: new Error('plugin gone') },
    ],
    'error:startTask': [
      { variant: 'recoverable', error: new RecoverableError('image pull failed', true) },
      { variant: 'plugin-shutdown', error: new PluginShutdownError() },
      { variant: 'unrecoverable', error: new RecoverableError('bad config', false) },
      { variant: 'other', error: new Error('boom') },
    ],
    'done:waitTask': [
      { variant: 'exit-0', output: exit(0) },
      { variant: 'exit-1', output: exit(1) },
    ],
    'done:stopTask': [{ variant: 'SIGTERM', output: exit(null, 'SIGTERM') }],
    'error:stopTask': [
      {
        variant: 'engine-down',
        error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      },
      { variant: 'not-found', error: new TaskNotFoundError('t1') },
    ],
  },
  // Guards read these: how many restarts the window holds (bounded by `attempts`), a pending kill,
  // and the failed stops (one retry fits in the kill deadline below, the second failure gives up).
  serializeContext: (context: TaskRunnerContext) => ({
    kill: context.killRequested,
    restart: context.restartRequested,
    window: context.restartWindow?.count ?? 0,
    stopFailures: context.stopFailures,
  }),
});

/** The same runner as the table knows it (kill timeout: the 5 s default). */
const ORACLE_CONFIG: RunnerConfig = {
  taskId: 't1',
  jobType: 'service',
  policy: restartPolicy,
  killTimeoutMs: 5000,
  killDeadlineMs: KILL_DEADLINE_MS,
  killRetry,
};

const shortest = testModel.shortestPaths();
const { paths: edgePaths, edgeCount } = testModel.transitionPaths();
const coverage = createMachineCoverage(taskRunnerMachine);

interface Run {
  driver: ScriptedDriver;
  runner: TaskRunner;
  /** Calls without an AbortSignal that the runner left behind when it moved on (see `settleOrphans`). */
  orphans: Set<ScriptedCall>;
  /** When the last stop failed (fake time). */
  stopFailedAt: number;
  /** The independent expectation, stepped with the path, and its last step. */
  oracle: RunnerRecord;
  step: RunnerStep | undefined;
  /** The timer the table set last (restart or stop retry delay): what the delay executors wait out. */
  timerMs: number | undefined;
  /** What the runtime showed: task events, hook phases, log lines; counts before the step. */
  events: Omit<TaskEvent, 'time'>[];
  phases: string[];
  lines: LogLine[];
  seen: { events: number; phases: number; lines: number; calls: number };
}

let run: Run;

beforeEach(() => {
  useFakeTime();
  const driver = createScriptedDriver();
  const bus = createBus();
  const events: Omit<TaskEvent, 'time'>[] = [];
  bus.on('task:event', ({ event: { time: _time, ...event } }) => events.push(event));
  const phases: string[] = [];
  const record = (phase: string) => () => phases.push(phase);
  const { logger, lines } = captureLogs();
  const runner = createTaskRunner({
    task: { id: 't1', name: 'web', config: {} },
    driver,
    jobType: 'service',
    restartPolicy,
    killRetry,
    killDeadlineMs: KILL_DEADLINE_MS,
    logger,
    bus,
    hooks: [
      {
        name: 'phases',
        poststart: record('poststart'),
        exited: record('exited'),
        stop: record('stop'),
        shutdown: record('shutdown'),
      },
    ],
    inspect: coverage.inspect,
    // `mode` is the model event's (see `recover` below); the counts match the model's input.
    recovered: { mode: 'running', runner: recovered, handle: { taskId: 't1', startedAt: 0 } },
  });
  runner.actor.subscribe({ error: () => {} });
  run = {
    driver,
    runner,
    orphans: new Set(),
    stopFailedAt: 0,
    oracle: initialRunnerRecord(ORACLE_CONFIG),
    step: undefined,
    timerMs: undefined,
    events,
    phases,
    lines,
    seen: { events: 0, phases: 0, lines: 0, calls: 0 },
  };
});

afterEach(async () => {
  if (run.runner.actor.getSnapshot().status === 'active') run.runner.shutdown().catch(() => {});
  vi.useRealTimers();
});

const toResult = (value: TaskExit): ExitResult => ({ ...value, error: undefined });

/** Lifecycle calls (not stats) in flight that the current state owns. */
const owned = () =>
  run.driver
    .inFlight()
    .filter((call) => call.method !== 'taskStats' && !run.orphans.has(call))
    .map((call) => call.method);

/**
 * `startTask`, `stopTask` and `destroyTask` take no AbortSignal in the driver contract, so when the
 * runner leaves the state that made one (kill or shutdown while starting, shutdown while killing or
 * destroying), the call stays in flight in the driver. They are tracked, not hidden: a final state
 * settles them and checks that their late answers make the runner call nothing more.
 */
const leave = async (send: () => void) => {
  const before = JSON.stringify(run.runner.actor.getSnapshot().value);
  const inFlight = run.driver.inFlight().filter((call) => call.method !== 'taskStats');
  send();
  await flush();
  if (JSON.stringify(run.runner.actor.getSnapshot().value) === before) return;
  for (const call of inFlight) if (!call.settled) run.orphans.add(call);
};

const executorsByKey: Record<string, EventExecutor> = {
  'xstate.init': () => {},
  start: () => run.runner.start(),
  recover: (event) => run.runner.actor.send({ type: 'recover', mode: event.mode as RecoveryMode }),
  'done:recoverTask': () => run.driver.pending('recoverTask').resolve(undefined),
  'error:recoverTask': (event) => run.driver.pending('recoverTask').reject(event.error),
  kill: () =>
    leave(() => {
      run.runner.kill().catch(() => {});
    }),
  shutdown: () =>
    leave(() => {
      run.runner.shutdown().catch(() => {});
    }),
  restart: () =>
    leave(() => {
      run.runner.restart();
    }),
  'done:startTask': () => run.driver.pending('startTask').resolve({ taskId: 't1', startedAt: Date.now() }),
  'error:startTask': (event) => run.driver.pending('startTask').reject(event.error),
  'done:waitTask': (event) => run.driver.pending('waitTask').resolve(toResult(event.output as TaskExit)),
  'error:waitTask': (event) => run.driver.pending('waitTask').reject(event.error),
  'done:stopTask': async (event) => {
    run.driver.pending('stopTask').resolve(undefined);
    await flush();
    // `stopTask` then waits for the exit, as Nomad's kill does.
    run.driver.pending('waitTask').resolve(toResult(event.output as TaskExit));
  },
  'error:stopTask': (event) => {
    run.driver.pending('stopTask').reject(event.error);
    run.stopFailedAt = Date.now();
  },
  // The table's delays, not the model's: a machine with a wrong delay must not set its own test's clock.
  'after:stopRetryDelay': async () => {
    const left = (run.timerMs ?? Number.NaN) - (Date.now() - run.stopFailedAt);
    await advance(left - 1);
    expect(run.runner.actor.getSnapshot().value, '1 ms before the retry').toEqual({ killing: 'retrying' });
    await advance(1);
  },
  'done:destroyTask': () => run.driver.pending('destroyTask').resolve(undefined),
  'error:destroyTask': (event) => run.driver.pending('destroyTask').reject(event.error),
  'after:restartDelay': async () => {
    const delay = run.timerMs ?? Number.NaN;
    if (delay > 0) {
      await advance(delay - 1);
      expect(run.runner.state, `still restarting 1 ms before its ${delay} ms timer`).toBe('restarting');
    }
    await advance(delay === 0 ? 0 : 1);
  },
};

/** The model event as the table names it. */
function oracleEvent(event: {
  type: string;
  variant?: string;
  error?: unknown;
  output?: unknown;
}): RunnerEvent {
  const key = testModel.keyOf(event) as RunnerEventKey;
  const message = event.error instanceof Error ? event.error.message : undefined;
  switch (key) {
    case 'error:startTask':
      return { key, startError: event.variant as StartError, message };
    case 'error:stopTask':
      return { key, stopError: event.variant as StopError, message };
    case 'recover':
      return { key, mode: event.variant as RecoverMode };
    case 'error:recoverTask':
      return { key, recoverError: event.variant as RecoverError, message };
    case 'done:waitTask':
      return { key, exit: event.variant };
    case 'done:stopTask':
      return { key, exit: 'signal-term' };
    case 'error:waitTask':
    case 'error:destroyTask':
      return { key, message };
    default:
      return { key };
  }
}

/** Every executor first steps the table: the expectation is fixed before the runtime moves. */
const executors: Record<string, EventExecutor> = Object.fromEntries(
  Object.entries(executorsByKey).map(([key, execute]) => [
    key,
    async (event, before) => {
      run.seen = {
        events: run.events.length,
        phases: run.phases.length,
        lines: run.lines.length,
        calls: run.driver.history.length,
      };
      if (key === 'xstate.init') {
        run.oracle = initialRunnerRecord(ORACLE_CONFIG);
        run.step = undefined;
        run.seen = { events: 0, phases: 0, lines: 0, calls: 0 };
      } else {
        const stepped = stepRunner(run.oracle, oracleEvent(event), ORACLE_CONFIG, Date.now());
        if (!stepped) throw new Error(`the spec table has no row for ${run.oracle.state} + ${key}`);
        run.oracle = stepped.record;
        run.step = stepped;
        if (stepped.timerMs !== undefined) run.timerMs = stepped.timerMs;
      }
      await execute(event, before);
    },
  ]),
);

/** The runtime against the table's step: state, task events, hook phases, log levels, driver calls. */
function checkAgainstOracle(): void {
  const { oracle, step, runner, driver } = run;
  const label = step?.label ?? 'created';
  expect(tableState(runner.actor.getSnapshot().value), `the state the spec table says (${label})`).toBe(
    oracle.state,
  );
  const effects = step?.effects ?? entryEffects('pending');
  expect(run.events.slice(run.seen.events), `task events with their payload (${label})`).toEqual(
    effects.filter((e) => e.type === 'taskEvent').map((e) => e.params),
  );
  expect(run.phases.slice(run.seen.phases), `hook phases (${label})`).toEqual(
    effects.filter((e) => e.type === 'runHooks').map((e) => e.params.phase),
  );
  // The machine's own lines: not the debug lines of task events and state changes, not the stats hook's.
  const lines = run.lines
    .slice(run.seen.lines)
    .filter((line) => line.event === undefined && line.hook === undefined && line.state === undefined)
    .map(({ level, error, driver_id }) => ({
      level,
      ...(error === undefined ? {} : { error }),
      ...(driver_id === undefined ? {} : { driverId: driver_id }),
    }));
  expect(lines, `log levels and what they name (${label})`).toEqual(
    effects.filter((e) => e.type === 'log').map((e) => e.params),
  );
  const calls = driver.history
    .slice(run.seen.calls)
    .map((c) => c.method)
    .filter((method) => method !== 'taskStats');
  // A stop that returns waits for the exit inside the same driver effect.
  if (step?.label.includes('stopped')) calls.splice(calls.indexOf('waitTask'), 1);
  expect(calls, `driver calls started (${label})`).toEqual(step?.calls.map((c) => c.src) ?? []);
}

async function check(model: ModelSnapshot): Promise<void> {
  await flush();
  checkAgainstOracle();
  const { driver, runner } = run;
  const context = model.context as TaskRunnerContext;
  const snapshot = runner.actor.getSnapshot();
  expect(snapshot.value, 'the runtime is in the model state').toEqual(model.value);
  expect(snapshot.context.restarts).toBe(context.restarts);
  expect(snapshot.context.failed).toBe(context.failed);
  expect(snapshot.context.killRequested).toBe(context.killRequested);
  const stats = runner.statsHook.current;
  /** The stats hook of the last run is over (or there has been no run yet). */
  const statsStopped = () =>
    expect(['idle', 'terminal'], 'no stats collection').toContain(stats?.state ?? 'idle');
  const state = typeof model.value === 'string' ? model.value : Object.keys(model.value)[0];

  switch (state) {
    case 'pending':
      expect(driver.history, 'no driver call before start').toHaveLength(0);
      break;
    case 'starting':
      expect(owned(), 'one start call').toEqual(['startTask']);
      statsStopped();
      break;
    case 'recovering':
      expect(owned(), 'one recover call, and nothing started').toEqual(['recoverTask']);
      expect(driver.history.map((c) => c.method)).not.toContain('startTask');
      statsStopped();
      break;
    case 'running':
      expect(owned(), 'waiting for the exit').toEqual(['waitTask']);
      expect(stats?.state, 'the stats hook collects').toBe('retrying');
      expect(driver.inFlight('taskStats'), 'one stats call').toHaveLength(1);
      break;
    case 'killing': {
      const step = (model.value as { killing: string }).killing;
      if (step === 'stopping') expect(owned(), 'one stop call').toEqual(['stopTask']);
      if (step === 'retrying') expect(owned(), 'no call while waiting to retry the stop').toEqual([]);
      break;
    }
    case 'killFailed':
      expect(owned(), 'one forced destroy').toEqual(['destroyTask']);
      expect(context.lastExit?.error, 'the exit says the stop was not confirmed').toMatch(
        /^not confirmed stopped/,
      );
      expect(runner.events.at(-1), 'a failing Killing event').toMatchObject({
        type: 'Killing',
        failsTask: true,
      });
      statsStopped(); // the exited hooks ran
      break;
    case 'exited':
      expect(owned(), 'destroying the task').toEqual(['destroyTask']);
      statsStopped(); // the exited hooks ran before destroy
      expect(driver.inFlight('taskStats')).toHaveLength(0);
      expect(driver.openStreams()).toHaveLength(0);
      break;
    case 'restarting':
      expect(owned(), 'no call while waiting to restart').toEqual([]);
      expect(vi.getTimerCount(), 'one timer: the restart delay').toBe(1);
      statsStopped();
      break;
    case 'dead':
    case 'detached': {
      expect(owned(), 'no call left').toEqual([]);
      expect(driver.inFlight('taskStats'), 'no stats call left').toHaveLength(0);
      expect(driver.openStreams(), 'no stream left').toHaveLength(0);
      expect(vi.getTimerCount(), 'no timer left').toBe(0);
      expect(Object.keys(snapshot.children), 'no child actor left').toEqual([]);
      const output = await runner.done;
      expect(output.state).toBe(state);
      expect(output.failed).toBe(context.failed);
      statsStopped();
      // Settle what the driver contract could not cancel; nothing may follow, however long we wait.
      const calls = driver.history.length;
      for (const call of run.orphans) {
        if (!call.settled)
          call.resolve(call.method === 'startTask' ? { taskId: 't1', startedAt: 0 } : undefined);
      }
      await advance(3_600_000);
      // One exception: a task the driver finished starting after a kill is destroyed at once.
      const lateKilledStart =
        context.killRequested && [...run.orphans].some((call) => call.method === 'startTask');
      expect(
        driver.history.slice(calls).map((c) => c.method),
        'no driver call after the runner is final, but the destroy of a task that started after its kill',
      ).toEqual(lateKilledStart ? ['destroyTask'] : []);
      break;
    }
    default:
      throw new Error(`no checks written for state ${state}: add them here`);
  }
}

const runPath = (path: ModelPath) => testModel.run(path, executors, check);

describe('task runner, generated from its machine', () => {
  it('generates paths', () => {
    expect(shortest.length).toBeGreaterThan(0);
    console.info(
      `task runner model: ${shortest.length} shortest paths, ${edgePaths.length} transition paths covering ${edgeCount} model edges`,
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
