/**
 * The task runner machine against its independent table (`task-runner.spec-table.ts`), purely through
 * XState's `transition()`: target, task events with their payload, hook phases, log levels (and the
 * error and driver id they name), driver calls with their input, timers, counters, the restart
 * decision and the output, at every step. Checked both ways: a row the machine does not take fails by
 * name; a machine transition no row accounts for fails by name; an event the table leaves unhandled
 * must change nothing. Kill and shutdown from every live state, pending included; restart decisions
 * table-driven against Nomad's policy, defaults included. Random lifecycles: `task-runner.walks.test.ts`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { taskRunnerMachine } from '../../machines/task-runner.machine.js';
import { machineTransitions } from './machine-transitions.js';
import { NOMAD_DEFAULTS, type ReferenceJobType, type ReferencePolicy } from './nomad-restart.js';
import {
  CONFIGS,
  checkStep,
  LIVE_STATES,
  runnerFor,
  STEP_MS,
  startWalk,
  TASK,
  type Walk,
} from './task-runner.check.js';
import {
  type Effect,
  type RecoverMode,
  type RunnerConfig,
  type RunnerEvent,
  type RunnerEventKey,
  type RunnerRecord,
  runnerAlphabet,
  stepRunner,
} from './task-runner.spec-table.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

/**
 * What guards, delays and later effects read: records that differ here are explored apart. The
 * failed stops, the kill's deadline, the last exit and the driver id matter only while killing.
 */
const signature = (r: RunnerRecord) => {
  const killing = r.state.startsWith('killing');
  const flags = [r.state, r.killRequested, r.restartRequested];
  if (killing)
    return JSON.stringify([
      ...flags,
      Math.min(r.stopFailures, 3),
      r.killDeadlineMs,
      r.lastExit !== undefined,
      r.driverId !== undefined,
    ]);
  return JSON.stringify([
    ...flags,
    r.window?.count ?? 0,
    r.verdict?.restart,
    r.failed,
    r.state === 'running' ? r.driverId !== undefined : undefined,
  ]);
};

const ev = (key: RunnerEventKey, more: Partial<RunnerEvent> = {}): RunnerEvent => ({ key, ...more });

describe.each(CONFIGS)('task runner machine against the spec table ($name)', ({ input, config }) => {
  const runner = runnerFor(input);
  const start = () => startWalk(runner, config);

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
          if (label)
            labels.add(label.replace(/, (killed|restarting|restarting as asked|not restarting)$/, ''));
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
    // Kill and shutdown from every live state the exploration reached, each a row of its own.
    for (const state of LIVE_STATES.filter((s) => [...labels].some((l) => l.startsWith(`${s} +`)))) {
      expect(
        [...labels].some((l) => l.startsWith(`${state} + shutdown`)),
        `${state} + shutdown`,
      ).toBe(true);
      if (state !== 'killFailed')
        expect(
          [...labels].some((l) => l.startsWith(`${state} + kill`)),
          `${state} + kill`,
        ).toBe(true);
    }
  });
});

/** A way into every live state (the first configuration: one failed stop retries, the next gives up). */
const INTO: Record<string, RunnerEvent[]> = {
  pending: [],
  starting: [ev('start')],
  recovering: [ev('recover', { mode: 'running' })],
  running: [ev('start'), ev('done:startTask', { driverId: 'c-9' })],
  'killing.stopping': [ev('start'), ev('done:startTask', { driverId: 'c-9' }), ev('kill')],
  'killing.retrying': [
    ev('start'),
    ev('done:startTask', { driverId: 'c-9' }),
    ev('kill'),
    ev('error:stopTask', { stopError: 'engine-down' }),
  ],
  killFailed: [
    ev('start'),
    ev('done:startTask', { driverId: 'c-9' }),
    ev('kill', { deadlineMs: 100 }),
    ev('error:stopTask', { stopError: 'engine-down' }),
  ],
  exited: [ev('start'), ev('done:startTask'), ev('done:waitTask', { exit: 'exit-1' })],
  restarting: [
    ev('start'),
    ev('done:startTask'),
    ev('done:waitTask', { exit: 'exit-1' }),
    ev('done:destroyTask'),
  ],
};

describe('kill and shutdown from every live state, with their events and hooks', () => {
  const { input, config } = CONFIGS[0]!;
  const runner = runnerFor(input);
  const walkInto = (state: string) => {
    let walk = startWalk(runner, config);
    for (const event of INTO[state]!) walk = checkStep(runner, config, walk, event, new Set());
    expect(walk.record.state, `the path into ${state}`).toBe(state);
    return walk;
  };
  const taskEvents = (effects: Effect[]) =>
    effects.filter((e) => e.type === 'taskEvent').map((e) => e.params.type);
  const phases = (effects: Effect[]) =>
    effects.filter((e) => e.type === 'runHooks').map((e) => e.params.phase);

  it('the paths reach every live state', () => {
    expect(Object.keys(INTO).sort()).toEqual([...LIVE_STATES].sort());
  });

  it.each(LIVE_STATES)('%s + shutdown: detached, the shutdown hooks only, the task left alone', (state) => {
    const walk = walkInto(state);
    const after = checkStep(runner, config, walk, ev('shutdown'), new Set());
    expect(after.record.state).toBe('detached');
    expect(after.snapshot.output).toMatchObject({ state: 'detached', failed: walk.record.failed });
    const step = stepRunner(walk.record, ev('shutdown'), config, Date.now())!;
    expect(taskEvents(step.effects), 'no task event: the task lives on').toEqual([]);
    expect(phases(step.effects)).toEqual(['shutdown']);
    expect(step.calls, 'no driver call').toEqual([]);
  });

  // What a kill does in each state, by Nomad's lifecycle: before start and while waiting to restart
  // nothing runs (Killed at once); starting and running stop the task; while stopping or destroying
  // the kill is remembered; a kill that already failed cannot be killed again.
  const KILL: Record<string, { to: string; events: string[]; phases: string[]; calls: string[] }> = {
    pending: { to: 'dead', events: ['Killed'], phases: ['stop'], calls: [] },
    starting: { to: 'killing.stopping', events: ['Killing'], phases: [], calls: ['stopTask'] },
    recovering: { to: 'killing.stopping', events: ['Killing'], phases: [], calls: ['stopTask'] },
    running: { to: 'killing.stopping', events: ['Killing'], phases: [], calls: ['stopTask'] },
    'killing.stopping': { to: 'killing.stopping', events: [], phases: [], calls: [] },
    'killing.retrying': { to: 'killing.retrying', events: [], phases: [], calls: [] },
    exited: { to: 'exited', events: [], phases: [], calls: [] },
    restarting: { to: 'dead', events: ['Killed'], phases: ['stop'], calls: [] },
  };

  it.each(Object.keys(KILL))('%s + kill', (state) => {
    const walk = walkInto(state);
    const step = stepRunner(walk.record, ev('kill', { deadlineMs: 4_000 }), config, Date.now());
    const want = KILL[state]!;
    expect(step?.record.state).toBe(want.to);
    expect(taskEvents(step!.effects)).toEqual(want.events);
    expect(phases(step!.effects)).toEqual(want.phases);
    expect(step!.calls.map((c) => c.src)).toEqual(want.calls);
    const after = checkStep(runner, config, walk, ev('kill', { deadlineMs: 4_000 }), new Set());
    if (state !== 'pending')
      expect(after.snapshot.context.killDeadlineMs, 'the kill names its own deadline').toBe(4_000);
  });

  it('killFailed + kill: nothing more to do (the forced destroy runs)', () => {
    const walk = walkInto('killFailed');
    expect(stepRunner(walk.record, ev('kill'), config, Date.now())).toBeUndefined();
    checkStep(runner, config, walk, ev('kill'), new Set());
  });

  it('pending + recover with a mode no saved state has: no row, nothing changes (dead is not the fallback)', () => {
    // recovery-plan.ts only ever sends the three modes; the machine must not read anything else as
    // "dead" (the last of its recover branches) or take a branch whose guard is lost.
    const walk = walkInto('pending');
    const unknown = ev('recover', { mode: 'paused' as RecoverMode });
    expect(stepRunner(walk.record, unknown, config, Date.now()), 'the table has no row').toBeUndefined();
    checkStep(runner, config, walk, unknown, new Set());
  });

  it('a kill after an asked restart backs off afresh: its first failed stop warns, with the full deadline', () => {
    let walk = walkInto('running');
    for (const event of [
      ev('restart'),
      ev('error:stopTask', { stopError: 'engine-down' }),
      ev('after:stopRetryDelay'),
      ev('done:stopTask', { exit: 'exit-0' }),
      ev('done:destroyTask'),
      ev('after:restartDelay'),
      ev('done:startTask'),
      ev('kill'),
    ])
      walk = checkStep(runner, config, walk, event, new Set());
    const failed = stepRunner(walk.record, ev('error:stopTask', { stopError: 'engine-down' }), config, 0)!;
    expect(failed.record.state, 'the first retry of this kill fits again').toBe('killing.retrying');
    expect(failed.effects).toEqual([
      { type: 'log', params: { level: 'warn', error: 'connect ECONNREFUSED' } },
    ]);
    checkStep(runner, config, walk, ev('error:stopTask', { stopError: 'engine-down' }), new Set());
  });

  it('a remembered kill ends the task as killed, whatever the exit and the policy', () => {
    let walk = walkInto('running');
    for (const event of [ev('done:waitTask', { exit: 'exit-1' }), ev('kill'), ev('done:destroyTask')])
      walk = checkStep(runner, config, walk, event, new Set());
    expect(walk.record.state).toBe('dead');
    expect(walk.snapshot.output).toMatchObject({ state: 'dead', failed: false, lastExit: { exitCode: 1 } });
  });
});

describe('restart decisions through the runner, against Nomad policy', () => {
  const POLICIES: { name: string; jobType?: ReferenceJobType; policy?: Partial<ReferencePolicy> }[] = [
    { name: 'service defaults' },
    { name: 'batch defaults', jobType: 'batch' },
    { name: 'service, 1 in 1 min, fail', policy: { attempts: 1, intervalMs: 60_000, mode: 'fail' } },
    {
      name: 'batch, 2 in 1 min, delay 3 s, mode delay',
      jobType: 'batch',
      policy: { attempts: 2, intervalMs: 60_000, delayMs: 3000, mode: 'delay' },
    },
    { name: 'service, no restarts, mode delay', policy: { attempts: 0, mode: 'delay' } },
  ];
  const EXIT_EVENTS: RunnerEvent[] = [
    ev('done:waitTask', { exit: 'exit-0' }),
    ev('done:waitTask', { exit: 'exit-1' }),
    ev('done:waitTask', { exit: 'exit-0-signal' }),
    ev('done:waitTask', { exit: 'exit-137-oom' }),
    ev('error:waitTask', { message: 'wait broke' }),
  ];

  const configFor = ({
    jobType,
    policy,
  }: (typeof POLICIES)[number]): { input: object; config: RunnerConfig } => {
    const type = jobType ?? 'service';
    return {
      input: { taskId: TASK, ...(jobType ? { jobType } : {}), ...(policy ? { restartPolicy: policy } : {}) },
      config: {
        taskId: TASK,
        jobType: type,
        policy: { ...NOMAD_DEFAULTS[type], ...policy },
        killTimeoutMs: 5000,
        killDeadlineMs: 35_000,
        killRetry: { baseMs: 500, capMs: 5000 },
      },
    };
  };

  /**
   * Runs until the table says dead: exits of `exit` `apartMs` apart (the other three steps of a
   * lifecycle take 1 ms each), each checked step by step.
   */
  const lifecycle = (entry: (typeof POLICIES)[number], exit: RunnerEvent, apartMs: number, max = 8) => {
    const gapMs = apartMs - 3;
    const { input, config } = configFor(entry);
    const runner = runnerFor(input as Record<string, unknown>);
    let walk = startWalk(runner, config);
    walk = checkStep(runner, config, walk, ev('start'), new Set());
    const verdicts: string[] = [];
    for (let i = 0; i < max && walk.record.state !== 'dead'; i++) {
      walk = checkStep(runner, config, walk, ev('done:startTask'), new Set(), 1);
      walk = checkStep(runner, config, walk, exit, new Set(), gapMs);
      walk = checkStep(runner, config, walk, ev('done:destroyTask'), new Set(), 1);
      verdicts.push(walk.record.verdict?.message ?? '');
      if (walk.record.state === 'restarting')
        walk = checkStep(runner, config, walk, ev('after:restartDelay'), new Set(), 1);
    }
    return { walk, verdicts };
  };

  describe.each(POLICIES)('$name', (entry) => {
    it.each(EXIT_EVENTS.map((e) => [`${e.key}(${e.exit ?? e.message})`, e] as const))(
      'exits of %s in a row, each decided as Nomad does',
      (_, exit) => {
        const { walk, verdicts } = lifecycle(entry, exit, 1000);
        expect(verdicts.length, 'at least one decision').toBeGreaterThan(0);
        expect(walk.record.restarts, 'a restart per decision to restart').toBe(
          walk.record.state === 'dead' ? verdicts.length - 1 : verdicts.length,
        );
      },
    );

    it('failures further apart than the interval open a new window each time', () => {
      const { config } = configFor(entry);
      const { verdicts } = lifecycle(
        entry,
        ev('done:waitTask', { exit: 'exit-1' }),
        config.policy.intervalMs + 1,
        4,
      );
      if (config.policy.attempts > 0)
        expect(verdicts, 'always the first restart of a window').toEqual(
          verdicts.map(() => `Restart within policy (1 of ${config.policy.attempts})`),
        );
    });

    it('failures exactly one interval apart stay in one window (Nomad: strictly later opens a new one)', () => {
      const { config } = configFor(entry);
      const { attempts, intervalMs, mode } = config.policy;
      const { verdicts } = lifecycle(entry, ev('done:waitTask', { exit: 'exit-1' }), intervalMs, 4);
      const second =
        attempts === 0
          ? undefined
          : attempts > 1
            ? `Restart within policy (2 of ${attempts})`
            : mode === 'fail'
              ? 'Exceeded allowed attempts'
              : 'Exceeded allowed attempts, applying a delay';
      expect(verdicts[1]).toBe(second);
    });
  });

  it('the defaults restart a service task twice and a batch task three times, 15 s apart', () => {
    for (const [entry, attempts] of [
      [POLICIES[0]!, 2],
      [POLICIES[1]!, 3],
    ] as const) {
      const { walk, verdicts } = lifecycle(entry, ev('done:waitTask', { exit: 'exit-1' }), 1000);
      expect(walk.snapshot.output).toMatchObject({ state: 'dead', failed: true, restarts: attempts });
      expect(verdicts.at(-1)).toBe('Exceeded allowed attempts');
    }
  });
});
