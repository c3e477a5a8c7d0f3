/**
 * `taskpulse status [alloc-or-task]`: a running agent's allocations and tasks, from another shell.
 * Without an argument, one row per task; with an allocation (id prefix) or a task, the details
 * `nomad alloc status` shows: state, exit, restarts, uptime, CPU, memory against its limit, pids,
 * and the recent task events with their times.
 */
import type { Command } from 'commander';
import { type ApiClient, type ApiFlags, addApiOptions, createApiClient } from '../api-client.js';
import type { ApiAllocation, ApiAllocationStats, ApiTaskEvent } from '../api-types.js';
import { formatBytes, formatOptional, formatUptime, renderColumns } from '../format.js';
import { resolveTarget } from '../resolve-target.js';
import { exitText, type TaskFigures, taskFigures } from '../task-figures.js';

const percent = (value: number) => value.toFixed(1);
const mhz = (value: number) => value.toFixed(0);

/** `8.3 MiB / 256 MiB (3.2%)`, `8.3 MiB` without a limit, `-` unmeasured. */
function memoryCell(figures: TaskFigures): string {
  if (figures.rssBytes === undefined) return '-';
  if (figures.memoryLimitBytes === undefined) return formatBytes(figures.rssBytes);
  const share = (100 * figures.rssBytes) / figures.memoryLimitBytes;
  return `${formatBytes(figures.rssBytes)} / ${formatBytes(figures.memoryLimitBytes)} (${share.toFixed(1)}%)`;
}

/** `99.8% (2380 MHz)`, with the limit when the job sets one: `(2380/500 MHz)`. */
function cpuCell(figures: TaskFigures): string {
  if (figures.cpuPercent === undefined && figures.cpuMhz === undefined) return '-';
  const limit = figures.cpuLimitMhz === undefined ? '' : `/${figures.cpuLimitMhz}`;
  return `${formatOptional(figures.cpuPercent, percent)}% (${formatOptional(figures.cpuMhz, mhz)}${limit} MHz)`;
}

const uptimeCell = (figures: TaskFigures, now: number) =>
  figures.runningSince === undefined ? '-' : formatUptime(now - figures.runningSince);

/** `2026-12-01 21:04:05 UTC`: seconds are what an operator compares. */
const eventTime = (ns: number) => `${new Date(ns / 1e6).toISOString().slice(0, 19).replace('T', ' ')} UTC`;

function summaryLines(rows: TaskFigures[], now: number): string[] {
  return renderColumns(
    ['ALLOC', 'TASK', 'STATE', 'EXIT', 'RESTARTS', 'UPTIME', 'CPU %', 'CPU MHZ', 'MEMORY', 'PIDS'],
    rows.map((figures) => [
      figures.allocId.slice(0, 8),
      `${figures.group}/${figures.task}`,
      figures.state,
      exitText(figures) ?? '-',
      String(figures.restarts),
      uptimeCell(figures, now),
      formatOptional(figures.cpuPercent, percent),
      formatOptional(figures.cpuMhz, mhz),
      memoryCell(figures),
      formatOptional(figures.pids, String),
    ]),
    new Set([3, 4, 6, 7, 9]),
  );
}

function eventLines(events: readonly ApiTaskEvent[]): string[] {
  // Newest first, as Nomad lists them.
  const rows = [...events]
    .reverse()
    .map((event) => [eventTime(event.Time), event.Type, event.DisplayMessage]);
  return renderColumns(['Time', 'Type', 'Description'], rows);
}

function detailLines(alloc: ApiAllocation, stats: ApiAllocationStats, only: string | undefined, now: number) {
  const lines = [
    `ID            = ${alloc.ID}`,
    `Name          = ${alloc.Name}`,
    `Job ID        = ${alloc.JobID} (${alloc.JobType})`,
    `Task Group    = ${alloc.TaskGroup}`,
    `Client Status = ${alloc.ClientStatus}`,
  ];
  for (const figures of taskFigures(alloc, stats)) {
    if (only !== undefined && figures.task !== only) continue;
    const state = alloc.TaskStates[figures.task]!;
    lines.push(
      '',
      `Task "${figures.task}" is "${figures.state}"${figures.failed ? ' (failed)' : ''}`,
      ...renderColumns(
        ['CPU', 'Memory', 'PIDs', 'Uptime', 'Restarts', 'Exit'],
        [
          [
            cpuCell(figures),
            memoryCell(figures),
            formatOptional(figures.pids, String),
            uptimeCell(figures, now),
            String(figures.restarts),
            exitText(figures) ?? '-',
          ],
        ],
      ),
      '',
      'Recent Events:',
      ...eventLines(state.Events),
    );
  }
  return lines;
}

async function allocationWithStats(api: ApiClient, alloc: ApiAllocation) {
  const id = encodeURIComponent(alloc.ID);
  const [fresh, stats] = await Promise.all([
    api.get<ApiAllocation>(`/v1/allocation/${id}`),
    api.get<ApiAllocationStats>(`/v1/client/allocation/${id}/stats`),
  ]);
  return { alloc: fresh, stats };
}

export function registerStatus(program: Command): void {
  const command = program
    .command('status')
    .description("a running agent's allocations and tasks (state, exit, restarts, usage, recent events)")
    .argument('[alloc-or-task]', 'an allocation id (prefix), a task name, or <alloc>/<task>');
  addApiOptions(command)
    .addHelpText(
      'after',
      `
Examples:
  $ npx taskpulse status                      every task of the agent on 127.0.0.1:4646
  $ npx taskpulse status 0fab56d6             one allocation, with its tasks' recent events
  $ npx taskpulse status busy                 one task (write 0fab56d6/busy when the name repeats)
  $ TASKPULSE_ADDR=http://10.0.0.5:4646 TASKPULSE_TOKEN=… npx taskpulse status`,
    )
    .action(async (spec: string | undefined, flags: ApiFlags) => {
      const api = createApiClient(flags);
      const allocs = await api.get<ApiAllocation[]>('/v1/allocations');
      const now = Date.now();
      if (spec === undefined) {
        const all = await Promise.all(allocs.map((alloc) => allocationWithStats(api, alloc)));
        const rows = all.flatMap(({ alloc, stats }) => taskFigures(alloc, stats));
        process.stdout.write(rows.length === 0 ? 'no tasks\n' : `${summaryLines(rows, now).join('\n')}\n`);
        return;
      }
      const target = resolveTarget(allocs, spec);
      const { alloc, stats } = await allocationWithStats(api, target.alloc);
      process.stdout.write(`${detailLines(alloc, stats, target.task, now).join('\n')}\n`);
    });
}
