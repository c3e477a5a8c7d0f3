/**
 * `run` passes the command's stdout and stderr through to its own, as `time` does, while it is
 * still measured: the command writes its log files (rotated like any task's) and this follows
 * them, writing each chunk to the live view as it appears.
 */
import type { Agent } from '../agent/create-agent.js';
import { readTaskLog } from '../agent/log-reader.js';
import { type LogStream, taskLogPaths } from '../drivers/exec/task-logs.js';
import type { LiveView } from './live-view.js';

/** Short, so the output keeps up with the command; the files are only stat-ed when idle. */
const POLL_MS = 50;

/** Follows every exec task's output; resolves once each task is final and its output all written. */
export function passThroughOutput(
  agent: Agent,
  logDir: string,
  view: Pick<LiveView, 'print'>,
): Promise<void> {
  const stop = new AbortController();
  const follows = agent.allocations.flatMap((alloc) =>
    [...alloc.tasks.values()]
      .filter((task) => task.config.driver === 'exec')
      .flatMap((task) =>
        (['stdout', 'stderr'] as LogStream[]).map(async (stream) => {
          const chunks = readTaskLog(taskLogPaths(logDir, alloc.id, task.name), stream, {
            origin: 'start',
            offset: 0,
            follow: true,
            ended: () => task.runner.actor.getSnapshot().status !== 'active',
            pollMs: POLL_MS,
            signal: stop.signal,
          });
          for await (const chunk of chunks) view.print(chunk.data.toString('utf8'), stream);
        }),
      ),
  );
  return Promise.all(follows).then(() => undefined);
}
