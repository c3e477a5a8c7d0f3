/**
 * taskpulse's own output (the live view and JSON lines on stdout, log lines on stderr) when the reader
 * goes away: `run … | head -1`, a closed terminal, `2>&1 >/dev/null | head -c1`. Node ignores SIGPIPE,
 * so a write to a closed pipe is an EPIPE `error` event, which would crash the process if nobody
 * listened. A watched output marks itself closed on its first write error and drops what follows;
 * what the process then does is the caller's choice (`run` stops its command, the agent goes on).
 */
import type { EventEmitter } from 'node:events';

export interface WatchedOutput {
  /** Set on the first write error: the error's code (`EPIPE`, `EIO`, `ENOSPC`…). */
  readonly closedBy: string | undefined;
  /** Runs once, at the first write error (at once if it already happened). */
  onClosed(listener: (code: string) => void): void;
}

const watched = new WeakMap<EventEmitter, WatchedOutput>();

/** Watches a stream (or a pino destination) for write errors; one watcher per stream. */
export function watchOutput(stream: EventEmitter): WatchedOutput {
  const existing = watched.get(stream);
  if (existing) return existing;
  let closedBy: string | undefined;
  const listeners: ((code: string) => void)[] = [];
  // A bare `{ write }` (a test's fake terminal) has no errors to watch.
  if (typeof stream.on !== 'function') return { closedBy: undefined, onClosed() {} };
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (closedBy !== undefined) return;
    closedBy = error.code ?? 'EIO';
    for (const listener of listeners.splice(0)) listener(closedBy);
  });
  const output: WatchedOutput = {
    get closedBy() {
      return closedBy;
    },
    onClosed(listener) {
      if (closedBy !== undefined) listener(closedBy);
      else listeners.push(listener);
    },
  };
  watched.set(stream, output);
  return output;
}

/** A writable that drops every write once its stream is closed. */
export function guardedWriter(stream: NodeJS.WritableStream & EventEmitter): (text: string) => void {
  const output = watchOutput(stream);
  return (text) => {
    if (output.closedBy === undefined) stream.write(text);
  };
}
