/**
 * `POST /containers/{id}/wait` that ends when the engine goes away.
 *
 * The engine sends the 200 headers at once and the body only when the container exits. dockerode's
 * `container.wait()` settles only on the response's `end` or the request's `error`, so a response cut
 * off midway (dockerd killed while we wait) leaves it pending forever. Here the body is read as a
 * stream and a close before its end rejects with `WaitInterruptedError`, which carries no HTTP status
 * and so reads as an engine failure (retried with backoff by the driver).
 */
import type { IncomingMessage } from 'node:http';
import type Docker from 'dockerode';

export interface WaitAnswer {
  StatusCode?: number;
  Error?: { Message?: string } | null;
}

/** The wait's response closed before its body ended: the engine died or dropped the connection. */
export class WaitInterruptedError extends Error {
  override readonly name = 'WaitInterruptedError';
  readonly code = 'TASKPULSE_DOCKER_WAIT_INTERRUPTED';
  constructor(containerId: string, cause?: unknown) {
    super(`the engine closed the wait on container ${containerId} before answering`, { cause });
  }
}

/** docker-modem's `dial` (its types do not list `isStream` nor `abortSignal`). */
type Dial = (options: Record<string, unknown>, callback: (error: unknown, response: unknown) => void) => void;

export async function waitRequest(
  docker: Docker,
  containerId: string,
  signal: AbortSignal,
): Promise<WaitAnswer> {
  const modem = docker.modem as unknown as { dial: Dial };
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    modem.dial(
      {
        path: `/containers/${encodeURIComponent(containerId)}/wait?`,
        method: 'POST',
        isStream: true,
        abortSignal: signal,
        statusCodes: { 200: true, 400: 'bad parameter', 404: 'no such container', 500: 'server error' },
        options: {},
      },
      (error, res) => (error ? reject(error) : resolve(res as IncomingMessage)),
    );
  });
  return readAnswer(response, containerId, signal);
}

function readAnswer(
  response: IncomingMessage,
  containerId: string,
  signal: AbortSignal,
): Promise<WaitAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onAbort = () => response.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = (outcome: () => void) => {
      signal.removeEventListener('abort', onAbort);
      outcome();
    };
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () =>
      settle(() => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve(JSON.parse(text) as WaitAnswer);
        } catch (error) {
          reject(new WaitInterruptedError(containerId, error));
        }
      }),
    );
    // Node emits `error` ("aborted") or only `close` for a body cut off midway; `end` comes first
    // for a complete one, so whichever of these comes first decides.
    response.on('error', (error) =>
      settle(() => reject(signal.aborted ? signal.reason : new WaitInterruptedError(containerId, error))),
    );
    response.on('close', () =>
      settle(() => {
        if (!response.complete)
          reject(signal.aborted ? signal.reason : new WaitInterruptedError(containerId));
      }),
    );
  });
}
