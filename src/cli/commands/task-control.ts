/**
 * `taskpulse restart <task>` and `taskpulse stop <task>`, pm2-style, through the agent's API:
 * restart is Nomad's (stop signal, then started again at once, outside the restart policy); stop
 * kills the task and waits until it is dead. A bare allocation id stops (or restarts) every task in it.
 */
import type { Command } from 'commander';
import {
  AgentUnreachableError,
  type ApiClient,
  type ApiFlags,
  addApiOptions,
  createApiClient,
  EXIT_API,
} from '../api-client.js';
import type { ApiAllocation } from '../api-types.js';
import { CliError } from '../errors.js';
import { resolveTarget, type Target } from '../resolve-target.js';

const POLL_MS = 100;
/** How long `stop` waits for the tasks to be dead (their kill_timeout is the agent's business). */
const STOP_WAIT_MS = 120_000;

const label = (target: Target, task: string) =>
  `${target.alloc.Name} ${task} (${target.alloc.ID.slice(0, 8)})`;

async function resolve(api: ApiClient, spec: string): Promise<{ target: Target; tasks: string[] }> {
  const target = resolveTarget(await api.get<ApiAllocation[]>('/v1/allocations'), spec);
  const tasks =
    target.task === undefined ? Object.keys(target.alloc.AllocatedResources.Tasks) : [target.task];
  return { target, tasks };
}

async function waitDead(api: ApiClient, target: Target, tasks: string[]): Promise<ApiAllocation> {
  const deadline = Date.now() + STOP_WAIT_MS;
  for (;;) {
    const alloc = await api.get<ApiAllocation>(`/v1/allocation/${encodeURIComponent(target.alloc.ID)}`);
    if (tasks.every((task) => alloc.TaskStates[task]?.State === 'dead')) return alloc;
    if (Date.now() > deadline) {
      throw new CliError(`${tasks.join(', ')}: still not dead after ${STOP_WAIT_MS / 1000} s`, EXIT_API);
    }
    await new Promise((done) => setTimeout(done, POLL_MS));
  }
}

function exitOf(alloc: ApiAllocation, task: string): string {
  const exit = alloc.TaskStates[task]?.Events.findLast((event) => event.Type === 'Terminated');
  if (!exit) return 'before it started';
  return exit.Signal ? `signal ${exit.Signal}` : `exit code ${exit.ExitCode}`;
}

export function registerTaskControl(program: Command): void {
  const restart = program
    .command('restart')
    .description('restart a task of a running agent now (outside its restart policy)')
    .argument('<task>', 'a task name, <alloc>/<task>, or an allocation id (prefix) for all its tasks');
  addApiOptions(restart)
    .addHelpText(
      'after',
      '\nExamples:\n  $ npx taskpulse restart busy\n  $ npx taskpulse restart 0fab56d6/busy',
    )
    .action(async (spec: string, flags: ApiFlags) => {
      const api = createApiClient(flags);
      const { target, tasks } = await resolve(api, spec);
      await api.post(`/v1/client/allocation/${encodeURIComponent(target.alloc.ID)}/restart`, {
        ...(target.task === undefined ? {} : { TaskName: target.task }),
      });
      for (const task of tasks) process.stdout.write(`restarting ${label(target, task)}\n`);
    });

  const stop = program
    .command('stop')
    .description('stop a task of a running agent and wait until it is dead')
    .argument('<task>', 'a task name, <alloc>/<task>, or an allocation id (prefix) for all its tasks');
  addApiOptions(stop)
    .addHelpText(
      'after',
      '\nExamples:\n  $ npx taskpulse stop busy\n  $ npx taskpulse stop 0fab56d6\n\nThe agent ends when its last task is dead (unless --keep-serving).',
    )
    .action(async (spec: string, flags: ApiFlags) => {
      const api = createApiClient(flags);
      const { target, tasks } = await resolve(api, spec);
      await api.post(`/v1/allocation/${encodeURIComponent(target.alloc.ID)}/stop`, {
        ...(target.task === undefined ? {} : { TaskName: target.task }),
      });
      let alloc: ApiAllocation;
      try {
        alloc = await waitDead(api, target, tasks);
      } catch (error) {
        // The last task stopped and the agent ended with it: that is a stop done.
        if (error instanceof AgentUnreachableError) {
          for (const task of tasks)
            process.stdout.write(`stopped ${label(target, task)} (the agent ended)\n`);
          return;
        }
        throw error;
      }
      for (const task of tasks)
        process.stdout.write(`stopped ${label(target, task)}: ${exitOf(alloc, task)}\n`);
    });
}
