/**
 * A task runner with the mock driver: a batch task that runs 3.5 s, fails once, is restarted by its
 * policy, then exits 0. Prints each state change and sample, then exits 0.
 */
import pino from 'pino';
import { createBus, createMockDriver, createTaskRunner } from '../src/index.js';

const driver = createMockDriver({
  defaults: { runForMs: 3500, exitCodes: [1, 0], cpuPercent: 42, rssBytes: 64 * 1024 * 1024 },
});
const bus = createBus();
bus.on('task:state', ({ name, state }) => console.log(`${name}: ${state}`));
bus.on('task:event', ({ name, event }) => console.log(`${name}: event ${event.type}: ${event.message}`));
bus.on('task:stats', ({ name, sample }) => {
  const { cpu, memory } = sample.resourceUsage;
  console.log(
    `${name}: cpu ${cpu?.percent.toFixed(1)} %, rss ${((memory?.rss ?? 0) / 2 ** 20).toFixed(1)} MiB`,
  );
});

const runner = createTaskRunner({
  task: { id: 'demo/worker', name: 'worker', config: {} },
  driver,
  bus,
  logger: pino({ level: 'warn' }),
  jobType: 'batch',
  restartPolicy: { attempts: 2, delayMs: 500 },
});
runner.start();
const output = await runner.done;
console.log(`done: ${output.state}, failed ${output.failed}, restarts ${output.restarts}`);
