/**
 * `taskpulse stats [-f] [--no-stream] [--format table|json]`: `docker stats` for a running agent,
 * from any shell. On a terminal the table refreshes in place until Ctrl-C; piped, one snapshot
 * (`-f` keeps streaming, `--no-stream` always prints one). JSON is one line per task per refresh,
 * with null for what the driver does not measure.
 */
import { type Command, Option } from 'commander';
import { type ApiClient, type ApiFlags, addApiOptions, createApiClient } from '../api-client.js';
import type { ApiAllocation, ApiAllocationStats } from '../api-types.js';
import { formatBytes, formatOptional, renderColumns, roundOrNull } from '../format.js';
import { intervalArg } from '../options.js';
import { type TaskFigures, taskFigures } from '../task-figures.js';

interface StatsFlags extends ApiFlags {
  follow?: boolean;
  stream: boolean;
  format?: 'table' | 'json';
  interval: number;
}

async function snapshot(api: ApiClient): Promise<TaskFigures[]> {
  const allocs = await api.get<ApiAllocation[]>('/v1/allocations');
  const all = await Promise.all(
    allocs.map(async (alloc) => {
      const stats = await api.get<ApiAllocationStats>(
        `/v1/client/allocation/${encodeURIComponent(alloc.ID)}/stats`,
      );
      return taskFigures(alloc, stats);
    }),
  );
  return all.flat();
}

const memoryShare = (figures: TaskFigures) =>
  figures.rssBytes === undefined || figures.memoryLimitBytes === undefined
    ? undefined
    : (100 * figures.rssBytes) / figures.memoryLimitBytes;

function tableLines(rows: TaskFigures[]): string[] {
  return renderColumns(
    ['ALLOC', 'TASK', 'STATE', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS'],
    rows.map((figures) => [
      figures.allocId.slice(0, 8),
      `${figures.group}/${figures.task}`,
      figures.state,
      formatOptional(figures.cpuPercent, (value) => `${value.toFixed(2)}%`),
      `${formatOptional(figures.rssBytes, formatBytes)} / ${formatOptional(figures.memoryLimitBytes, formatBytes)}`,
      formatOptional(memoryShare(figures), (value) => `${value.toFixed(2)}%`),
      formatOptional(figures.pids, String),
    ]),
    new Set([3, 5, 6]),
  );
}

function jsonLine(figures: TaskFigures, time: string): string {
  return JSON.stringify({
    time,
    alloc_id: figures.allocId,
    alloc_name: figures.allocName,
    group: figures.group,
    task: figures.task,
    state: figures.state,
    cpu_percent: roundOrNull(figures.cpuPercent, 2),
    cpu_mhz: roundOrNull(figures.cpuMhz, 1),
    rss_bytes: figures.rssBytes ?? null,
    memory_limit_bytes: figures.memoryLimitBytes ?? null,
    memory_percent: roundOrNull(memoryShare(figures), 2),
    pids: figures.pids ?? null,
  });
}

export function registerStats(program: Command): void {
  const command = program
    .command('stats')
    .description("a running agent's tasks' CPU, memory and pids, live (as docker stats)")
    .option('-f, --follow', 'keep refreshing even when stdout is not a terminal')
    .option('--no-stream', 'print one snapshot and exit')
    .addOption(
      new Option('--format <format>', 'table (terminal default) or json lines (pipe default)').choices([
        'table',
        'json',
      ]),
    )
    .addOption(
      new Option('--interval <duration>', 'refresh interval').argParser(intervalArg).default(1000, '1s'),
    );
  addApiOptions(command)
    .addHelpText(
      'after',
      `
Examples:
  $ npx taskpulse stats                            live table until Ctrl-C
  $ npx taskpulse stats --no-stream                one table
  $ npx taskpulse stats -f --format json | jq 'select(.cpu_percent > 50) .task'`,
    )
    .action(async (flags: StatsFlags) => {
      const api = createApiClient(flags);
      const tty = process.stdout.isTTY === true;
      const format = flags.format ?? (tty ? 'table' : 'json');
      const stream = flags.stream && (flags.follow === true || tty);
      for (;;) {
        const rows = await snapshot(api);
        if (format === 'json') {
          const time = new Date().toISOString();
          process.stdout.write(rows.map((row) => `${jsonLine(row, time)}\n`).join(''));
        } else {
          // As docker stats: the screen is cleared and the table drawn from the top.
          const clear = stream && tty ? '\x1b[2J\x1b[H' : '';
          process.stdout.write(`${clear}${tableLines(rows).join('\n')}\n`);
        }
        if (!stream) return;
        await new Promise((resolve) => setTimeout(resolve, flags.interval));
      }
    });
}
