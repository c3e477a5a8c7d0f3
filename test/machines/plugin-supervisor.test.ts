/**
 * The plugin supervisor's behaviour, as issue #12 states it, as a table of (state, event) → state
 * and effects. Written from the issue, not read off the machine: launching → serving → lost →
 * relaunching with backoff, bounded restarts in a window (OTP intensity/period), then failed; a
 * plugin that never served is not relaunched; stop from anywhere shuts it down.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromCallback, fromPromise } from 'xstate';
import {
  DEFAULT_PLUGIN_RESTART_POLICY,
  mayRestart,
  type PluginEndpoint,
  pluginSupervisorMachine,
  restartsInWindow,
} from '../../machines/plugin-supervisor.machine.js';

const endpoint: PluginEndpoint = { pid: 4242, address: 'unix:/tmp/x.sock', protocolVersion: 1 };

type Outcome = 'ok' | 'fail' | 'hang';

/** A supervisor whose effects are scripted: each launch and recover takes the next outcome. */
function supervisor(
  script: {
    launches?: Outcome[];
    recovers?: Outcome[];
    attaches?: Outcome[];
    policy?: object;
    reattach?: PluginEndpoint;
  } = {},
) {
  const launches = [...(script.launches ?? [])];
  const attaches = [...(script.attaches ?? [])];
  const recovers = [...(script.recovers ?? [])];
  const effects: string[] = [];
  let lose: ((reason: string) => void) | undefined;
  let watchers = 0;
  const machine = pluginSupervisorMachine.provide({
    actors: {
      attachPlugin: fromPromise(async ({ input }) => {
        effects.push(`attach:${input.reattach.pid}`);
        const outcome = attaches.shift() ?? 'ok';
        if (outcome === 'hang') await new Promise(() => {});
        if (outcome === 'fail') throw new Error(`plugin ${input.reattach.pid} is gone`);
        return input.reattach;
      }),
      releasePlugin: fromPromise(async ({ input }) => {
        effects.push(`release:${input.endpoint ? input.endpoint.pid : 'none'}`);
      }),
      launchPlugin: fromPromise(async ({ input }) => {
        effects.push(`launch#${input.attempt}`);
        if ((launches.shift() ?? 'ok') === 'fail') throw new Error(`launch ${input.attempt} failed`);
        return endpoint;
      }),
      recoverTasks: fromPromise(async () => {
        effects.push('recover');
        const outcome = recovers.shift() ?? 'ok';
        if (outcome === 'hang') await new Promise(() => {});
        if (outcome === 'fail') throw new Error('recover failed');
      }),
      watchPlugin: fromCallback(({ sendBack }) => {
        watchers += 1;
        lose = (reason) => sendBack({ type: 'plugin.lost', reason });
        return () => {
          watchers -= 1;
          lose = undefined;
        };
      }),
      shutdownPlugin: fromPromise(async ({ input }) => {
        effects.push(`shutdown:${input.endpoint ? 'endpoint' : 'none'}`);
      }),
    },
    actions: {
      pluginServing: (_, { endpoint: e }) => effects.push(`serving:${e.pid}`),
      dropPlugin: (_, { reason }) => effects.push(`drop:${reason}`),
      pluginFailed: (_, { error, launches: n }) => effects.push(`failed:${n}:${error}`),
    },
  });
  const actor = createActor(machine, {
    input: {
      name: 'p',
      ...(script.policy ? { restartPolicy: script.policy } : {}),
      ...(script.reattach ? { reattach: script.reattach } : {}),
    },
  });
  return {
    actor,
    effects,
    lose: (reason = 'plugin was killed by SIGKILL') => lose?.(reason),
    watchers: () => watchers,
    state: () => actor.getSnapshot().value,
    start: async () => {
      actor.start();
      await vi.advanceTimersByTimeAsync(0);
    },
  };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('plugin supervisor: (state, event) → state, effects', () => {
  it('launching, launch succeeds → up.recovering → up.serving; serving is announced with the endpoint', async () => {
    const s = supervisor();
    await s.start();
    expect(s.state()).toEqual({ up: 'serving' });
    expect(s.effects).toEqual(['launch#1', 'recover', 'serving:4242']);
    expect(s.actor.getSnapshot().context.endpoint).toEqual(endpoint);
    expect(s.watchers()).toBe(1);
  });

  it('launching, first launch fails (never served) → failed at once: no relaunch storm', async () => {
    const s = supervisor({ launches: ['fail'] });
    await s.start();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(s.state()).toBe('failed');
    expect(s.effects).toEqual(['launch#1', 'failed:1:launch 1 failed']);
    expect(s.actor.getSnapshot().output).toEqual({
      state: 'failed',
      launches: 1,
      lastError: 'launch 1 failed',
    });
  });

  it('up.recovering, recover fails → up.serving (a task lost is not the plugin lost)', async () => {
    const s = supervisor({ recovers: ['fail'] });
    await s.start();
    expect(s.state()).toEqual({ up: 'serving' });
    expect(s.effects).toEqual(['launch#1', 'recover', 'serving:4242']);
  });

  it('up.serving, plugin.lost → lost → relaunching: calls dropped with the reason, watcher stopped', async () => {
    const s = supervisor();
    await s.start();
    s.lose('plugin was killed by SIGKILL');
    expect(s.state()).toBe('relaunching');
    expect(s.effects.at(-1)).toBe('drop:plugin was killed by SIGKILL');
    expect(s.watchers()).toBe(0);
  });

  it('relaunching waits base backoff (500 ms) before launching again, then recovers the tasks', async () => {
    const s = supervisor();
    await s.start();
    s.lose();
    await vi.advanceTimersByTimeAsync(499);
    expect(s.state()).toBe('relaunching');
    await vi.advanceTimersByTimeAsync(1);
    expect(s.state()).toEqual({ up: 'serving' });
    expect(s.effects.slice(-3)).toEqual(['launch#2', 'recover', 'serving:4242']);
  });

  it('relaunch delays double while the plugin does not get back to serving: 500, 1000, 2000 ms', async () => {
    const s = supervisor({ launches: ['ok', 'fail', 'fail', 'ok'] });
    await s.start();
    s.lose();
    await vi.advanceTimersByTimeAsync(500); // launch#2 fails
    expect(s.effects.at(-1)).toBe('drop:launch 2 failed');
    expect(s.state()).toBe('relaunching');
    await vi.advanceTimersByTimeAsync(999);
    expect(s.effects.filter((e) => e.startsWith('launch#'))).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1); // launch#3 fails
    expect(s.effects.filter((e) => e.startsWith('launch#'))).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1999);
    expect(s.state()).toBe('relaunching');
    await vi.advanceTimersByTimeAsync(1); // launch#4 serves
    expect(s.state()).toEqual({ up: 'serving' });
  });

  it('the delay starts over once the plugin served again', async () => {
    const s = supervisor({ launches: ['ok', 'fail', 'ok'], policy: { restartWindowMs: 1000 } });
    await s.start();
    s.lose();
    await vi.advanceTimersByTimeAsync(500 + 1000); // fail, then serve
    expect(s.state()).toEqual({ up: 'serving' });
    s.lose();
    await vi.advanceTimersByTimeAsync(499);
    expect(s.state()).toBe('relaunching');
    await vi.advanceTimersByTimeAsync(1);
    expect(s.state()).toEqual({ up: 'serving' });
  });

  it('a 4th loss within the window (3 restarts allowed) → failed, with the launches counted', async () => {
    const s = supervisor();
    await s.start();
    for (let i = 0; i < 3; i++) {
      s.lose(`loss ${i + 1}`);
      await vi.advanceTimersByTimeAsync(500);
      expect(s.state()).toEqual({ up: 'serving' });
    }
    s.lose('loss 4');
    expect(s.state()).toBe('failed');
    expect(s.effects.slice(-2)).toEqual(['drop:loss 4', 'failed:4:loss 4']);
    expect(s.actor.getSnapshot().output).toEqual({ state: 'failed', launches: 4, lastError: 'loss 4' });
  });

  it('losses spread wider than the window keep being relaunched', async () => {
    const s = supervisor({ policy: { maxRestarts: 1, restartWindowMs: 10_000 } });
    await s.start();
    for (let i = 0; i < 4; i++) {
      s.lose();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(s.state()).toEqual({ up: 'serving' });
    }
  });

  it('up.recovering, plugin.lost → relaunching: a plugin that dies while its tasks are re-attached', async () => {
    const s = supervisor({ recovers: ['ok', 'hang'] });
    await s.start();
    s.lose('first');
    await vi.advanceTimersByTimeAsync(500);
    expect(s.state()).toEqual({ up: 'recovering' });
    s.lose('second');
    expect(s.state()).toBe('relaunching');
    expect(s.effects.at(-1)).toBe('drop:second');
  });

  for (const from of ['launching', 'up.serving', 'relaunching'] as const) {
    it(`${from}, stop → stopping → stopped: the plugin is shut down`, async () => {
      const s = supervisor();
      if (from === 'launching') {
        s.actor.start(); // the launch promise has not settled yet
        expect(s.state()).toBe('launching');
      } else {
        await s.start();
        if (from === 'relaunching') s.lose();
      }
      s.actor.send({ type: 'stop' });
      await vi.advanceTimersByTimeAsync(0);
      expect(s.state()).toBe('stopped');
      expect(s.effects.at(-1)).toBe(from === 'up.serving' ? 'shutdown:endpoint' : 'shutdown:none');
      expect(s.actor.getSnapshot().output).toMatchObject({ state: 'stopped' });
      // A relaunch timer does not fire after the stop.
      await vi.advanceTimersByTimeAsync(60_000);
      expect(s.effects.filter((e) => e.startsWith('launch#'))).toHaveLength(1);
    });
  }
});

describe('plugin supervisor: more of the same table', () => {
  it('stopping, stop → still stopping: the plugin is shut down once', async () => {
    let finish!: () => void;
    let shutdowns = 0;
    const machine = pluginSupervisorMachine.provide({
      actors: {
        launchPlugin: fromPromise(async () => endpoint),
        shutdownPlugin: fromPromise(async () => {
          shutdowns += 1;
          await new Promise<void>((resolve) => {
            finish = resolve;
          });
        }),
      },
    });
    const actor = createActor(machine, { input: { name: 'p' } }).start();
    await vi.advanceTimersByTimeAsync(0);
    actor.send({ type: 'stop' });
    actor.send({ type: 'stop' });
    expect(actor.getSnapshot().value).toBe('stopping');
    finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(actor.getSnapshot().value).toBe('stopped');
    expect(shutdowns).toBe(1);
  });

  it('relaunch delays stop growing at the cap', async () => {
    const s = supervisor({
      launches: ['ok', 'fail', 'fail', 'fail', 'ok'],
      policy: { maxRestarts: 10, backoff: { capMs: 1000 } },
    });
    await s.start();
    s.lose();
    await vi.advanceTimersByTimeAsync(500); // launch#2 fails; next delay 1000 (capped from 1000)
    await vi.advanceTimersByTimeAsync(1000); // launch#3 fails; next delay 1000 (capped from 2000)
    expect(s.effects.filter((e) => e.startsWith('launch#'))).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(999);
    expect(s.effects.filter((e) => e.startsWith('launch#'))).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1); // launch#4
    expect(s.effects.filter((e) => e.startsWith('launch#'))).toHaveLength(4);
  });

  it('defaults: 3 restarts in 60 s, 500 ms base, 10 s cap', () => {
    expect(DEFAULT_PLUGIN_RESTART_POLICY).toEqual({
      maxRestarts: 3,
      restartWindowMs: 60_000,
      backoff: { baseMs: 500, capMs: 10_000 },
    });
  });
});

/** A plugin an earlier host launched (issue #13): where it serves, as that host saved it. */
const saved: PluginEndpoint = {
  pid: 777,
  address: 'unix:/tmp/saved.sock',
  protocolVersion: 1,
  startTime: 42,
};

describe('plugin supervisor: attaching to a plugin that outlived its host, detaching from one', () => {
  it('without a reattach config the first state is launching: nothing is attached', async () => {
    const s = supervisor();
    await s.start();
    expect(s.effects[0]).toBe('launch#1');
    expect(s.actor.getSnapshot().context.attached).toBe(false);
  });

  it('attaching, the saved plugin answers → up.recovering → up.serving with its endpoint; nothing launched', async () => {
    const s = supervisor({ reattach: saved });
    s.actor.start();
    expect(s.state()).toBe('attaching');
    await vi.advanceTimersByTimeAsync(0);
    expect(s.state()).toEqual({ up: 'serving' });
    expect(s.effects).toEqual(['attach:777', 'recover', 'serving:777']);
    expect(s.actor.getSnapshot().context).toMatchObject({ endpoint: saved, attached: true, launches: 0 });
    expect(s.watchers()).toBe(1);
  });

  it('attaching, the saved plugin is gone → launching a new one (no failure: it never served here)', async () => {
    const s = supervisor({ reattach: saved, attaches: ['fail'] });
    await s.start();
    expect(s.state()).toEqual({ up: 'serving' });
    expect(s.effects).toEqual(['attach:777', 'launch#1', 'recover', 'serving:4242']);
    expect(s.actor.getSnapshot().context).toMatchObject({
      endpoint,
      attached: false,
      lastError: 'plugin 777 is gone',
    });
  });

  it('attaching fails and the new launch fails too → failed: one launch, no storm', async () => {
    const s = supervisor({ reattach: saved, attaches: ['fail'], launches: ['fail'] });
    await s.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.state()).toBe('failed');
    expect(s.effects).toEqual(['attach:777', 'launch#1', 'failed:1:launch 1 failed']);
  });

  it('an attached plugin that is lost is relaunched like a launched one', async () => {
    const s = supervisor({ reattach: saved });
    await s.start();
    s.lose('plugin process 777 is gone');
    expect(s.state()).toBe('relaunching');
    expect(s.effects.at(-1)).toBe('drop:plugin process 777 is gone');
    await vi.advanceTimersByTimeAsync(500);
    expect(s.state()).toEqual({ up: 'serving' });
    expect(s.effects.slice(-3)).toEqual(['launch#1', 'recover', 'serving:4242']);
  });

  it('attaching, stop → stopping → stopped (the attach is cancelled)', async () => {
    const s = supervisor({ reattach: saved, attaches: ['hang'] });
    s.actor.start();
    s.actor.send({ type: 'stop' });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.state()).toBe('stopped');
    expect(s.effects).toEqual(['attach:777', 'shutdown:none']);
  });

  for (const from of ['attaching', 'launching', 'up.serving', 'relaunching'] as const) {
    it(`${from}, detach → detaching → detached: let go, never shut down`, async () => {
      const s = supervisor({
        ...(from === 'attaching' ? { reattach: saved, attaches: ['hang' as const] } : {}),
      });
      if (from === 'attaching' || from === 'launching') {
        s.actor.start();
        expect(s.state()).toBe(from);
      } else {
        await s.start();
        if (from === 'relaunching') s.lose();
      }
      s.actor.send({ type: 'detach' });
      await vi.advanceTimersByTimeAsync(0);
      expect(s.state()).toBe('detached');
      expect(s.effects.at(-1)).toBe(from === 'up.serving' ? 'release:4242' : 'release:none');
      expect(s.effects.some((e) => e.startsWith('shutdown'))).toBe(false);
      expect(s.actor.getSnapshot().output).toMatchObject({ state: 'detached' });
      expect(s.watchers()).toBe(0);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(s.effects.filter((e) => e.startsWith('launch#'))).toHaveLength(from === 'attaching' ? 0 : 1);
    });
  }

  it('stopping, detach → still stopping: a stop under way is not turned into a detach', async () => {
    let finish!: () => void;
    const machine = pluginSupervisorMachine.provide({
      actors: {
        launchPlugin: fromPromise(async () => endpoint),
        shutdownPlugin: fromPromise(
          () =>
            new Promise<void>((resolve) => {
              finish = resolve;
            }),
        ),
      },
    });
    const actor = createActor(machine, { input: { name: 'p' } }).start();
    await vi.advanceTimersByTimeAsync(0);
    actor.send({ type: 'stop' });
    actor.send({ type: 'detach' });
    expect(actor.getSnapshot().value).toBe('stopping');
    finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(actor.getSnapshot().output).toMatchObject({ state: 'stopped' });
  });

  it('detaching, detach → still detaching: released once', async () => {
    let finish!: () => void;
    let releases = 0;
    const machine = pluginSupervisorMachine.provide({
      actors: {
        launchPlugin: fromPromise(async () => endpoint),
        releasePlugin: fromPromise(() => {
          releases += 1;
          return new Promise<void>((resolve) => {
            finish = resolve;
          });
        }),
      },
    });
    const actor = createActor(machine, { input: { name: 'p' } }).start();
    await vi.advanceTimersByTimeAsync(0);
    actor.send({ type: 'detach' });
    actor.send({ type: 'detach' });
    expect(actor.getSnapshot().value).toBe('detaching');
    finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(actor.getSnapshot().value).toBe('detached');
    expect(releases).toBe(1);
  });
});

describe('plugin supervisor: what the effects are given, and effects that fail', () => {
  it('the watcher and the recover get the endpoint served; no restart is counted before a loss', async () => {
    const inputs: unknown[] = [];
    const machine = pluginSupervisorMachine.provide({
      actors: {
        launchPlugin: fromPromise(async () => endpoint),
        recoverTasks: fromPromise(async ({ input }) => {
          inputs.push(['recover', input]);
        }),
        watchPlugin: fromCallback(({ input }) => {
          inputs.push(['watch', input]);
        }),
      },
    });
    const actor = createActor(machine, { input: { name: 'p' } }).start();
    await vi.advanceTimersByTimeAsync(0);
    expect(inputs).toEqual([
      ['watch', { endpoint }],
      ['recover', { endpoint }],
    ]);
    expect(actor.getSnapshot().context.restarts).toEqual([]);
  });

  for (const [event, effect, final] of [
    ['stop', 'shutdownPlugin', 'stopped'],
    ['detach', 'releasePlugin', 'detached'],
  ] as const) {
    it(`${effect} that fails still ends in ${final}`, async () => {
      const machine = pluginSupervisorMachine.provide({
        actors: {
          launchPlugin: fromPromise(async () => endpoint),
          [effect]: fromPromise(async () => {
            throw new Error(`${effect} failed`);
          }),
        },
      });
      const actor = createActor(machine, { input: { name: 'p' } }).start();
      await vi.advanceTimersByTimeAsync(0);
      actor.send({ type: event });
      await vi.advanceTimersByTimeAsync(0);
      expect(actor.getSnapshot().value).toBe(final);
      expect(actor.getSnapshot().output).toMatchObject({ state: final });
    });
  }
});

describe('plugin supervisor: effects left unprovided fail naming themselves', () => {
  it('launchPlugin left unprovided: the launch fails naming it, and the plugin is failed', async () => {
    const actor = createActor(pluginSupervisorMachine, { input: { name: 'p' } }).start();
    await vi.advanceTimersByTimeAsync(0);
    expect(actor.getSnapshot().output).toEqual({
      state: 'failed',
      launches: 1,
      lastError: 'launchPlugin not provided',
    });
  });

  it('attachPlugin left unprovided: the attach fails naming it, and a launch is tried', async () => {
    const machine = pluginSupervisorMachine.provide({
      actors: { launchPlugin: fromPromise(() => new Promise<PluginEndpoint>(() => {})) },
    });
    const actor = createActor(machine, { input: { name: 'p', reattach: saved } }).start();
    await vi.advanceTimersByTimeAsync(0);
    expect(actor.getSnapshot().value).toBe('launching');
    expect(actor.getSnapshot().context.lastError).toBe('attachPlugin not provided');
    actor.stop();
  });
});

describe('restart window helpers', () => {
  it('counts only restarts younger than the window', () => {
    expect(restartsInWindow([0, 500, 999, 1000], 1000, 1000)).toEqual([500, 999, 1000]);
    const policy = { ...DEFAULT_PLUGIN_RESTART_POLICY, maxRestarts: 2, restartWindowMs: 1000 };
    expect(mayRestart([500], 1000, policy)).toBe(true);
    expect(mayRestart([500, 900], 1000, policy)).toBe(false);
    expect(mayRestart([0, 900], 1000, policy)).toBe(true);
  });
});
