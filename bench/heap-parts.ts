/**
 * Heap per task by part, on the built library (dist/): the mock driver's task alone, with an open
 * stream, a runner whose stats hook ends at once (runner + waitTask), a streaming runner (+ stats
 * hook, readStats, the stream), and XState's own actors and Node's objects for scale. Each figure is
 * heapUsed after gc() with N made minus before, / N, three rounds (the last two are steady; the first
 * also holds code compiled for it). Run: `node --expose-gc --import tsx bench/heap-parts.ts`
 * (`N=5000` by default). docs/benchmarks.md, section 8, has the figures.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createActor, createMachine, fromCallback, fromPromise, setup } from 'xstate';
import type { TaskSpec } from '../src/drivers/contract.js';
import { importBuilt } from './built.js';

const { createMockDriver } =
  await importBuilt<typeof import('../src/drivers/mock.js')>('src/drivers/mock.ts');
const { createBus } = await importBuilt<typeof import('../src/runtime/bus.js')>('src/runtime/bus.ts');
const { silentLogger } =
  await importBuilt<typeof import('../src/runtime/logger.js')>('src/runtime/logger.ts');
const { createTaskRunner } = await importBuilt<typeof import('../src/task-runner/create-task-runner.js')>(
  'src/task-runner/create-task-runner.ts',
);

const N = Number(process.env.N ?? 5000);
const logger = silentLogger();
const gc = () => {
  globalThis.gc?.();
  globalThis.gc?.();
};
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc --import tsx');

type Made = { ready(): Promise<void>; stop(): Promise<void> };

async function measure(label: string, make: () => Promise<Made>) {
  // Each round in a function of its own: its locals (the last round's actors) die when it returns.
  const oneRound = async () => {
    await sleep(50);
    gc();
    const before = process.memoryUsage().heapUsed;
    const made = await make();
    await made.ready();
    gc();
    const perTask = (process.memoryUsage().heapUsed - before) / N;
    await made.stop();
    return perTask;
  };
  const rounds: number[] = [];
  for (let round = 0; round < 3; round++) rounds.push(await oneRound());
  console.log(`${label.padEnd(66)} ${rounds.map((kib) => (kib / 1024).toFixed(2)).join(' / ')} KiB`);
}

const spec = (i: number, config: Record<string, unknown> = {}): TaskSpec => ({
  id: `t-${i}`,
  name: `t${i}`,
  config,
});
const noop = async () => {};

await measure('mock task: startTask and a pending waitTask', async () => {
  const driver = createMockDriver();
  for (let i = 0; i < N; i++) {
    await driver.startTask(spec(i));
    driver.waitTask(`t-${i}`, new AbortController().signal).catch(() => {});
  }
  return {
    ready: noop,
    stop: async () =>
      void (await Promise.all(
        Array.from({ length: N }, (_, i) => driver.destroyTask(`t-${i}`, { force: true })),
      )),
  };
});

await measure('mock task and its open stream, one sample read (no taskpulse)', async () => {
  const driver = createMockDriver();
  const iterators: AsyncIterator<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    await driver.startTask(spec(i));
    driver.waitTask(`t-${i}`, new AbortController().signal).catch(() => {});
    const stream = await driver.taskStats(`t-${i}`, 1000, new AbortController().signal);
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    iterator.next().catch(() => {});
    iterators.push(iterator);
  }
  return {
    ready: noop,
    stop: async () =>
      void (await Promise.all(
        Array.from({ length: N }, (_, i) => driver.destroyTask(`t-${i}`, { force: true })),
      )),
  };
});

const runners = (config: Record<string, unknown>, streaming: boolean) => async (): Promise<Made> => {
  const driver = createMockDriver();
  const bus = createBus();
  let running = 0;
  let sampled: Set<string> | undefined = new Set();
  bus.on('task:state', (event) => {
    if (event.state === 'running') running++;
  });
  bus.on('task:stats', (event) => sampled?.add(event.taskId));
  const all = Array.from({ length: N }, (_, i) => {
    const runner = createTaskRunner({ task: spec(i, config), driver, bus, logger });
    runner.start();
    return runner;
  });
  return {
    async ready() {
      while (running < N || (streaming && (sampled?.size ?? 0) < N)) await sleep(5);
      await sleep(20);
      sampled = undefined;
    },
    stop: async () => void (await Promise.all(all.map((runner) => runner.kill()))),
  };
};
await measure(
  'runner, stats not implemented (runner + waitTask; the hook ended)',
  runners({ stats: [{ notImplemented: true }] }, false),
);
await measure('runner streaming (+ stats hook, readStats, the stream)', runners({}, true));

const actors = (make: (root: ReturnType<typeof createActor>) => unknown) => async (): Promise<Made> => {
  const root = createActor(fromCallback(() => {})).start();
  for (let i = 0; i < N; i++) make(root);
  return { ready: noop, stop: async () => void root.stop() };
};
const invokesPromise = setup({ actors: { p: fromPromise(() => new Promise<void>(() => {})) } }).createMachine(
  {
    initial: 'a',
    states: { a: { invoke: { src: 'p' } } },
  },
);
const invokesCallback = setup({ actors: { c: fromCallback(() => () => {}) } }).createMachine({
  initial: 'a',
  states: { a: { invoke: { src: 'c' } } },
});
const bare = createMachine({ initial: 'a', states: { a: {} } });
await measure(
  'XState: a machine actor invoking a pending fromPromise',
  actors((parent) => createActor(invokesPromise, { parent }).start()),
);
await measure(
  'XState: a machine actor invoking a fromCallback',
  actors((parent) => createActor(invokesCallback, { parent }).start()),
);
await measure(
  'XState: a bare machine actor',
  actors((parent) => createActor(bare, { parent }).start()),
);

const kept: unknown[] = [];
await measure('Node: an AbortController with one abort listener', async () => {
  for (let i = 0; i < N; i++) {
    const controller = new AbortController();
    controller.signal.addEventListener('abort', () => {}, { once: true });
    kept.push(controller);
  }
  return {
    ready: noop,
    stop: async () => {
      kept.length = 0;
    },
  };
});
await measure('pino: a child logger', async () => {
  for (let i = 0; i < N; i++) kept.push(logger.child({ task: `t${i}` }));
  return {
    ready: noop,
    stop: async () => {
      kept.length = 0;
    },
  };
});
