/**
 * The hardened HTTP server under the agent's API (node:http): a route table, token checks, bounded
 * bodies and headers, JSON for every error, and admission control. The routes are data, so another
 * part (the web UI of #18, a push stream) adds its own without touching the dispatch.
 *
 * - A token, when set, is taken from `Authorization: Bearer <t>` or `X-Nomad-Token: <t>`, compared in
 *   constant time; a route marked `public` (the health check) needs none.
 * - Paths are matched as sent, never normalised or decoded: `..` or `%2F` can only miss a route.
 * - Connections: at most `maxConnections`. A socket that sent nothing within `firstByteTimeoutMs` is
 *   closed (408); when full, a new connection evicts the oldest socket with no request in flight
 *   (first one never authenticated), and only when every socket is busy with an authenticated
 *   request does the newcomer get a JSON 503, never a reset. So unauthenticated or silent sockets
 *   cannot starve authenticated requests.
 * - Browsers: on loopback without a token, a request must name the agent by a loopback name or
 *   address in `Host`, so a page of another site whose name resolves to 127.0.0.1 (DNS rebinding)
 *   reads nothing; and a write (anything but GET/HEAD) whose `Origin` is another site is refused,
 *   token or not (a cross-site form or `no-cors` fetch needs no preflight).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../runtime/logger.js';
import { hostnameOf, isLoopback } from './loopback.js';
import { toJson } from './nomad-json.js';

export interface HttpLimits {
  /** Largest request body. Default 16 KiB. */
  maxBodyBytes: number;
  /** Largest request line plus headers (a longer URL or header answers 431). Default 16 KiB. */
  maxHeaderBytes: number;
  /** A new connection must send its first byte within this. Default 2 s. */
  firstByteTimeoutMs: number;
  /** Time to receive the headers, and the whole request. Defaults 10 s and 30 s. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Idle keep-alive connections close after this. Default 5 s. */
  keepAliveTimeoutMs: number;
  /** How often node checks the two request timeouts (its own default, 30 s, would triple them). */
  timeoutCheckMs: number;
  /** Open connections at most. Default 256. */
  maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxBodyBytes: 16 * 1024,
  maxHeaderBytes: 16 * 1024,
  firstByteTimeoutMs: 2_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  timeoutCheckMs: 1_000,
  maxConnections: 256,
};

/** An error answered as JSON `{"error": message, "status": status}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface RouteContext {
  /** The path pattern's groups. */
  match: RegExpMatchArray;
  /** Only the query is meaningful (`searchParams`): the path is matched as sent. */
  url: URL;
  request: IncomingMessage;
  response: ServerResponse;
  /** The JSON body of a POST or PUT (`{}` when empty). */
  body: unknown;
  /** Sends JSON, indented when the request asked for `?pretty`. */
  json(status: number, body: unknown, headers?: Record<string, string>): void;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: RegExp;
  /** Answered without a token (load balancers, probes). */
  public?: boolean;
  handler(context: RouteContext): Promise<void> | void;
}

export interface HttpServerOptions {
  routes: readonly Route[];
  logger: Logger;
  port: number;
  host: string;
  token?: string;
  limits?: Partial<HttpLimits>;
}

export interface HttpServer {
  /** Resolves with the base URL, e.g. `http://127.0.0.1:4646`. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Whether a browser's `Origin` (`null` for opaque ones) is the site the request's `Host` names. */
function isOrigin(origin: string, host: string | undefined): boolean {
  try {
    return new URL(origin).host === host?.toLowerCase();
  } catch {
    return false;
  }
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** The token a request carries (Bearer or X-Nomad-Token), or ''. */
function presentedToken(request: IncomingMessage): string {
  const bearer = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')?.[1];
  if (bearer !== undefined) return bearer;
  const nomad = request.headers['x-nomad-token'];
  return typeof nomad === 'string' ? nomad.trim() : '';
}

/** Echoed values (paths, ids) are cut: a 10 KiB id is not worth sending back. */
export const cut = (text: string) => (text.length > 80 ? `${text.slice(0, 77)}…` : text);

/** `?pretty` (any value but `false` or `0`), as Nomad's. */
const wantsPretty = (url: URL) => {
  const value = url.searchParams.get('pretty');
  return value !== null && value !== 'false' && value !== '0';
};

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  pretty = false,
) {
  const compact = toJson(body);
  const text = pretty ? `${JSON.stringify(JSON.parse(compact), null, 2)}\n` : compact;
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/** A whole response written on a raw socket (before or outside node's HTTP parser), then closed. */
function rawJsonResponse(status: number, reason: string, message: string, extra = ''): string {
  const body = toJson({ error: message, status });
  return (
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`
  );
}

interface Connection {
  socket: Socket;
  /** Requests whose response is not finished. */
  inFlight: number;
  /** Made a request that passed the token check. */
  authenticated: boolean;
}

async function readJsonBody(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new HttpError(413, `request body too large (at most ${maxBytes} bytes)`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { routes, logger } = options;
  const expectedToken = options.token === undefined ? undefined : digest(options.token);
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const tooLarge = `request body too large (at most ${limits.maxBodyBytes} bytes)`;
  const connections = new Map<Socket, Connection>();
  // DNS rebinding can only aim at a server that trusts its loopback address instead of a token.
  const guardsHostName = expectedToken === undefined && isLoopback(options.host);

  const handle = async (request: IncomingMessage, response: ServerResponse, connection?: Connection) => {
    const target = request.url ?? '';
    // Origin-form only (`/path?query`): an absolute URL or `*` names no route of ours.
    if (!target.startsWith('/')) throw new HttpError(400, `bad request target: ${cut(target)}`);
    const host = request.headers.host;
    if (host === undefined && request.httpVersion !== '1.0') throw new HttpError(400, 'missing Host header');
    if (guardsHostName && host !== undefined && !isLoopback(hostnameOf(host) ?? '')) {
      throw new HttpError(
        403,
        `Host ${JSON.stringify(cut(host))} is not a loopback name: without a token this agent answers only ` +
          'requests for localhost or 127.0.0.1 (set a token to serve other names)',
      );
    }
    const origin = request.headers.origin;
    if (
      origin !== undefined &&
      request.method !== 'GET' &&
      request.method !== 'HEAD' &&
      !isOrigin(origin, host)
    ) {
      throw new HttpError(
        403,
        `cross-site request refused: Origin ${JSON.stringify(cut(origin))} is not this agent`,
      );
    }
    const declared = Number(request.headers['content-length'] ?? 0);
    if (!(declared <= limits.maxBodyBytes)) throw new HttpError(413, tooLarge);
    // The path as sent: the URL parser would resolve `..` and `%2e%2e`, so it only reads the query.
    const query = target.indexOf('?');
    const pathname = query < 0 ? target : target.slice(0, query);
    const url = new URL(`http://localhost/${query < 0 ? '' : target.slice(query)}`);
    const onPath = routes.filter((route) => route.path.test(pathname));
    const isPublic = onPath.length > 0 && onPath.every((route) => route.public);
    if (expectedToken && !isPublic) {
      if (!timingSafeEqual(digest(presentedToken(request)), expectedToken)) {
        response.setHeader('connection', 'close');
        throw new HttpError(401, 'missing or wrong token', { 'www-authenticate': 'Bearer' });
      }
    }
    if (connection && !isPublic) connection.authenticated = true;
    if (onPath.length === 0) throw new HttpError(404, `no such endpoint: ${cut(pathname)}`);
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const route = onPath.find((candidate) => candidate.method === method);
    if (!route) {
      const allowed: string[] = [...new Set(onPath.map((candidate) => candidate.method))];
      if (allowed.includes('GET')) allowed.splice(allowed.indexOf('GET') + 1, 0, 'HEAD');
      throw new HttpError(405, `method ${request.method ?? '?'} not allowed on ${cut(pathname)}`, {
        allow: allowed.join(', '),
      });
    }
    const body =
      route.method === 'POST' || route.method === 'PUT'
        ? await readJsonBody(request, limits.maxBodyBytes)
        : undefined;
    const pretty = wantsPretty(url);
    await route.handler({
      match: pathname.match(route.path) as RegExpMatchArray,
      url,
      request,
      response,
      body,
      json: (status, value, headers) => sendJson(response, status, value, headers, pretty),
    });
  };

  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      connectionsCheckingInterval: limits.timeoutCheckMs,
      // Checked in `handle`, so a missing Host gets the JSON 400 every other error gets.
      requireHostHeader: false,
    },
    (request, response) => {
      const connection = connections.get(request.socket as Socket);
      if (connection) {
        connection.inFlight += 1;
        response.once('close', () => {
          connection.inFlight -= 1;
        });
      }
      // A body the route does not read is bounded, and its connection is not reused.
      const hasBody =
        request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length']) > 0;
      if (hasBody) {
        response.setHeader('connection', 'close');
        let received = 0;
        request.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received <= limits.maxBodyBytes) return;
          if (!response.headersSent) sendJson(response, 413, { error: tooLarge, status: 413 });
          request.destroy();
        });
      }
      handle(request, response, connection).catch((error: unknown) => {
        if (response.headersSent) {
          // Mid-stream (a log follow): nothing JSON can be said any more.
          if (!(error instanceof HttpError))
            logger.error({ error: String(error), url: request.url }, 'HTTP stream failed');
          response.destroy();
          return;
        }
        if (error instanceof HttpError) {
          sendJson(response, error.status, { error: error.message, status: error.status }, error.headers);
          return;
        }
        logger.error({ error: String(error), url: request.url }, 'HTTP request failed');
        sendJson(response, 500, { error: 'internal error', status: 500 });
      });
    },
  );

  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;

  /** The connection to close for a newcomer: idle ones, never authenticated first, oldest first. */
  const evictable = (): Connection | undefined => {
    let idle: Connection | undefined;
    for (const connection of connections.values()) {
      if (connection.inFlight > 0) continue;
      if (!connection.authenticated) return connection;
      idle ??= connection;
    }
    return idle;
  };

  // Runs after node's own connection listener: the socket is already wired to the HTTP parser.
  server.on('connection', (socket: Socket) => {
    if (connections.size >= limits.maxConnections) {
      const victim = evictable();
      if (!victim) {
        // Full of authenticated requests in flight: say so, and read (then drop) what the client
        // sends, so closing does not reset the connection before it reads the answer.
        socket.end(
          rawJsonResponse(
            503,
            'Service Unavailable',
            `too many connections (at most ${limits.maxConnections})`,
            'retry-after: 1\r\n',
          ),
        );
        socket.removeAllListeners('data');
        socket.on('data', () => {});
        socket.setTimeout(limits.firstByteTimeoutMs, () => socket.destroy());
        return;
      }
      connections.delete(victim.socket);
      victim.socket.destroy();
    }
    const connection: Connection = { socket, inFlight: 0, authenticated: false };
    connections.set(socket, connection);
    const firstByte = setTimeout(() => {
      if (socket.bytesRead > 0) return;
      socket.end(rawJsonResponse(408, 'Request Timeout', 'nothing received: request timeout'));
      socket.destroySoon();
    }, limits.firstByteTimeoutMs);
    firstByte.unref();
    socket.once('close', () => {
      clearTimeout(firstByte);
      connections.delete(socket);
    });
  });

  // CONNECT is no method of ours (node would otherwise just close the socket).
  server.on('connect', (request: IncomingMessage, socket: Duplex) => {
    socket.end(
      rawJsonResponse(405, 'Method Not Allowed', `method CONNECT not allowed on ${cut(request.url ?? '')}`),
    );
  });

  // Malformed requests, oversized headers and slow clients get a JSON answer too, then the socket closes.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const [status, reason, message] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'request headers too large']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'request timeout']
          : [400, 'Bad Request', 'bad request'];
    socket.end(rawJsonResponse(status, reason, message));
  });

  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          const { port } = server.address() as AddressInfo;
          const host = options.host;
          resolve(`http://${host.includes(':') ? `[${host}]` : host}:${port}`);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        // Keep-alive connections and log follows would hold `close` open.
        server.closeAllConnections();
        for (const { socket } of connections.values()) socket.destroy();
      }),
  };
}
