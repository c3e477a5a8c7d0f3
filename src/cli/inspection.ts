/**
 * `--inspect` and `--record-inspection`: the agent's actor system seen from outside.
 * - `--inspect`: `@statelyai/inspect/server` runs a local HTTP + WebSocket relay whose page embeds the
 *   online Stately inspector; a WebSocket inspector sends every runner's (and stats hook's) events to it.
 * - `--record-inspection file.jsonl`: the same Stately inspection events, one JSON object a line, through
 *   a `createInspector` adapter that writes a file (offline; replay or diff them later).
 * `@statelyai/inspect` is an optional peer dependency, imported only when one of the two is on.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { StatelyInspectionEvent } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import type { Logger } from '../runtime/logger.js';
import { importOptional } from '../runtime/optional-package.js';
import { CliError, EXIT } from './errors.js';

export const DEFAULT_INSPECT_PORT = 8080;

export interface InspectionOptions {
  /** Port of the inspector relay; undefined: no live inspector. */
  inspectPort?: number;
  /** File to record inspection events to (JSONL); undefined: no recording. */
  recordFile?: string;
  logger: Logger;
}

export interface Inspection {
  /** Pass to `createAgent({ inspect })`; undefined when neither option is on. */
  observer: Observer<InspectionEvent> | undefined;
  /** The page to open in a browser, when the relay runs. */
  url: string | undefined;
  /** Flushes the recording and stops the relay. */
  close(): Promise<void>;
}

/** JSON that survives cycles and functions (snapshots hold actor refs). */
function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === 'function') return { type: item.name || 'function' };
    if (typeof item === 'bigint') return item.toString();
    if (typeof item === 'object' && item !== null) {
      if (seen.has(item)) return '[Circular]';
      seen.add(item);
    }
    return item;
  });
}

/** Fails fast with a clear message, where the relay would crash the process on EADDRINUSE. */
function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(`inspector port ${port} is not free (${error.code ?? error.message})`)),
    );
    probe.listen(port, () => probe.close(() => resolve()));
  });
}

export async function startInspection(options: InspectionOptions): Promise<Inspection> {
  const observers: Observer<InspectionEvent>[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  let url: string | undefined;

  if (options.inspectPort !== undefined) {
    const port = options.inspectPort;
    const [{ createWebSocketInspector }, { createInspectorServer }] = await Promise.all([
      importOptional('@statelyai/inspect', '--inspect', () => import('@statelyai/inspect')),
      importOptional('@statelyai/inspect', '--inspect', () => import('@statelyai/inspect/server')),
    ]);
    await assertPortFree(port);
    // Note: @statelyai/inspect 0.7.2's relay listens on every interface (it takes no host option).
    const server = createInspectorServer({ port, autoOpen: false });
    const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${port}` });
    observers.push(inspector.inspect);
    url = `http://localhost:${port}`;
    closers.push(() => {
      inspector.stop();
      server.stop();
    });
    options.logger.info({ url }, 'Stately inspector relay running: open the URL in a browser');
  }

  if (options.recordFile !== undefined) {
    const { createInspector } = await importOptional(
      '@statelyai/inspect',
      '--record-inspection',
      () => import('@statelyai/inspect'),
    );
    const path = options.recordFile;
    // Opened now, before anything starts: a bad path is a usage error, not a crash among running tasks.
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'w');
    } catch (error) {
      for (const close of closers) await close();
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new CliError(`--record-inspection ${path}: cannot open for writing (${code})`, EXIT.usage);
    }
    const file: WriteStream = createWriteStream(path, { fd: handle });
    let count = 0;
    let failed = false;
    // A later write error (disk full) ends the recording, never the agent.
    file.on('error', (error: NodeJS.ErrnoException) => {
      if (failed) return;
      failed = true;
      options.logger.warn({ file: path, error: error.code ?? error.message }, 'inspection recording stopped');
    });
    const recorder = createInspector({
      send(event: StatelyInspectionEvent) {
        if (failed) return;
        count += 1;
        file.write(`${safeJson(event)}\n`);
      },
    });
    observers.push(recorder.inspect);
    closers.push(async () => {
      // The inspector converts events on a zero timer: let the last ones through before closing.
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (!failed) await new Promise<void>((resolve) => file.end(resolve));
      else file.destroy();
      options.logger.info({ file: options.recordFile, events: count }, 'inspection events recorded');
    });
  }

  return {
    observer:
      observers.length === 0
        ? undefined
        : {
            next: (event) => {
              for (const observer of observers) observer.next?.(event);
            },
          },
    url,
    async close() {
      for (const close of closers) await close();
    },
  };
}
