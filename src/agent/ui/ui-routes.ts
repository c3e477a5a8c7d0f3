/**
 * The web UI's routes on the agent's HTTP server (`createAgent({ http: { ui: true } })`):
 *
 * - `GET /ui`: the page; `GET /ui/assets/<file>`: its script and style sheet, built by `npm run build`
 *   (`scripts/build-ui.ts`) into `dist/src/agent/ui/assets/` with content hashes in their names, so
 *   they are cached for good and the page itself never (`no-cache`). Both are public: they hold no
 *   data, and the page must load to ask for the token. A Content-Security-Policy allows only the
 *   agent's own script and style (no inline script, nothing from elsewhere).
 * - `GET /ui/stream`: Server-Sent Events, behind the token like the API. First a `snapshot` event
 *   (every allocation and task, the chart window, the machine graphs), then `update` events with
 *   the changes since the last one, and a comment every 15 s so proxies keep the stream open. The
 *   page reads it with `fetch` (an `EventSource` cannot send the token header).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { HttpError, type Route } from '../http-server.js';
import type { LiveMessage, LiveState } from './live-state.js';

export interface UiRoutesOptions {
  live: LiveState;
  /** Where the built assets are. Default: beside this module once built, else `dist/` of the checkout. */
  assetsDir?: string;
  /** Pages streaming at once, at most. Default 32. */
  maxStreams?: number;
  /** A page whose unread output passes this is dropped (it reconnects and gets a fresh snapshot). */
  maxBufferedBytes?: number;
  keepAliveMs?: number;
}

export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * Found from the package root (by the package's own name), so it is the same from src/ (tests),
 * dist/src/ (the library) and dist/cli/ (the bundled CLI).
 */
function defaultAssetsDir(): string {
  const root = dirname(createRequire(import.meta.url).resolve('taskpulse/package.json'));
  return join(root, 'dist', 'src', 'agent', 'ui', 'assets');
}

interface Asset {
  body: Buffer;
  type: string;
}

/** The built files, read once (they are small) and served from memory. */
function loadAssets(dir: string): Map<string, Asset> | undefined {
  const manifestPath = `${dir}/manifest.json`;
  if (!existsSync(manifestPath)) return undefined;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files: string[] };
  const assets = new Map<string, Asset>();
  for (const file of manifest.files) {
    const extension = file.slice(file.lastIndexOf('.'));
    assets.set(file, {
      body: readFileSync(`${dir}/${file}`),
      type: TYPES[extension] ?? 'application/octet-stream',
    });
  }
  return assets;
}

export function uiRoutes(options: UiRoutesOptions): Route[] {
  const { live } = options;
  const maxStreams = options.maxStreams ?? 32;
  const maxBuffered = options.maxBufferedBytes ?? 4 * 2 ** 20;
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  let assets: Map<string, Asset> | undefined;
  const built = () => {
    assets ??= loadAssets(options.assetsDir ?? defaultAssetsDir());
    if (!assets) throw new HttpError(503, 'the web UI is not built: run npm run build');
    return assets;
  };
  let streams = 0;

  const page: Route['handler'] = ({ request, response }) => {
    const index = built().get('index.html');
    if (!index) throw new HttpError(503, 'the web UI is not built: run npm run build');
    response.writeHead(200, {
      'content-type': index.type,
      'content-length': index.body.length,
      'cache-control': 'no-cache',
      ...SECURITY_HEADERS,
    });
    response.end(request.method === 'HEAD' ? undefined : index.body);
  };

  return [
    { method: 'GET', path: /^\/ui\/?$/, public: true, handler: page },
    {
      method: 'GET',
      // Names as the build writes them: no slashes, no dots but the extension's.
      path: /^\/ui\/assets\/([A-Za-z0-9_-]+\.[a-z]+)$/,
      public: true,
      handler: ({ match: [, name], request, response }) => {
        const asset = name === 'index.html' ? undefined : built().get(name ?? '');
        if (!asset) throw new HttpError(404, `no such asset: ${name}`);
        response.writeHead(200, {
          'content-type': asset.type,
          'content-length': asset.body.length,
          // Content-hashed names: a new build has new names.
          'cache-control': 'public, max-age=31536000, immutable',
          ...SECURITY_HEADERS,
        });
        response.end(request.method === 'HEAD' ? undefined : asset.body);
      },
    },
    {
      method: 'GET',
      path: /^\/ui\/stream$/,
      handler: ({ request, response }) => {
        if (streams >= maxStreams) {
          throw new HttpError(503, `too many UI streams (at most ${maxStreams})`, { 'retry-after': '5' });
        }
        streams += 1;
        response.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          'x-accel-buffering': 'no',
          'x-content-type-options': 'nosniff',
        });
        if (request.method === 'HEAD') {
          streams -= 1;
          response.end();
          return;
        }
        response.socket?.setNoDelay(true);
        const write = (event: string, data: unknown) => {
          response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        };
        write('snapshot', live.snapshot());
        const unsubscribe = live.subscribe((messages: LiveMessage[]) => {
          // A page that stopped reading is dropped rather than buffered without bound.
          if (response.writableLength > maxBuffered) return response.destroy();
          write('update', messages);
        });
        const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), keepAliveMs);
        keepAlive.unref();
        response.once('close', () => {
          streams -= 1;
          clearInterval(keepAlive);
          unsubscribe();
        });
      },
    },
  ];
}
