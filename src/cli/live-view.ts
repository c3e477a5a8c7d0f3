/**
 * What the agent and `run` commands print on stdout while tasks run: a table refreshed in place on a
 * terminal (like `docker stats`), or one JSON line per sample and task event when piped; then a
 * summary (a table, or a last JSON line).
 */
import type { Agent, AgentSummary, AgentTask, TaskSummary } from '../agent/create-agent.js';
import { cpuValue, memoryValue } from '../drivers/usage.js';
import type { TaskBusEvents } from '../runtime/bus.js';
import { guardedWriter } from './closed-output.js';
import { formatBytes, formatOptional, formatUptime, roundOrNull } from './format.js';
import { type Column, layoutTable, type TableOptions } from './table-layout.js';

export type OutputMode = 'table' | 'json' | 'none';

export interface LiveView {
  /** Prints the summary and stops refreshing. */
  finish(summary: AgentSummary): void;
  /**
   * A supervised command's own output (`run` passes it through): to the matching stream, above the
   * live table; to stderr when stdout carries JSON lines.
   */
  print(text: string, stream: 'stdout' | 'stderr'): void;
}

/** Writes to our stdout or stderr, dropping what a closed one (EPIPE) can no longer take. */
const passThrough = (out: NodeJS.WriteStream) => {
  const toOut = guardedWriter(out);
  const toErr = guardedWriter(process.stderr);
  return (text: string, stream: 'stdout' | 'stderr') => (stream === 'stderr' ? toErr : toOut)(text);
};

export function resolveOutputMode(mode: string | undefined, stream: NodeJS.WriteStream): OutputMode {
  if (mode === 'table' || mode === 'json' || mode === 'none') return mode;
  return stream.isTTY ? 'table' : 'json';
}

/** One row of the live table: a task of an allocation, as it is now. */
interface LiveRow {
  alloc: Agent['allocations'][number];
  task: AgentTask;
  now: number;
}

const shortId = (id: string) => id.slice(0, 8);
const nsToSeconds = (ns: number | undefined) => (ns === undefined ? undefined : ns / 1e9);

/** An allocation column only when a group runs more than one: otherwise TASK names the task. */
const needsAllocColumn = (groups: { count: number }[]) => groups.some((group) => group.count > 1);

/** `7`, `SIGKILL`, or `-` before the task has exited at all. */
const exitCell = (exit: { exitCode: number | null; signal: string | null } | undefined) =>
  exit === undefined ? '-' : exit.exitCode !== null ? String(exit.exitCode) : (exit.signal ?? '-');

const LIVE_COLUMNS: Column<LiveRow>[] = [
  { title: 'TASK', cell: ({ alloc, task }) => `${alloc.group.name}/${task.name}`, shrinkTo: 12 },
  { title: 'STATE', cell: ({ task }) => task.runner.state },
  {
    title: 'UPTIME',
    dropRank: 4,
    cell: ({ task, now }) => {
      const started = task.runner.events.findLast((event) => event.type === 'Started');
      return task.runner.state === 'running' && started ? formatUptime(now - started.time) : '-';
    },
  },
  {
    title: 'CPU %',
    align: 'right',
    cell: ({ task }) => {
      // Absent (`-`) until measured: a stream's first sample has no percent yet.
      return formatOptional(cpuValue(liveUsage(task)?.cpu, 'percent'), (percent) => percent.toFixed(1));
    },
  },
  {
    title: 'MEM / LIMIT',
    align: 'right',
    dropRank: 6,
    cell: ({ task }) => {
      const usage = liveUsage(task);
      const limitMiB = task.config.resources?.memory;
      const used = formatOptional(memoryValue(usage?.memory, 'rss'), formatBytes);
      return `${used} / ${limitMiB === undefined ? '-' : formatBytes(limitMiB * 2 ** 20)}`;
    },
  },
  {
    title: 'RESTARTS',
    align: 'right',
    dropRank: 3,
    cell: ({ task }) => String(task.runner.actor.getSnapshot().context.restarts),
  },
  {
    title: 'EXIT',
    align: 'right',
    dropRank: 5,
    cell: ({ task }) => exitCell(task.runner.actor.getSnapshot().context.lastExit),
  },
  {
    title: 'FAILED',
    dropRank: 2,
    cell: ({ task }) => (task.runner.actor.getSnapshot().context.failed ? 'yes' : 'no'),
  },
  {
    title: 'LAST EVENT',
    dropRank: 1,
    shrinkTo: 14,
    cell: ({ task }) => task.runner.events.at(-1)?.type ?? '',
  },
];

const ALLOC_COLUMN: Column<LiveRow> = { title: 'ALLOC', dropRank: 7, cell: ({ alloc }) => shortId(alloc.id) };

/** The latest sample of a live task (a dead task's last one is not "now"). */
function liveUsage(task: AgentTask) {
  const latest = task.runner.latestResourceUsage();
  return latest && !latest.exited ? latest.sample.resourceUsage : undefined;
}

function tableLines(agent: Agent, options: TableOptions): string[] {
  const now = Date.now();
  const rows = agent.allocations.flatMap((alloc) =>
    [...alloc.tasks.values()].map((task): LiveRow => ({ alloc, task, now })),
  );
  const groups = agent.allocations.map((alloc) => alloc.group);
  const columns = needsAllocColumn(groups) ? [ALLOC_COLUMN, ...LIVE_COLUMNS] : LIVE_COLUMNS;
  return layoutTable(columns, rows, options);
}

/** What the summary says; `-` where nothing was measured, as in the live table. */
const SUMMARY_COLUMNS: Column<TaskSummary>[] = [
  { title: 'TASK', cell: (task) => `${task.group}/${task.task}`, shrinkTo: 12 },
  { title: 'STATE', cell: (task) => task.state },
  { title: 'EXIT', align: 'right', cell: (task) => exitCell(task) },
  { title: 'RESTARTS', align: 'right', dropRank: 2, cell: (task) => String(task.restarts) },
  { title: 'FAILED', dropRank: 1, cell: (task) => (task.failed ? 'yes' : 'no') },
  {
    title: 'PEAK RSS',
    align: 'right',
    dropRank: 4,
    cell: (task) => formatOptional(task.peakRssBytes ?? undefined, formatBytes),
  },
  {
    title: 'CPU s',
    align: 'right',
    dropRank: 3,
    cell: (task) => formatOptional(task.cpuSeconds ?? undefined, (seconds) => seconds.toFixed(2)),
  },
];

function summaryLines(agent: Agent, summary: AgentSummary, options: TableOptions): string[] {
  const groups = agent.allocations.map((alloc) => alloc.group);
  const columns = needsAllocColumn(groups)
    ? [
        { title: 'ALLOC', dropRank: 5, cell: (task: TaskSummary) => shortId(task.allocId) },
        ...SUMMARY_COLUMNS,
      ]
    : SUMMARY_COLUMNS;
  return layoutTable(columns, summary.tasks, options);
}

/** The terminal's width; piped (`--output table`), `COLUMNS` if set, as many tools read it. */
function tableWidth(out: NodeJS.WriteStream): number | undefined {
  if (out.isTTY && out.columns > 0) return out.columns;
  const columns = Number(process.env.COLUMNS);
  return Number.isInteger(columns) && columns > 0 ? columns : undefined;
}

export function startLiveView(
  agent: Agent,
  mode: OutputMode,
  out: NodeJS.WriteStream,
  refreshMs = 1000,
): LiveView {
  // A closed stdout (EPIPE) drops what follows; supervise decides what the process does about it.
  const emit = guardedWriter(out);
  if (mode === 'none') return { finish() {}, print: passThrough(out) };

  if (mode === 'json') {
    const write = (line: object) => emit(`${JSON.stringify(line)}\n`);
    const labels = (taskId: string) => {
      const alloc = agent.allocations.find((candidate) => taskId.startsWith(`${candidate.id}/`));
      return { alloc_id: alloc?.id, job: alloc?.job.name, group: alloc?.group.name };
    };
    const onStats = ({ taskId, name, sample }: TaskBusEvents['task:stats']) => {
      const { cpu, memory } = sample.resourceUsage;
      write({
        type: 'stats',
        time: new Date(sample.timestamp).toISOString(),
        ...labels(taskId),
        task: name,
        // Unmeasured is null (the first sample has no percents yet), never 0.
        cpu_percent: roundOrNull(cpuValue(cpu, 'percent'), 2),
        cpu_user_percent: roundOrNull(cpuValue(cpu, 'userMode'), 2),
        cpu_system_percent: roundOrNull(cpuValue(cpu, 'systemMode'), 2),
        cpu_seconds: roundOrNull(nsToSeconds(cpuValue(cpu, 'totalTime')), 3),
        rss_bytes: memoryValue(memory, 'rss') ?? null,
        pids: sample.pids ? Object.keys(sample.pids).length : null,
      });
    };
    const onEvent = ({ taskId, name, event }: TaskBusEvents['task:event']) => {
      write({
        type: 'event',
        time: new Date(event.time).toISOString(),
        ...labels(taskId),
        task: name,
        event: event.type,
        message: event.message,
        ...(event.exitCode === undefined ? {} : { exit_code: event.exitCode }),
      });
    };
    agent.bus.on('task:stats', onStats);
    agent.bus.on('task:event', onEvent);
    return {
      // Stdout is for the JSON lines: the command's output, both streams, goes to stderr.
      print: guardedWriter(process.stderr),
      finish(summary) {
        agent.bus.off('task:stats', onStats);
        agent.bus.off('task:event', onEvent);
        write({
          type: 'summary',
          failed: summary.failed,
          reason: summary.reason,
          tasks: summary.tasks.map((task) => ({
            alloc_id: task.allocId,
            job: task.job,
            group: task.group,
            task: task.task,
            state: task.state,
            failed: task.failed,
            restarts: task.restarts,
            exit_code: task.exitCode,
            signal: task.signal,
            peak_rss_bytes: task.peakRssBytes,
            cpu_seconds: roundOrNull(task.cpuSeconds ?? undefined, 3),
          })),
        });
      },
    };
  }

  // Table: redraw in place. `\x1b[<n>F` moves to the start of the line n rows up; `\x1b[J` clears below.
  // Lines never wrap (they fit `out.columns`), or the cursor would not go back far enough.
  let drawn = 0;
  const stable = new Map<string, number>();
  const layout = (): TableOptions => ({ width: tableWidth(out), stable });
  const draw = () => {
    // Nothing to show until the tasks exist (the view starts before the agent does).
    if (agent.allocations.every((alloc) => alloc.tasks.size === 0)) return;
    const lines = tableLines(agent, layout());
    emit(`${drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ''}${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  draw();
  const timer = setInterval(draw, refreshMs);
  // A partial line waits for its end: the table is redrawn from the start of a line.
  const pending = { stdout: '', stderr: '' };
  const write = passThrough(out);
  return {
    print(text, stream) {
      const whole = pending[stream] + text;
      const cut = whole.lastIndexOf('\n') + 1;
      pending[stream] = whole.slice(cut);
      if (cut === 0) return;
      // Above the table: erase it, write, draw it again below.
      if (drawn > 0) emit(`\x1b[${drawn}F\x1b[J`);
      drawn = 0;
      write(whole.slice(0, cut), stream);
      draw();
    },
    finish(summary) {
      clearInterval(timer);
      for (const stream of ['stdout', 'stderr'] as const) {
        if (pending[stream] !== '') this.print(`${pending[stream]}\n`, stream);
      }
      draw();
      emit(`\n${summaryLines(agent, summary, { width: layout().width }).join('\n')}\n`);
    },
  };
}
