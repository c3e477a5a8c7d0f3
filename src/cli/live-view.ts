/**
 * What the agent and `run` commands print on stdout while tasks run: a table refreshed in place on a
 * terminal (like `docker stats`), or one JSON line per sample and task event when piped; then a
 * summary (a table, or a last JSON line).
 */
import type { Agent, AgentSummary } from '../agent/create-agent.js';
import type { TaskBusEvents } from '../runtime/bus.js';
import { formatBytes, renderColumns } from './format.js';

export type OutputMode = 'table' | 'json' | 'none';

export interface LiveView {
  /** Prints the summary and stops refreshing. */
  finish(summary: AgentSummary): void;
}

export function resolveOutputMode(mode: string | undefined, stream: NodeJS.WriteStream): OutputMode {
  if (mode === 'table' || mode === 'json' || mode === 'none') return mode;
  return stream.isTTY ? 'table' : 'json';
}

function tableLines(agent: Agent): string[] {
  const rows = agent.allocations.flatMap((alloc) =>
    [...alloc.tasks.values()].map((task) => {
      const latest = task.runner.latestResourceUsage();
      const usage = latest && !latest.exited ? latest.sample.resourceUsage : undefined;
      const last = task.runner.events.at(-1);
      const snapshot = task.runner.actor.getSnapshot();
      return [
        alloc.id.slice(0, 8),
        `${alloc.group.name}/${task.name}`,
        task.runner.state,
        usage?.cpu ? usage.cpu.percent.toFixed(1) : '-',
        usage?.memory ? formatBytes(usage.memory.rss) : '-',
        String(snapshot.context.restarts),
        last ? last.type : '',
      ];
    }),
  );
  return renderColumns(
    ['ALLOC', 'TASK', 'STATE', 'CPU %', 'RSS', 'RESTARTS', 'LAST EVENT'],
    rows,
    new Set([3, 4, 5]),
  );
}

function summaryLines(summary: AgentSummary): string[] {
  const rows = summary.tasks.map((task) => [
    `${task.group}/${task.task}`,
    task.state,
    task.exitCode === null ? (task.signal ?? '-') : String(task.exitCode),
    String(task.restarts),
    task.failed ? 'yes' : 'no',
    formatBytes(task.peakRssBytes),
    task.cpuSeconds.toFixed(2),
  ]);
  return renderColumns(
    ['TASK', 'STATE', 'EXIT', 'RESTARTS', 'FAILED', 'PEAK RSS', 'CPU s'],
    rows,
    new Set([2, 3, 5, 6]),
  );
}

export function startLiveView(
  agent: Agent,
  mode: OutputMode,
  out: NodeJS.WriteStream,
  refreshMs = 1000,
): LiveView {
  if (mode === 'none') return { finish() {} };

  if (mode === 'json') {
    const write = (line: object) => out.write(`${JSON.stringify(line)}\n`);
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
        cpu_percent: cpu ? Number(cpu.percent.toFixed(2)) : null,
        cpu_user_percent: cpu ? Number(cpu.userMode.toFixed(2)) : null,
        cpu_system_percent: cpu ? Number(cpu.systemMode.toFixed(2)) : null,
        rss_bytes: memory ? memory.rss : null,
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
            cpu_seconds: Number(task.cpuSeconds.toFixed(3)),
          })),
        });
      },
    };
  }

  // Table: redraw in place. `\x1b[<n>F` moves to the start of the line n rows up; `\x1b[J` clears below.
  let drawn = 0;
  const draw = () => {
    // Nothing to show until the tasks exist (the view starts before the agent does).
    if (agent.allocations.every((alloc) => alloc.tasks.size === 0)) return;
    const lines = tableLines(agent);
    out.write(`${drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ''}${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  draw();
  const timer = setInterval(draw, refreshMs);
  return {
    finish(summary) {
      clearInterval(timer);
      draw();
      out.write(`\n${summaryLines(summary).join('\n')}\n`);
    },
  };
}
