/**
 * `GET /v1/client/fs/logs/:alloc_id`, shaped as Nomad's: `task`, `type` (stdout | stderr), `follow`,
 * `origin` (start | end) and `offset` (bytes), `plain` (raw bytes rather than JSON frames); and
 * taskpulse's `lines=N` (start at the last N lines, for `taskpulse logs --tail N`). Frames are
 * Nomad's `{"File", "Offset", "Data" (base64)}` objects, one after the other. Each chunk is written
 * only after the previous one drained, so a slow client never makes the agent buffer a log.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { type LogStream, taskLogPaths } from '../drivers/exec/task-logs.js';
import type { Agent } from './create-agent.js';
import { cut, HttpError, type Route } from './http-server.js';
import { readTaskLog } from './log-reader.js';

const integer = (name: string, value: string | null, min: number): number | undefined => {
  if (value === null) return undefined;
  if (!/^\d{1,15}$/.test(value) || Number(value) < min) {
    throw new HttpError(
      400,
      `${name} must be an integer of at least ${min} (got ${cut(JSON.stringify(value))})`,
    );
  }
  return Number(value);
};

const flag = (value: string | null) => value !== null && value !== 'false' && value !== '0';

/** Writes and waits for the client to take it; false when the client went away. */
async function send(response: ServerResponse, data: string | Buffer): Promise<boolean> {
  if (response.destroyed) return false;
  if (response.write(data)) return true;
  const [drained] = await Promise.race([
    once(response, 'drain').then(() => [true]),
    once(response, 'close').then(() => [false]),
  ]);
  return drained === true;
}

export function logRoutes(agent: Pick<Agent, 'allocation'>, logDir: string): Route[] {
  return [
    {
      method: 'GET',
      path: /^\/v1\/client\/fs\/logs\/([^/]+)$/,
      handler: async ({ match: [, id], url, request, response }) => {
        const alloc = agent.allocation(id ?? '');
        if (!alloc) throw new HttpError(404, `unknown allocation id: ${cut(id ?? '')}`);
        const query = url.searchParams;
        const name = query.get('task');
        if (!name) throw new HttpError(400, 'task is required (?task=<name>)');
        const config = alloc.group.tasks.find((task) => task.name === name);
        if (!config)
          throw new HttpError(404, `unknown task ${cut(JSON.stringify(name))} in allocation ${alloc.id}`);
        const type = query.get('type') ?? 'stdout';
        if (type !== 'stdout' && type !== 'stderr') {
          throw new HttpError(400, `type must be stdout or stderr (got ${cut(JSON.stringify(type))})`);
        }
        const origin = query.get('origin') ?? 'start';
        if (origin !== 'start' && origin !== 'end') {
          throw new HttpError(400, `origin must be start or end (got ${cut(JSON.stringify(origin))})`);
        }
        if (config.driver !== 'exec') {
          throw new HttpError(
            404,
            `task ${name} runs on the ${config.driver} driver: taskpulse keeps the output of exec tasks only`,
          );
        }
        const offset = integer('offset', query.get('offset'), 0) ?? 0;
        const lines = integer('lines', query.get('lines'), 0);
        const plain = flag(query.get('plain'));
        const follow = flag(query.get('follow'));
        const task = alloc.tasks.get(name);

        const stop = new AbortController();
        response.once('close', () => stop.abort());
        request.once('close', () => {
          if (!response.writableFinished) stop.abort();
        });
        response.writeHead(200, {
          'content-type': plain ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
          'cache-control': 'no-store',
        });
        response.flushHeaders();
        for await (const chunk of readTaskLog(taskLogPaths(logDir, alloc.id, name), type as LogStream, {
          origin,
          offset,
          ...(lines === undefined ? {} : { lines }),
          follow,
          // A task that has not started yet will; one whose runner is final will write no more.
          ended: () => task !== undefined && task.runner.actor.getSnapshot().status !== 'active',
          signal: stop.signal,
        })) {
          const data = plain
            ? chunk.data
            : JSON.stringify({
                File: `alloc/logs/${chunk.file}`,
                Offset: chunk.offset,
                Data: chunk.data.toString('base64'),
              });
          if (!(await send(response, data))) break;
        }
        if (!response.destroyed) response.end();
      },
    },
  ];
}
