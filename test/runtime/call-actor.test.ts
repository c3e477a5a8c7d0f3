import { expect, it } from 'vitest';
import { assign, createActor, setup, waitFor } from 'xstate';
import { fromCall } from '../../src/runtime/call-actor.js';

/** A machine that invokes `call` once and ends in `ok` or `failed` with what it got. */
function invoking(call: Parameters<typeof fromCall<string, undefined>>[0]) {
  return setup({ actors: { call: fromCall(call) } }).createMachine({
    context: { result: undefined as unknown },
    initial: 'calling',
    states: {
      calling: {
        invoke: {
          src: 'call',
          onDone: { target: 'ok', actions: assign({ result: ({ event }) => event.output }) },
          onError: { target: 'failed', actions: assign({ result: ({ event }) => event.error }) },
        },
      },
      ok: { type: 'final' },
      failed: { type: 'final' },
    },
  });
}

it('a call that resolves is done with its value, one that rejects errors with its reason', async () => {
  const ok = createActor(invoking(() => Promise.resolve('started'))).start();
  const done = await waitFor(ok, (snapshot) => snapshot.status === 'done');
  expect(done.value).toBe('ok');
  expect(done.context.result).toBe('started');

  const failing = createActor(invoking(() => Promise.reject(new Error('no such image')))).start();
  const failed = await waitFor(failing, (snapshot) => snapshot.status === 'done');
  expect(failed.value).toBe('failed');
  expect(failed.context.result).toEqual(new Error('no such image'));
});

it('a call that throws before returning a promise fails the invoke the same way, not the machine (effects need no async wrapper)', async () => {
  const actor = createActor(
    invoking(() => {
      throw new Error('effects not registered');
    }),
  );
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();
  const snapshot = await waitFor(actor, (current) => current.status === 'done');
  expect(snapshot.value).toBe('failed');
  expect(snapshot.context.result).toEqual(new Error('effects not registered'));
  expect(errors).toEqual([]);
});
