/**
 * `servePlugin(driver)`: turns any TaskDriver into a go-plugin compatible plugin process. It checks
 * the magic cookie, picks the protocol version, serves the driver service, gRPC health ("plugin"),
 * go-plugin's controller (Shutdown) and broker (StartStream accepted and held) on a Unix socket,
 * then prints the handshake line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerDuplexStream, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import type { TaskDriver } from '../drivers/contract.js';
import { type Logger, silentLogger } from '../runtime/logger.js';
import { exitToProto, handleFromProto, handleToProto, specFromProto, usageToProto } from './codec.js';
import { NotImplementedError, PluginLaunchError, toStatusError } from './errors.js';
import { grpc } from './grpc.js';
import { EXIT_WITH_HOST_ENV, formatHandshakeLine, negotiate } from './handshake.js';
import { CHANNEL_OPTIONS, protocol, STREAM_OPEN_HEADER, SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';

export interface ServePluginOptions {
  /** Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Where the handshake line goes. Default `process.stdout`. */
  out?: { write(line: string): unknown };
  /** Default: silent. */
  logger?: Logger;
  /** Where the socket directory is made. Default `os.tmpdir()`. */
  socketDir?: string;
  /** Samples wait up to this long to be written with others (0: each at once). Default 20 ms. */
  coalesceMs?: number;
}

export interface PluginServer {
  /** The socket path. */
  readonly address: string;
  readonly protocolVersion: number;
  /** Resolves when the server has shut down (Shutdown, SIGTERM, the host gone, or `shutdown()`). */
  readonly closed: Promise<void>;
  shutdown(): Promise<void>;
}

type Message = Record<string, unknown>;

/** How long a sample may wait to be sent with others (docs/plugins.md, docs/benchmarks.md). */
export const DEFAULT_COALESCE_MS = 20;

/**
 * Samples of all streams written together, at most every `coalesceMs`: one socket write and one
 * wakeup of the host for a batch rather than one per sample, which is most of what a sample costs
 * over the RPC when a thousand streams each send one a second.
 */
function createWriteBatch(coalesceMs: number) {
  let pending: [ServerWritableStream<Message, Message>, Message][] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const batch = pending;
    pending = [];
    for (const [call, message] of batch) if (!call.cancelled && call.writable) call.write(message);
  };
  return {
    push(call: ServerWritableStream<Message, Message>, message: Message) {
      if (coalesceMs <= 0) {
        call.write(message);
        return;
      }
      pending.push([call, message]);
      timer ??= setTimeout(flush, coalesceMs);
    },
    /** Sends what waits for `call` before its stream ends. */
    flushFor(call: ServerWritableStream<Message, Message>) {
      if (pending.some(([waiting]) => waiting === call)) flush();
    },
    close() {
      clearTimeout(timer);
      timer = undefined;
      pending = [];
    },
  };
}

function unary<Req extends Message>(
  logger: Logger,
  method: string,
  run: (request: Req, signal: AbortSignal) => Promise<Message>,
) {
  return (call: ServerUnaryCall<Req, Message>, callback: sendUnaryData<Message>) => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort(new Error('cancelled by the host')));
    run(call.request, controller.signal).then(
      (response) => callback(null, response),
      (error: unknown) => {
        if (controller.signal.aborted) return;
        logger.debug({ method, error: String(error) }, 'driver call failed');
        callback(toStatusError(error));
      },
    );
  };
}

export async function servePlugin(
  driver: TaskDriver,
  options: ServePluginOptions = {},
): Promise<PluginServer> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? silentLogger();
  const negotiated = negotiate(env, SUPPORTED_PROTOCOL_VERSIONS);
  if (!negotiated.ok) throw new PluginLaunchError(negotiated.message);

  const proto = protocol();
  const server = new grpc.Server(CHANNEL_OPTIONS);
  const writes = createWriteBatch(options.coalesceMs ?? DEFAULT_COALESCE_MS);
  const streams = new Set<AbortController>();
  const need = <K extends 'signalTask' | 'inspectTask' | 'recoverTask'>(name: K, method: string) => {
    const fn = driver[name];
    if (!fn) throw new NotImplementedError(method);
    return fn.bind(driver) as NonNullable<TaskDriver[K]>;
  };

  server.addService(proto.driver.service, {
    Capabilities: unary(logger, 'Capabilities', async () => ({
      name: driver.name,
      stats: driver.capabilities.stats,
      sendSignals: driver.capabilities.sendSignals,
      fsIsolation: driver.capabilities.fsIsolation,
      recover: typeof driver.recoverTask === 'function',
    })),
    StartTask: unary(logger, 'StartTask', async (req: Message) => ({
      handle: handleToProto(await driver.startTask(specFromProto(req.task as Message))),
    })),
    WaitTask: unary(logger, 'WaitTask', async (req: Message, signal) => ({
      result: exitToProto(await driver.waitTask(req.taskId as string, signal)),
    })),
    StopTask: unary(logger, 'StopTask', async (req: Message) => {
      await driver.stopTask(req.taskId as string, {
        timeoutMs: req.timeoutMs as number,
        ...(req.signal ? { signal: req.signal as NodeJS.Signals } : {}),
      });
      return {};
    }),
    DestroyTask: unary(logger, 'DestroyTask', async (req: Message) => {
      await driver.destroyTask(req.taskId as string, { force: req.force as boolean });
      return {};
    }),
    SignalTask: unary(logger, 'SignalTask', async (req: Message) => {
      await need('signalTask', 'SignalTask')(req.taskId as string, req.signal as NodeJS.Signals);
      return {};
    }),
    InspectTask: unary(logger, 'InspectTask', async (req: Message) => {
      const status = await need('inspectTask', 'InspectTask')(req.taskId as string);
      return {
        handle: handleToProto(status.handle),
        state: status.state,
        exit: status.exit ? exitToProto(status.exit) : null,
      };
    }),
    RecoverTask: unary(logger, 'RecoverTask', async (req: Message) => {
      await need('recoverTask', 'RecoverTask')(
        specFromProto(req.task as Message),
        handleFromProto(req.handle as Message),
      );
      return {};
    }),
    TaskStats: (call: ServerWritableStream<Message, Message>) => {
      const controller = new AbortController();
      streams.add(controller);
      call.on('cancelled', () => controller.abort());
      const { taskId, intervalMs } = call.request as { taskId: string; intervalMs: number };
      (async () => {
        const samples = await driver.taskStats(taskId, intervalMs, controller.signal);
        const header = new grpc.Metadata();
        header.set(STREAM_OPEN_HEADER, '1');
        call.sendMetadata(header);
        for await (const sample of samples) {
          if (controller.signal.aborted) break;
          writes.push(call, { stats: usageToProto(sample) });
        }
      })()
        .then(
          () => {
            if (!controller.signal.aborted) call.end();
          },
          (error: unknown) => {
            if (controller.signal.aborted) return; // the host cancelled: a clean end, nothing to send
            logger.debug({ method: 'TaskStats', task: taskId, error: String(error) }, 'stats stream failed');
            call.emit('error', toStatusError(error));
          },
        )
        .finally(() => streams.delete(controller));
    },
  });

  server.addService(proto.health.service, {
    Check: (call: ServerUnaryCall<Message, Message>, callback: sendUnaryData<Message>) => {
      const service = call.request.service as string;
      callback(null, { status: service === '' || service === 'plugin' ? 'SERVING' : 'SERVICE_UNKNOWN' });
    },
  });

  let shuttingDown: Promise<void> | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  const dir = mkdtempSync(join(options.socketDir ?? tmpdir(), 'taskpulse-plugin-'));
  const address = join(dir, 'plugin.sock');

  const shutdown = () => {
    shuttingDown ??= (async () => {
      logger.debug({}, 'plugin shutting down');
      for (const stream of streams) stream.abort();
      writes.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      rmSync(dir, { recursive: true, force: true });
      resolveClosed();
    })();
    return shuttingDown;
  };

  server.addService(proto.controller.service, {
    // Reply first, then shut down (go-plugin's host waits for the reply, then for the exit).
    Shutdown: (_call: ServerUnaryCall<Message, Message>, callback: sendUnaryData<Message>) => {
      callback(null, {});
      setImmediate(() => void shutdown());
    },
  });
  server.addService(proto.broker.service, {
    // Accepted and held open: this plugin offers no brokered connections.
    StartStream: (call: ServerDuplexStream<Message, Message>) => {
      call.on('data', () => {});
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  });

  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${address}`, grpc.ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  if (env[EXIT_WITH_HOST_ENV] !== '1' && !options.out) {
    // Meant to outlive its host: once the host is gone our stdout pipe has no reader, and a write
    // to it must not kill the plugin (Node turns EPIPE into an error event, unhandled = a crash).
    process.stdout.on('error', () => {});
  }
  if (env[EXIT_WITH_HOST_ENV] === '1') {
    // A taskpulse host holds our stdin; when it closes the host is gone, and so is our reason to run.
    process.stdin.on('end', () => void shutdown());
    process.stdin.on('error', () => void shutdown());
    process.stdin.resume();
  }
  (options.out ?? process.stdout).write(formatHandshakeLine(negotiated.version, address));
  logger.debug({ address, version: negotiated.version }, 'plugin serving');
  return { address, protocolVersion: negotiated.version, closed, shutdown };
}
