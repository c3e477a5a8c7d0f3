/**
 * A fake Docker Engine for tests: `http.createServer` on a Unix socket in a temp dir, speaking the
 * few endpoints the docker driver uses, replaying the real engine recordings in
 * `test/fixtures/docker-engine/` (a copy of the shared recordings, so the repo tests alone) with their
 * timing compressed.
 *
 * Model (each point is what the recordings show, see their README):
 * - A running container produces one sample per engine second. Samples are the recorded running
 *   frames in order (`cpu-half` or `mem-grow`, chosen by the container's command), then, for a
 *   container still running after them, continuations with the last recorded per-second deltas.
 * - Every stats stream gets the samples from when it opened; its first frame has an empty
 *   `precpu_stats`, later ones carry the previous frame's `cpu_stats` (computed per stream, which
 *   reproduces the recorded files byte for byte in content when a stream opens at the start).
 * - `mem-grow` is OOM-killed right after its 14th frame (exit 137, inspect `OOMKilled: true`).
 * - The command `sh` runs as PID 1 and ignores SIGTERM: `stop -t N` kills it after N engine seconds
 *   (exit 137); `kill` with any signal but SIGKILL is ignored.
 * - A stopped container keeps streaming zeroed frames once a second (the first one carrying the last
 *   real `cpu_stats` as `precpu_stats`); removing it ends its streams cleanly; then it answers 404.
 * - Stream responses are chunked with no `Content-Type`; headers are flushed at once.
 *
 * Faults for the next stats request(s), in order: a 500 answer, a connection reset after N frames,
 * a garbage line after N frames, or N frames then silence for a while (a stall). Pending waits can be
 * cut off after their headers (`dropWaits`), as when dockerd is killed.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/docker-engine');

export type RecordingName = 'cpu-half' | 'mem-grow';

type Json = Record<string, unknown>;

export interface Recording {
  name: RecordingName;
  /** The running frames, parsed, in order. */
  running: Json[];
  /** A fully zeroed frame (line 11 of cpu-half): the template of every frame after the exit. */
  zeroed: Json;
  /** The container exits on its own after its last running frame (mem-grow: OOM kill). */
  selfExit?: { exitCode: number; oomKilled: boolean };
  inspectRunning: Json;
  inspectExited: Json;
}

export function readFixture(name: string): string {
  return readFileSync(join(FIXTURES_DIR, name), 'utf8');
}

export function readFrames(name: string): Json[] {
  return readFixture(name)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Json);
}

const isZeroed = (frame: Json) => String(frame.read).startsWith('0001-01-01');

export function loadRecording(name: RecordingName): Recording {
  const frames = readFrames(`${name}.lifecycle.ndjson`);
  const zeroedFrames = frames.filter(isZeroed);
  const inspect = (file: string) => JSON.parse(readFixture(file)) as Json;
  return {
    name,
    running: frames.filter((frame) => !isZeroed(frame)),
    zeroed: zeroedFrames[zeroedFrames.length - 1] as Json,
    ...(name === 'mem-grow' ? { selfExit: { exitCode: 137, oomKilled: true } } : {}),
    inspectRunning: inspect('cpu-half.inspect.json'),
    inspectExited: inspect(
      name === 'mem-grow' ? 'mem-grow.inspect-exited.json' : 'cpu-half.inspect-stopped.json',
    ),
  };
}

export type StatsFault =
  /** The stats request answers 500. */
  | { kind: 'status-500' }
  /** The connection is destroyed after this many frames. */
  | { kind: 'reset'; afterFrames: number }
  /** A line that is not JSON is written after this many frames; frames go on. */
  | { kind: 'garbage'; afterFrames: number }
  /** After this many frames nothing is written for `silentMs` real ms; frames go on after. */
  | { kind: 'stall'; afterFrames: number; silentMs: number };

export interface FakeDockerEngineOptions {
  /** Engine seconds per real second: 50 turns the 1 s frame period into 20 ms. Default 50. */
  speedup?: number;
  /** Which recording a new container replays. Default: `mem-grow` for the `x="$x$x"` command. */
  recordingFor?: (create: Json) => RecordingName;
}

export interface FakeStatsStreamInfo {
  containerId: string;
  framesSent: number;
  zeroedSent: number;
  openedAt: number;
  closedAt?: number;
  endedCleanly: boolean;
}

export interface FakeContainerInfo {
  id: string;
  name: string;
  state: 'created' | 'running' | 'exited';
  recording: RecordingName;
  create: Json;
}

export interface FakeDockerEngine {
  readonly socketPath: string;
  /** Queue faults for the next stats requests (one fault per request, in order). */
  injectStatsFault(...faults: StatsFault[]): void;
  /** Every stats stream opened so far (status 200), in order. */
  readonly statsStreams: readonly FakeStatsStreamInfo[];
  /** Stats requests answered, any status. */
  readonly statsRequests: number;
  /** Stats streams still open. */
  readonly openStatsStreams: number;
  containers(): FakeContainerInfo[];
  /** The body of every `POST /containers/create`, in order (kept after the containers are removed). */
  readonly created: readonly Json[];
  /**
   * Cuts off every pending `wait` after its 200 headers, as a real engine killed with SIGKILL does
   * (the response ends without a body). Returns how many were cut.
   */
  dropWaits(): number;
  /** Stops accepting and drops every connection: the driver sees the socket refused. */
  close(): Promise<void>;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
const EMPTY_PRECPU = {
  cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
  throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
};

interface StatsStream {
  res: ServerResponse;
  info: FakeStatsStreamInfo;
  fault: StatsFault | undefined;
  previousCpu: unknown;
  previousRead: string;
  silentUntil: number;
}

interface Container {
  info: FakeContainerInfo;
  recording: Recording;
  /** Samples produced so far (index of the next running frame). */
  tick: number;
  last: Json | undefined;
  exitCode: number;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  streams: Set<StatsStream>;
  waiters: Set<ServerResponse>;
  /** Pending `stop` requests: answered when the container dies. */
  stoppers: Set<ServerResponse>;
  timers: Set<NodeJS.Timeout>;
}

/** Adds the per-second increase of every number in `now` vs `before` once more (counters go on). */
function extrapolate(now: unknown, before: unknown): unknown {
  if (typeof now === 'number' && typeof before === 'number') return now + (now - before);
  if (Array.isArray(now))
    return now.map((item, i) => extrapolate(item, (before as unknown[] | undefined)?.[i]));
  if (typeof now === 'object' && now !== null) {
    const out: Json = {};
    for (const [key, value] of Object.entries(now))
      out[key] = extrapolate(value, (before as Json | undefined)?.[key]);
    return out;
  }
  return now;
}

function nextFrame(last: Json): Json {
  const readMs = Date.parse(String(last.read));
  const gapMs = readMs - Date.parse(String(last.preread));
  return {
    ...last,
    read: new Date(readMs + (gapMs > 0 && gapMs < 5000 ? gapMs : 1000)).toISOString(),
    cpu_stats: extrapolate(last.cpu_stats, last.precpu_stats),
  };
}

function defaultRecordingFor(create: Json): RecordingName {
  const command = JSON.stringify(create.Cmd ?? []);
  return command.includes('x=\\"$x$x\\"') ? 'mem-grow' : 'cpu-half';
}

export async function startFakeDockerEngine(
  options: FakeDockerEngineOptions = {},
): Promise<FakeDockerEngine> {
  const speedup = options.speedup ?? 50;
  const recordingFor = options.recordingFor ?? defaultRecordingFor;
  const recordings = new Map<RecordingName, Recording>();
  const recording = (name: RecordingName) => {
    let found = recordings.get(name);
    if (!found) {
      found = loadRecording(name);
      recordings.set(name, found);
    }
    return found;
  };
  const dir = await mkdtemp(join(tmpdir(), 'taskpulse-fake-docker-'));
  const socketPath = join(dir, 'docker.sock');
  const containers = new Map<string, Container>();
  const faults: StatsFault[] = [];
  const created: Json[] = [];
  const statsStreams: FakeStatsStreamInfo[] = [];
  const sockets = new Set<Socket>();
  let statsRequests = 0;
  let openStatsStreams = 0;
  let closed = false;
  const version = readFixture('version.json');

  /** Engine seconds → real ms. */
  const scaled = (engineMs: number) => Math.max(1, Math.round(engineMs / speedup));
  const later = (container: Container, engineMs: number, run: () => void) => {
    const timer = setTimeout(() => {
      container.timers.delete(timer);
      run();
    }, scaled(engineMs));
    container.timers.add(timer);
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'Api-Version': '1.41',
      Server: 'Docker/20.10.24+dfsg1 (linux)',
      ...(text ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) } : {}),
    });
    res.end(text);
  };
  const noSuchContainer = (res: ServerResponse, ref: string) =>
    json(res, 404, { message: `No such container: ${ref}` });

  const findContainer = (ref: string) => {
    const byId = containers.get(ref);
    if (byId) return byId;
    for (const container of containers.values()) {
      if (container.info.name === ref || container.info.name === `/${ref}`) return container;
      if (ref.length >= 12 && container.info.id.startsWith(ref)) return container;
    }
    return undefined;
  };

  const send = (stream: StatsStream, frame: Json, zeroed: boolean) => {
    if (stream.res.writableEnded || stream.res.destroyed) return;
    if (Date.now() < stream.silentUntil) return;
    const out = {
      ...frame,
      preread: stream.previousRead,
      precpu_stats: stream.previousCpu,
    };
    stream.previousCpu = frame.cpu_stats;
    stream.previousRead = String(frame.read);
    stream.res.write(`${JSON.stringify(out)}\n`);
    stream.info.framesSent += 1;
    if (zeroed) stream.info.zeroedSent += 1;
    const fault = stream.fault;
    if (!fault || fault.kind === 'status-500' || stream.info.framesSent !== fault.afterFrames) return;
    if (fault.kind === 'reset') stream.res.socket?.destroy();
    else if (fault.kind === 'garbage') stream.res.write('{"read":"2026-11-29T05:11:1 this is not json\n');
    else stream.silentUntil = Date.now() + fault.silentMs;
  };

  const exit = (container: Container, exitCode: number, oomKilled: boolean) => {
    if (container.info.state === 'exited') return;
    container.info.state = 'exited';
    container.exitCode = exitCode;
    container.oomKilled = oomKilled;
    container.finishedAt = new Date().toISOString();
    for (const waiter of container.waiters) waiter.end(JSON.stringify({ Error: null, StatusCode: exitCode }));
    container.waiters.clear();
    for (const stopper of container.stoppers) json(stopper, 204, undefined);
    container.stoppers.clear();
  };

  /** The engine's 1 s sampler for one container. */
  const tick = (container: Container) => {
    if (!containers.has(container.info.id)) return;
    let gapMs = 1000;
    if (container.info.state === 'running') {
      const { running, selfExit } = container.recording;
      const frame =
        container.tick < running.length ? (running[container.tick] as Json) : nextFrame(container.last!);
      const next = running[container.tick + 1];
      if (next) gapMs = Date.parse(String(next.read)) - Date.parse(String(frame.read));
      container.tick += 1;
      container.last = frame;
      const out = { ...frame, id: container.info.id, name: container.info.name };
      for (const stream of container.streams) send(stream, out, false);
      // mem-grow: the OOM kill came 133 ms after the last recorded frame.
      if (selfExit && container.tick >= running.length) {
        later(container, 133, () => exit(container, selfExit.exitCode, selfExit.oomKilled));
      }
    } else if (container.info.state === 'exited') {
      const frame = { ...container.recording.zeroed, id: container.info.id, name: container.info.name };
      for (const stream of container.streams) send(stream, frame, true);
    }
    later(container, gapMs, () => tick(container));
  };

  const inspect = (container: Container): Json => {
    const running = container.info.state === 'running';
    const template =
      running || container.info.state === 'created'
        ? container.recording.inspectRunning
        : container.recording.inspectExited;
    const state = template.State as Json;
    const hostConfig = (container.info.create.HostConfig ?? {}) as Json;
    return {
      ...template,
      Id: container.info.id,
      Name: container.info.name,
      State: {
        ...state,
        Status: container.info.state,
        Running: running,
        OOMKilled: container.oomKilled,
        ExitCode: running ? 0 : container.exitCode,
        Pid: running ? 4242 : 0,
        StartedAt: container.startedAt,
        FinishedAt: container.finishedAt,
      },
      Config: {
        ...(template.Config as Json),
        Image: container.info.create.Image,
        Cmd: container.info.create.Cmd,
      },
      HostConfig: {
        ...(template.HostConfig as Json),
        Memory: hostConfig.Memory ?? 0,
        NanoCpus: hostConfig.NanoCpus ?? 0,
      },
    };
  };

  const remove = (container: Container) => {
    containers.delete(container.info.id);
    for (const timer of container.timers) clearTimeout(timer);
    container.timers.clear();
    // The real engine ends the chunked body properly: a clean end, no partial frame.
    for (const stream of container.streams) {
      stream.info.endedCleanly = true;
      stream.res.end();
    }
    container.streams.clear();
  };

  const openStats = (container: Container, url: URL, res: ServerResponse) => {
    const fault = faults.shift();
    if (fault?.kind === 'status-500') {
      return json(res, 500, { message: 'fake engine: injected server error' });
    }
    if (url.searchParams.get('stream') === 'false' || url.searchParams.get('stream') === '0') {
      const frame =
        container.info.state === 'running' && container.last ? container.last : container.recording.zeroed;
      return json(res, 200, { ...frame, id: container.info.id });
    }
    // As the real engine: chunked, no Content-Type, headers flushed before the first frame.
    res.writeHead(200, { 'Api-Version': '1.41', Server: 'Docker/20.10.24+dfsg1 (linux)' });
    res.flushHeaders();
    const info: FakeStatsStreamInfo = {
      containerId: container.info.id,
      framesSent: 0,
      zeroedSent: 0,
      openedAt: Date.now(),
      endedCleanly: false,
    };
    const stream: StatsStream = {
      res,
      info,
      fault,
      previousCpu: EMPTY_PRECPU,
      previousRead: ZERO_TIME,
      silentUntil: 0,
    };
    statsStreams.push(info);
    openStatsStreams += 1;
    container.streams.add(stream);
    res.on('close', () => {
      openStatsStreams -= 1;
      info.closedAt = Date.now();
      container.streams.delete(stream);
    });
  };

  const readBody = async (req: IncomingMessage): Promise<Json> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? (JSON.parse(text) as Json) : {};
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    const path = url.pathname.replace(/^\/v1\.\d+/, '');
    const method = req.method ?? 'GET';
    if (path === '/_ping') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      return res.end('OK');
    }
    if (path === '/version') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(version);
    }
    if (method === 'POST' && path === '/containers/create') {
      const create = await readBody(req);
      const name = `/${url.searchParams.get('name') ?? randomBytes(6).toString('hex')}`;
      if ([...containers.values()].some((c) => c.info.name === name)) {
        return json(res, 409, { message: `Conflict. The container name "${name}" is already in use` });
      }
      const id = randomBytes(32).toString('hex');
      created.push(create);
      const name_ = recordingFor(create);
      containers.set(id, {
        info: { id, name, state: 'created', recording: name_, create },
        recording: recording(name_),
        tick: 0,
        last: undefined,
        exitCode: 0,
        oomKilled: false,
        startedAt: ZERO_TIME,
        finishedAt: ZERO_TIME,
        streams: new Set(),
        waiters: new Set(),
        stoppers: new Set(),
        timers: new Set(),
      });
      return json(res, 201, { Id: id, Warnings: [] });
    }
    // Every image "exists": the fake does not model images (the driver never pulls).
    const image = /^\/images\/(.+)\/json$/.exec(path);
    if (method === 'GET' && image) {
      return json(res, 200, {
        Id: `sha256:${'0'.repeat(64)}`,
        RepoTags: [decodeURIComponent(image[1] as string)],
      });
    }
    const match = /^\/containers\/([^/]+)(?:\/(\w+))?$/.exec(path);
    if (!match) return json(res, 404, { message: 'page not found' });
    const ref = decodeURIComponent(match[1] as string);
    const action = match[2];
    if (action === 'stats') statsRequests += 1;
    const container = findContainer(ref);
    if (!container) return noSuchContainer(res, ref);
    const state = container.info.state;

    if (method === 'GET' && action === 'stats') return openStats(container, url, res);
    if (method === 'GET' && action === 'json') return json(res, 200, inspect(container));
    if (method === 'POST' && action === 'start') {
      if (state !== 'created') return json(res, 304, undefined);
      container.info.state = 'running';
      container.startedAt = new Date().toISOString();
      later(container, 1000, () => tick(container));
      return json(res, 204, undefined);
    }
    if (method === 'POST' && action === 'wait') {
      await readBody(req);
      if (state === 'exited') return json(res, 200, { Error: null, StatusCode: container.exitCode });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      container.waiters.add(res);
      res.on('close', () => container.waiters.delete(res));
      return;
    }
    if (method === 'POST' && action === 'stop') {
      if (state !== 'running') return json(res, 304, undefined);
      // sh as PID 1 ignores SIGTERM: the engine waits t seconds, then SIGKILL (exit 137).
      const graceS = Number(url.searchParams.get('t') ?? 10);
      container.stoppers.add(res);
      later(container, graceS * 1000, () => exit(container, 137, false));
      return;
    }
    if (method === 'POST' && action === 'kill') {
      if (state !== 'running') {
        return json(res, 409, { message: `Container ${container.info.id} is not running` });
      }
      const signal = url.searchParams.get('signal') ?? 'SIGKILL';
      if (signal === 'SIGKILL' || signal === 'KILL' || signal === '9') exit(container, 137, false);
      return json(res, 204, undefined);
    }
    if (method === 'DELETE' && action === undefined) {
      const force = url.searchParams.get('force') === 'true' || url.searchParams.get('force') === '1';
      if (state === 'running' && !force) {
        return json(res, 409, {
          message: `You cannot remove a running container ${container.info.id}. Stop the container before attempting removal or force remove`,
        });
      }
      if (state === 'running') exit(container, 137, false);
      // The real engine ended the stats stream 17-18 ms after the rm was issued.
      setTimeout(() => {
        remove(container);
        json(res, 204, undefined);
      }, scaled(18));
      return;
    }
    return json(res, 404, { message: 'page not found' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { message: String(error) });
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolveListen());
  });

  return {
    socketPath,
    injectStatsFault: (...more) => {
      faults.push(...more);
    },
    statsStreams,
    get statsRequests() {
      return statsRequests;
    },
    get openStatsStreams() {
      return openStatsStreams;
    },
    containers: () => [...containers.values()].map((container) => ({ ...container.info })),
    created,
    dropWaits() {
      let dropped = 0;
      for (const container of containers.values()) {
        for (const waiter of container.waiters) {
          waiter.socket?.destroy();
          dropped += 1;
        }
        container.waiters.clear();
      }
      return dropped;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const container of containers.values()) {
        for (const timer of container.timers) clearTimeout(timer);
      }
      containers.clear();
      const stopped = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      for (const socket of sockets) socket.destroy();
      await stopped;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
