/**
 * `taskpulse logs [-f] [--stderr] [--tail N] <task>`: a task's output from a running agent, as
 * `nomad alloc logs` or `pm2 logs`, read through the agent's log endpoint (plain bytes), across its
 * rotated files, following as it grows with `-f` until the task is dead.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type Command, InvalidArgumentError } from 'commander';
import { type ApiFlags, addApiOptions, createApiClient } from '../api-client.js';
import type { ApiAllocation } from '../api-types.js';
import { resolveTarget } from '../resolve-target.js';

interface LogsFlags extends ApiFlags {
  follow?: boolean;
  stderr?: boolean;
  tail?: number;
}

function linesArg(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError('expected a number of lines (0 or more)');
  return Number(value);
}

export function registerLogs(program: Command): void {
  const command = program
    .command('logs')
    .description("a task's output (stdout, or stderr), following it with -f")
    .argument('<task>', 'a task name, <alloc>/<task>, or an allocation id (prefix) of one task')
    .option('-f, --follow', 'keep printing as the task writes, until it is dead (or Ctrl-C)')
    .option('--stderr', 'standard error instead of standard output')
    .option('-n, --tail <lines>', 'only the last <lines> lines', linesArg);
  addApiOptions(command)
    .addHelpText(
      'after',
      `
Examples:
  $ npx taskpulse logs flaky
  $ npx taskpulse logs --stderr --tail 20 flaky
  $ npx taskpulse logs -f 0fab56d6/busy`,
    )
    .action(async (spec: string, flags: LogsFlags) => {
      const api = createApiClient(flags);
      const { alloc, task } = resolveTarget(await api.get<ApiAllocation[]>('/v1/allocations'), spec, true);
      const query = new URLSearchParams({
        task: task!,
        type: flags.stderr ? 'stderr' : 'stdout',
        plain: 'true',
        ...(flags.follow ? { follow: 'true' } : {}),
        ...(flags.tail === undefined ? {} : { lines: String(flags.tail) }),
      });
      const response = await api.open(`/v1/client/fs/logs/${encodeURIComponent(alloc.ID)}?${query}`);
      if (!response.body) return;
      try {
        // Pulled as stdout takes it: a slow pipe slows the read, never fills memory.
        await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), process.stdout, {
          end: false,
        });
      } catch (error) {
        // The reader went away (`| head`): that is the end of the output, not a failure.
        if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
      }
    });
}
