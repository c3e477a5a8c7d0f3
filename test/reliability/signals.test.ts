/**
 * Shutdown and signals, state by state (issue 8): SIGTERM or SIGINT while a task is pending (the
 * agent still starting), starting, running, killing, exited (being destroyed) or restarting, in
 * both `--on-signal` modes. The agent stops within its deadline, the task ends `dead` (kill) or
 * `detached` (detach), the driver holds no task afterwards in kill mode, and a second signal forces
 * the exit. In-process: createAgent + the mock driver (gated where a state must be held open) and
 * the CLI's own signal handling fed by an emitter, all on fake time.
 */
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Agent, type AgentSummary, createAgent, type StopMode } from '../../src/agent/create-agent.js';
import type { JobInput } from '../../src/agent/job-schema.js';
import { parseJob } from '../../src/agent/load-job.js';
import { FORCED_EXIT_CODE, handleStopSignals } from '../../src/cli/signals.js';
import type { TaskDriver } from '../../src/drivers/contract.js';
import { createMockDriver, type MockDriver, type MockTaskScript } from '../../src/drivers/mock.js';
import { silentLogger } from '../../src/runtime/logger.js';
import { useLeakCheck } from '../support/leak-check.js';

const DEADLINE_MS = 5000;

interface Gate {
  promise: Promise<void>;
  open(): void;
}
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** The mock driver, with `startTask` and `destroyTask` held until their gate opens (when set). */
function gatedDriver(mock: MockDriver, gates: { start?: Gate; destroy?: Gate }): TaskDriver {
  return {
    name: 'mock',
    capabilities: mock.capabilities,
    startTask: async (spec) => {
      await gates.start?.promise;
      return mock.startTask(spec);
    },
    waitTask: (id, signal) => mock.waitTask(id, signal),
    stopTask: (id, options) => mock.stopTask(id, options),
    destroyTask: async (id, options) => {
      await gates.destroy?.promise;
      return mock.destroyTask(id, options);
    },
    taskStats: (id, interval, signal) => mock.taskStats(id, interval, signal),
  };
}

function jobOf(type: 'batch' | 'service', config: MockTaskScript, extra: Record<string, unknown> = {}) {
  return parseJob({
    name: 'sig',
    type,
    groups: [
      {
        name: 'g',
        restart: { attempts: 3, interval: '1m', delay: '10s', mode: 'delay' },
        tasks: [{ name: 't', driver: 'mock', stats_interval: 100, config, ...extra }],
      },
    ],
  } as JobInput);
}

const leaks = useLeakCheck();
let running: { agent: Agent; mock: MockDriver; gates: { start?: Gate; destroy?: Gate } } | undefined;
// Registered after the leak check, so these run before it (vitest runs after-hooks in reverse).
afterEach(async () => {
  if (running) {
    running.gates.start?.open();
    running.gates.destroy?.open();
    // Detached tasks live on in the driver: end them, as the next agent (or the operator) would.
    for (const alloc of running.agent.allocations) {
      for (const task of alloc.tasks.values())
        await running.mock.destroyTask(task.spec.id, { force: true }).catch(() => {});
    }
    await vi.runAllTimersAsync();
  }
  running = undefined;
  vi.useRealTimers();
});
beforeEach(() => {
  vi.useFakeTimers();
});

interface Scenario {
  job: ReturnType<typeof parseJob>;
  gates?: { start?: Gate; destroy?: Gate };
  /** Brings the task into the state under test (the agent's `start()` has been called). */
  reach(agent: Agent, started: Promise<void>): Promise<void>;
  /** The runner state just before the signal (`none`: no runner exists yet). */
  state: string;
  /** After the stop: does the driver still hold the task in detach mode? */
  detachedTaskLives: boolean;
  /** Signal right after `start()` is called, before it can resolve anything. */
  signalAtOnce?: true;
}

const stateOf = (agent: Agent) => agent.allocations[0]?.tasks.get('t')?.runner.state ?? 'none';

const SCENARIOS: Record<string, () => Scenario> = {
  // The signal arrives while `start()` is still resolving drivers: no runner exists yet, and none
  // may start afterwards.
  pending: () => ({
    job: jobOf('service', {}),
    reach: async () => {},
    state: 'none',
    detachedTaskLives: false,
    signalAtOnce: true,
  }),
  starting: () => ({
    job: jobOf('service', {}),
    gates: { start: gate() },
    reach: async (_agent, started) => {
      await started;
      await vi.advanceTimersByTimeAsync(10);
    },
    state: 'starting',
    detachedTaskLives: true, // the start completes after the gate opens: detached, it runs on
  }),
  running: () => ({
    job: jobOf('service', {}),
    reach: async (_agent, started) => {
      await started;
      await vi.advanceTimersByTimeAsync(500);
    },
    state: 'running',
    detachedTaskLives: true,
  }),
  // Already being killed (by the operator, before the signal): the task ignores SIGTERM for 1 s.
  killing: () => ({
    job: jobOf('service', { ignoreStopSignal: true }, { kill_timeout: '1s' }),
    reach: async (agent, started) => {
      await started;
      await vi.advanceTimersByTimeAsync(100);
      void agent.allocations[0]!.tasks.get('t')!.runner.kill();
      await vi.advanceTimersByTimeAsync(100);
    },
    state: 'killing',
    // Detached, the kill already under way completes, but the task is left to the driver (not destroyed).
    detachedTaskLives: true,
  }),
  // Exited on its own; destroying it is held open.
  exited: () => ({
    job: jobOf('service', { runForMs: 200, exitCode: 1 }),
    gates: { destroy: gate() },
    reach: async (_agent, started) => {
      await started;
      await vi.advanceTimersByTimeAsync(300);
    },
    state: 'exited',
    detachedTaskLives: false,
  }),
  restarting: () => ({
    job: jobOf('service', { runForMs: 200, exitCode: 1 }),
    reach: async (_agent, started) => {
      await started;
      await vi.advanceTimersByTimeAsync(300);
    },
    state: 'restarting',
    detachedTaskLives: false,
  }),
};

const MATRIX = Object.keys(SCENARIOS).flatMap((state) =>
  (['kill', 'detach'] as StopMode[]).map(
    (mode, index) => [state, mode, index === 0 ? 'SIGTERM' : 'SIGINT'] as const,
  ),
);

describe('signals during every task state', () => {
  it.each(MATRIX)(
    '%s, --on-signal %s, %s: stops within the deadline, nothing left running',
    async (name, mode, signal) => {
      const scenario = SCENARIOS[name]!();
      const mock = createMockDriver();
      const gates = scenario.gates ?? {};
      const agent = createAgent({
        jobs: [scenario.job],
        drivers: { mock: gatedDriver(mock, gates) },
        onStop: mode,
        shutdownDeadlineMs: DEADLINE_MS,
      });
      running = { agent, mock, gates };
      const signals = new EventEmitter();
      const exit = vi.fn();
      const remove = handleStopSignals(agent, { mode, logger: silentLogger(), source: signals, exit });

      const started = agent.start();
      if (!scenario.signalAtOnce) {
        await scenario.reach(agent, started);
        expect(stateOf(agent)).toBe(scenario.state);
      }
      const signalledAt = Date.now();
      signals.emit(signal, signal);
      // Held operations complete a little later, as a slow driver's would.
      await vi.advanceTimersByTimeAsync(50);
      gates.start?.open();
      gates.destroy?.open();
      let summary: AgentSummary | undefined;
      let stoppedAt = Number.POSITIVE_INFINITY;
      void agent.done.then((result) => {
        summary = result;
        stoppedAt = Date.now();
      });
      await started.catch(() => {});
      await vi.advanceTimersByTimeAsync(DEADLINE_MS);
      remove();
      for (const task of agent.allocations.flatMap((alloc) => [...alloc.tasks.values()])) {
        leaks.track(task.runner.actor);
      }

      expect(summary, 'the agent did not stop within its deadline').toBeDefined();
      expect(summary).toMatchObject({ reason: 'stopped', timedOut: false });
      // Well within the deadline: nothing here should need more than the 1 s kill timeout.
      expect(stoppedAt - signalledAt).toBeLessThanOrEqual(1100);
      expect(exit).not.toHaveBeenCalled();
      // Whatever the state, every runner that exists is final, in the mode's final state.
      const expected = mode === 'kill' ? 'dead' : 'detached';
      for (const task of summary!.tasks) {
        expect(task.state === expected || (task.state === 'dead' && !scenario.detachedTaskLives)).toBe(true);
      }
      // Kill mode leaves nothing in the driver; detach leaves a live task exactly where one ran.
      await vi.advanceTimersByTimeAsync(2000); // a kill already under way (killing, detached) completes
      expect(mock.liveTasks).toBe(mode === 'kill' ? 0 : scenario.detachedTaskLives ? 1 : 0);
      if (scenario.signalAtOnce) expect(mock.calls.startTask).toBe(0);
    },
  );

  it('a second signal forces the exit (130) while the first still waits for a stubborn task', async () => {
    const mock = createMockDriver();
    const agent = createAgent({
      jobs: [jobOf('service', { ignoreStopSignal: true }, { kill_timeout: '30s' })],
      drivers: { mock },
      shutdownDeadlineMs: 60_000,
    });
    running = { agent, mock, gates: {} };
    const signals = new EventEmitter();
    const exit = vi.fn();
    const forceKill = vi.fn();
    const remove = handleStopSignals(agent, {
      mode: 'kill',
      logger: silentLogger(),
      source: signals,
      exit,
      forceKill,
    });
    await agent.start();
    await vi.advanceTimersByTimeAsync(100);
    signals.emit('SIGINT', 'SIGINT');
    await vi.advanceTimersByTimeAsync(1000);
    expect(stateOf(agent)).toBe('killing');
    expect(exit).not.toHaveBeenCalled();
    signals.emit('SIGTERM', 'SIGTERM');
    expect(forceKill).toHaveBeenCalledOnce();
    // The SIGKILLs ran synchronously; the exit follows once their cleanup settles.
    await vi.advanceTimersByTimeAsync(0);
    expect(exit).toHaveBeenCalledWith(FORCED_EXIT_CODE);
    remove();
    // The process would be gone now; here the agent finishes its stop for the leak check.
    await vi.advanceTimersByTimeAsync(30_000);
    expect((await agent.done).tasks[0]!.state).toBe('dead');
    leaks.track(agent.allocations[0]!.tasks.get('t')!.runner.actor);
  });

  it('detach mode: a second signal exits without killing anything', async () => {
    const agent = createAgent({ jobs: [jobOf('service', {})], drivers: { mock: createMockDriver() } });
    const signals = new EventEmitter();
    const exit = vi.fn();
    const forceKill = vi.fn();
    handleStopSignals(agent, { mode: 'detach', logger: silentLogger(), source: signals, exit, forceKill })();
    const remove = handleStopSignals(agent, {
      mode: 'detach',
      logger: silentLogger(),
      source: signals,
      exit,
      forceKill,
    });
    const stop = vi.spyOn(agent, 'stop').mockResolvedValue(undefined as never);
    signals.emit('SIGTERM', 'SIGTERM');
    expect(stop).toHaveBeenCalledWith({ mode: 'detach' });
    signals.emit('SIGTERM', 'SIGTERM');
    expect(exit).toHaveBeenCalledWith(FORCED_EXIT_CODE);
    expect(forceKill).not.toHaveBeenCalled();
    remove();
    expect(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT')).toBe(0);
  });
});
