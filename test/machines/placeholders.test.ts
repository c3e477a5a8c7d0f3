/**
 * The machines alone, with an effect left unprovided: each placeholder fails loudly, naming what
 * `src/` must provide, instead of acting as if the effect had worked.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, waitFor } from 'xstate';
import { type OpenedStream, statsHookMachine } from '../../machines/stats-hook.machine.js';
import { taskRunnerMachine } from '../../machines/task-runner.machine.js';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('stats hook placeholders', () => {
  it('openStats: the open fails, naming the effect', async () => {
    const lines: { level: string; error?: string }[] = [];
    const actor = createActor(statsHookMachine.provide({ actions: { log: (_, p) => lines.push(p) } }), {
      input: { taskId: 't1' },
    });
    actor.start();
    await waitFor(actor, (s) => s.matches('backoff'));
    expect(lines).toMatchObject([{ level: 'error', error: 'openStats is provided by src/stats-hook' }]);
    actor.stop();
  });

  it('readStats: the hook fails, naming the effect', async () => {
    const machine = statsHookMachine.provide({
      actors: {
        openStats: fromPromise(
          async (): Promise<OpenedStream> => ({ samples: (async function* () {})(), close() {} }),
        ),
      },
    });
    const actor = createActor(machine, { input: { taskId: 't1' } });
    const errors: unknown[] = [];
    actor.subscribe({ error: (error) => errors.push(error) });
    actor.start();
    await settle();
    expect(String(errors[0])).toContain('readStats is provided by src/stats-hook');
  });
});

describe('task runner placeholders', () => {
  const hang = fromPromise(() => new Promise<never>(() => {}));
  const runWith = async (
    actors: Record<string, unknown>,
    send: (string | { type: string; mode: string })[],
    recovered?: { restarts: number; restartWindow: undefined; driverId?: string },
  ) => {
    const events: { type: string; message: string }[] = [];
    const logs: { level: string; error?: string; driverId?: string }[] = [];
    const machine = taskRunnerMachine.provide({
      actors: actors as never,
      actions: { taskEvent: (_, p) => events.push(p), log: (_, p) => logs.push(p) },
    });
    const actor = createActor(machine, { input: { taskId: 't1', recovered } });
    actor.subscribe({ error: () => {} });
    actor.start();
    for (const event of send) actor.send((typeof event === 'string' ? { type: event } : event) as never);
    await settle();
    await settle();
    actor.stop();
    return { events, logs };
  };

  it('startTask: the start fails, naming the effect', async () => {
    const { events } = await runWith({}, ['start']);
    expect(events.find((e) => e.type === 'Driver Failure')?.message).toBe(
      'startTask is provided by src/task-runner',
    );
  });

  it('stopTask: the stop fails, naming the effect (and is retried, as any failed stop)', async () => {
    const { logs } = await runWith({ startTask: hang }, ['start', 'kill']);
    expect(logs).toMatchObject([{ level: 'warn', error: 'stopTask is provided by src/task-runner' }]);
  });

  it('destroyTask: the destroy fails, naming the effect', async () => {
    const exited = fromPromise(async () => ({ exitCode: 0, signal: null, oomKilled: false }));
    const { logs } = await runWith({ startTask: fromPromise(async () => ({})), waitTask: exited }, ['start']);
    expect(logs).toMatchObject([{ level: 'warn', error: 'destroyTask is provided by src/task-runner' }]);
  });

  it('waitTask: the wait fails, naming the effect', async () => {
    const { events } = await runWith({ startTask: fromPromise(async () => {}), destroyTask: hang }, [
      'start',
    ]);
    expect(events.find((e) => e.type === 'Terminated')?.message).toBe(
      'Wait failed: waitTask is provided by src/task-runner',
    );
  });

  it('recoverTask: the recovery fails, naming the effect, with the saved driver id in the warn line', async () => {
    const recover = { type: 'recover', mode: 'running' };
    const { events, logs } = await runWith({ destroyTask: hang }, [recover], {
      restarts: 0,
      restartWindow: undefined,
      driverId: 'exec',
    });
    expect(events.find((e) => e.type === 'Driver Failure')?.message).toBe(
      'Task could not be recovered: recoverTask is provided by src/task-runner',
    );
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        error: 'recoverTask is provided by src/task-runner',
        driverId: 'exec',
      }),
    );
  });

  it('a recovered task says so, naming the saved driver id when there is one', async () => {
    const recovered = fromPromise(async () => {});
    const recover = { type: 'recover', mode: 'running' };
    const withId = await runWith({ recoverTask: recovered, waitTask: hang }, [recover], {
      restarts: 0,
      restartWindow: undefined,
      driverId: 'exec',
    });
    expect(withId.events.find((e) => e.type === 'Recovered')?.message).toBe(
      'Task recovered after the agent restarted (exec)',
    );
    const withoutId = await runWith({ recoverTask: recovered, waitTask: hang }, [recover], {
      restarts: 0,
      restartWindow: undefined,
    });
    expect(withoutId.events.find((e) => e.type === 'Recovered')?.message).toBe(
      'Task recovered after the agent restarted',
    );
  });
});
