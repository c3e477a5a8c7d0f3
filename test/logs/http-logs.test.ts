/**
 * The log endpoint's handler against a log directory: Nomad's query parameters, JSON frames or plain
 * bytes, clear 400/404s, and backpressure: a client that does not take a chunk gets no next one.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Agent } from '../../src/agent/create-agent.js';
import { logRoutes } from '../../src/agent/http-logs.js';
import type { HttpError } from '../../src/agent/http-server.js';
import { taskLogPaths } from '../../src/drivers/exec/task-logs.js';

let root: string;
afterEach(() => rmSync(root, { recursive: true, force: true }));

const ALLOC = 'alloc-1';
const agent = {
  allocation: (id: string) =>
    id === ALLOC
      ? {
          id: ALLOC,
          tasks: new Map(),
          group: {
            tasks: [
              { name: 'web', driver: 'exec' },
              { name: 'box', driver: 'docker' },
            ],
          },
        }
      : undefined,
} as unknown as Pick<Agent, 'allocation'>;

/** A response that takes nothing until told (`write` answers false until `drain`). */
function slowResponse() {
  const emitter = new EventEmitter();
  const written: (string | Buffer)[] = [];
  const response = Object.assign(emitter, {
    destroyed: false,
    writableFinished: false,
    headers: {} as Record<string, unknown>,
    writeHead: vi.fn((_status: number, headers: Record<string, unknown>) =>
      Object.assign(response.headers, headers),
    ),
    flushHeaders: vi.fn(),
    write: vi.fn((data: string | Buffer) => {
      written.push(data);
      return false;
    }),
    end: vi.fn(() => {
      response.writableFinished = true;
    }),
  });
  return { response, written };
}

async function serve(query: string, response = slowResponse().response) {
  const [route] = logRoutes(agent, root);
  const request = new EventEmitter();
  return route!.handler({
    match: ['', ALLOC] as unknown as RegExpMatchArray,
    url: new URL(`http://localhost/?${query}`),
    request: request as unknown as IncomingMessage,
    response: response as unknown as ServerResponse,
    body: undefined,
    json: () => {},
  });
}

function setup() {
  root = mkdtempSync(join(tmpdir(), 'taskpulse-http-logs-'));
  const paths = taskLogPaths(root, ALLOC, 'web');
  mkdirSync(paths.dir, { recursive: true });
  return paths;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

describe('GET /v1/client/fs/logs/:alloc_id', () => {
  it('writes the next chunk only after the client drained the last one', async () => {
    const paths = setup();
    writeFileSync(paths.live('stdout'), Buffer.alloc(5 * 64 * 1024, 'x'));
    const { response, written } = slowResponse();
    const handling = serve('task=web&plain=true', response);
    await settle();
    expect(written).toHaveLength(1);
    await settle();
    expect(written, 'still one: no drain yet').toHaveLength(1);
    response.emit('drain');
    await settle();
    expect(written).toHaveLength(2);
    response.emit('close'); // the client goes away: the handler stops reading
    await handling;
    expect(written).toHaveLength(2);
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it("sends Nomad's JSON frames by default, from the stream and offset asked", async () => {
    const paths = setup();
    writeFileSync(paths.live('stderr'), 'oops\n');
    const { response, written } = slowResponse();
    response.write.mockImplementation((data: string | Buffer) => {
      written.push(data);
      return true;
    });
    await serve('task=web&type=stderr&origin=end&offset=3', response);
    expect(written.map(String)).toEqual([
      JSON.stringify({
        File: 'alloc/logs/web.stderr',
        Offset: 2,
        Data: Buffer.from('ps\n').toString('base64'),
      }),
    ]);
    expect(response.end).toHaveBeenCalled();
  });

  it('answers 400 for a bad query and 404 for unknown tasks or tasks without log files', async () => {
    setup();
    const failure = (query: string) =>
      serve(query).then(
        () => undefined,
        (error: HttpError) => [error.status, error.message],
      );
    expect(await failure('type=stdout')).toEqual([400, 'task is required (?task=<name>)']);
    expect(await failure('task=web&type=both')).toEqual([400, 'type must be stdout or stderr (got "both")']);
    expect(await failure('task=web&origin=middle')).toEqual([
      400,
      'origin must be start or end (got "middle")',
    ]);
    expect(await failure('task=web&offset=-1')).toEqual([
      400,
      'offset must be an integer of at least 0 (got "-1")',
    ]);
    expect(await failure('task=nope')).toEqual([404, `unknown task "nope" in allocation ${ALLOC}`]);
    expect(await failure('task=box')).toEqual([
      404,
      'task box runs on the docker driver: taskpulse keeps the output of exec tasks only',
    ]);
  });
});
