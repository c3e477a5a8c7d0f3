/**
 * The page's one connection to the agent: `GET /ui/stream` (Server-Sent Events) read with `fetch`,
 * because an `EventSource` cannot send the token. A 401 asks for the token; it is kept in
 * sessionStorage (this tab only, gone when it closes). Any other end reconnects after a pause, and
 * the fresh `snapshot` replaces everything the page had.
 */
import type { LiveMessage, LiveSnapshot } from '../src/agent/ui/live-state.js';

const TOKEN_KEY = 'taskpulse-token';

export interface StreamHandlers {
  snapshot(snapshot: LiveSnapshot): void;
  update(messages: LiveMessage[]): void;
  status(status: 'connecting' | 'live' | 'offline' | 'token', detail?: string): void;
}

export const storedToken = () => sessionStorage.getItem(TOKEN_KEY) ?? undefined;
export const storeToken = (token: string) => sessionStorage.setItem(TOKEN_KEY, token);
export const forgetToken = () => sessionStorage.removeItem(TOKEN_KEY);

/** Splits the SSE text into events; returns what is left over (an incomplete event). */
function dispatch(buffer: string, handlers: StreamHandlers): string {
  let rest = buffer;
  for (let end = rest.indexOf('\n\n'); end >= 0; end = rest.indexOf('\n\n')) {
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length === 0) continue; // a keep-alive comment
    const value: unknown = JSON.parse(data.join('\n'));
    if (event === 'snapshot') handlers.snapshot(value as LiveSnapshot);
    else if (event === 'update') handlers.update(value as LiveMessage[]);
  }
  return rest;
}

export function connect(handlers: StreamHandlers): { reconnect(): void } {
  let controller: AbortController | undefined;
  let retry: number | undefined;

  const open = async () => {
    window.clearTimeout(retry);
    controller?.abort();
    const current = new AbortController();
    controller = current;
    handlers.status('connecting');
    const token = storedToken();
    try {
      const response = await fetch('/ui/stream', {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        signal: current.signal,
        cache: 'no-store',
      });
      if (response.status === 401) {
        if (token) forgetToken();
        handlers.status('token', token ? 'wrong token' : undefined);
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      handlers.status('live');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = dispatch(buffer + value, handlers);
      }
      throw new Error('the agent closed the stream');
    } catch (error) {
      if (current.signal.aborted) return;
      handlers.status('offline', String(error instanceof Error ? error.message : error));
      retry = window.setTimeout(open, 2000);
    }
  };
  void open();
  return { reconnect: () => void open() };
}
