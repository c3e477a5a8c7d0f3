// Run by test/package/consumer.test.ts before the gRPC libraries are installed: the core (an agent
// running an exec and a mock task in process, with its runners and stats hooks) never needs them;
// what does need them (taskpulse/plugin, the out-of-process exec driver) fails naming the package.
import { join } from 'node:path';
import { createAgent, MissingPackageError, parseJob } from 'taskpulse';

const job = parseJob({
  name: 'core',
  type: 'batch',
  groups: [
    {
      name: 'g',
      tasks: [
        {
          name: 'exec',
          driver: 'exec',
          config: { command: process.execPath, args: ['-e', 'setTimeout(() => {}, 300)'] },
        },
        { name: 'mock', driver: 'mock', config: { runForMs: 300 } },
      ],
    },
  ],
});
const execLogDir = join(process.cwd(), 'exec-logs'); // inside the project the test removes
const agent = createAgent({ jobs: [job], execLogDir });
await agent.start();
for (const task of (await agent.done).tasks) console.log(`${task.task}: ${task.state} exit ${task.exitCode}`);

const named = (error) => (error instanceof MissingPackageError ? error.packageName : String(error));
await import('taskpulse/plugin').then(
  () => console.log('taskpulse/plugin: loaded'),
  (error) => console.log(error instanceof MissingPackageError ? error.message : String(error)),
);
await createAgent({ jobs: [job], execLogDir, execOutOfProcess: true })
  .start()
  .then(
    () => console.log('execOutOfProcess: started'),
    (error) => console.log(`execOutOfProcess: ${named(error)}`),
  );
