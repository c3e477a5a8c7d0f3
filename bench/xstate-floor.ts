/**
 * The floor XState itself sets (see docs/benchmarks.md, "Targets not met"): creating and starting a
 * machine actor that invokes a promise, one transition, a self-transition, and AbortController.abort.
 * Run: `npx tsx bench/xstate-floor.ts`.
 */
import { createActor, createMachine, fromPromise, setup } from 'xstate';

const N = 10000;
const m = setup({ actors: { p: fromPromise(async () => 1) } }).createMachine({
  initial: 'a',
  states: { a: { invoke: { src: 'p', onDone: 'b' } }, b: { on: { go: 'c' } }, c: { type: 'final' } },
});
let t = performance.now();
const actors = [];
for (let i = 0; i < N; i++) actors.push(createActor(m).start());
console.log('create+start (invoke promise)', (((performance.now() - t) / N) * 1000).toFixed(1), 'µs/actor');
await new Promise((r) => setTimeout(r, 100));
t = performance.now();
for (const a of actors) a.send({ type: 'go' });
console.log('one transition', (((performance.now() - t) / N) * 1000).toFixed(1), 'µs/event');
const m2 = createMachine({ initial: 'a', states: { a: { on: { go: 'a' } } } });
const a2 = createActor(m2).start();
t = performance.now();
for (let i = 0; i < 100000; i++) a2.send({ type: 'go' });
console.log('self transition', (((performance.now() - t) / 100000) * 1000).toFixed(2), 'µs/event');
t = performance.now();
for (let i = 0; i < N; i++) new AbortController().abort();
console.log('AbortController.abort()', (((performance.now() - t) / N) * 1000).toFixed(2), 'µs');
t = performance.now();
for (let i = 0; i < N; i++) new AbortController().abort(1);
console.log('AbortController.abort(reason)', (((performance.now() - t) / N) * 1000).toFixed(2), 'µs');
