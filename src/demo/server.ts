/**
 * The demo's HTTP server (node:http, static files only: all inference runs in the browser).
 *
 *   /                   the built page (dist-web/)
 *   /models/poi/        the poi model folder (model.json, weights.bin)
 *   /models/face-api/   face-api's detector and landmark weights (from node_modules/@vladmandic/face-api/model)
 *   /models/blazeface/  BlazeFace's weights (poi's own models/blazeface/: blazeface.json, .bin, LICENSE.md)
 *   /wasm/              tfjs-backend-wasm's .wasm binaries
 *
 * Everything the page needs comes from here, so it works offline. Every response is cross-origin isolated
 * (CROSS_ORIGIN_ISOLATION: `Cross-Origin-Opener-Policy: same-origin` + `Cross-Origin-Embedder-Policy:
 * require-corp`), which is what lets the page use SharedArrayBuffer and so tfjs's threaded wasm build; a page
 * hosted elsewhere needs the same two headers (and `application/wasm` for the .wasm files).
 */
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { PACKAGE_ROOT } from './site.js';

const require = createRequire(import.meta.url);

export interface DemoServerOptions {
  /** The built page (index.html + assets). */
  siteDir: string;
  /** poi model folder. */
  modelDir: string;
  /** face-api weights folder (default: the one in its npm package). */
  faceApiDir?: string;
  /** BlazeFace's weights folder (default: poi's models/blazeface/). */
  blazefaceDir?: string;
  /** Folder with tfjs-backend-wasm's .wasm files (default: the npm package's dist/). */
  wasmDir?: string;
  port?: number;
  host?: string;
}

export interface DemoServer {
  server: Server;
  /** e.g. http://127.0.0.1:8080/ */
  url: string;
  close(): Promise<void>;
}

/**
 * The headers that make the page cross-origin isolated (`crossOriginIsolated` true in the browser), so it may
 * share memory with workers: without them tfjs-backend-wasm falls back to its single-threaded build.
 */
export const CROSS_ORIGIN_ISOLATION: Readonly<Record<string, string>> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.md': 'text/markdown; charset=utf-8',
};

export function faceApiModelDir(): string {
  return join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
}

export function tfjsWasmDir(): string {
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
}

/** `rel` inside `root`, or null when it would escape it. */
function inside(root: string, rel: string): string | null {
  const p = normalize(join(root, rel));
  const r = resolve(root);
  return p === r || p.startsWith(r + sep) ? p : null;
}

export async function startDemoServer(opts: DemoServerOptions): Promise<DemoServer> {
  const modelDir = resolve(opts.modelDir);
  for (const f of ['model.json', 'weights.bin']) {
    if (!existsSync(join(modelDir, f))) throw new Error(`${modelDir}: not a poi model folder (no ${f})`);
  }
  if (!existsSync(join(opts.siteDir, 'index.html'))) throw new Error(`${opts.siteDir}: the demo page is not built (no index.html)`);
  const mounts: [prefix: string, dir: string][] = [
    ['/models/poi/', modelDir],
    ['/models/face-api/', opts.faceApiDir ?? faceApiModelDir()],
    ['/models/blazeface/', opts.blazefaceDir ?? join(PACKAGE_ROOT, 'models', 'blazeface')],
    ['/wasm/', opts.wasmDir ?? tfjsWasmDir()],
    ['/', resolve(opts.siteDir)],
  ];

  const send = (res: ServerResponse, code: number, text: string) => {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(text + '\n');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('cross-origin-resource-policy', 'same-origin');
    for (const [k, v] of Object.entries(CROSS_ORIGIN_ISOLATION)) res.setHeader(k, v);
    res.setHeader('x-content-type-options', 'nosniff');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, `${req.method} not allowed`);
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(res, 400, 'bad URL');
    }
    if (path.includes('\0')) return send(res, 400, 'bad URL');
    if (path.endsWith('/')) path += 'index.html';
    const mount = mounts.find(([prefix]) => path.startsWith(prefix))!;
    const file = inside(mount[1], path.slice(mount[0].length));
    if (!file) return send(res, 403, 'forbidden');
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) return send(res, 404, `not found: ${path}`);
    const ext = extname(file).toLowerCase();
    res.writeHead(200, {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'content-length': st.size,
      // hashed assets never change; the page, the models and the wasm may (a retrained model, a rebuild)
      'cache-control': path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      'last-modified': st.mtime.toUTCString(),
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) send(res, 500, (e as Error).message);
      else res.destroy();
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'EADDRINUSE' ? new Error(`port ${opts.port} on ${host} is in use (pick another with --port, or 0 for any free port)`) : e),
    );
    server.listen(opts.port ?? 8080, host, () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    url: `http://${shownHost}:${port}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
