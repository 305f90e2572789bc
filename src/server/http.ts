/**
 * poi's HTTP API (node:http only).
 *
 *   POST /predict[?explain=1&aligned=1]   body: the image (raw bytes, any image/* or
 *                                         application/octet-stream type) or multipart/form-data with a file
 *        → 200 {width, height, faces: FaceResult[], ms}
 *   GET  /health                          → 200 {status: "ok", model, backend, detector, classes, active, queued, ...}
 *
 * Errors are JSON {error} with: 400 empty or malformed body, 404 unknown path, 405 wrong method,
 * 413 body over the limit, 415 a content type that is not an image, 422 bytes that do not decode as an
 * image, 503 queue full or shutting down (Retry-After), 504 timed out. A bad request never affects others.
 *
 * Limits: at most `concurrency` inferences run at once, `maxQueue` more wait, each request gets
 * `timeoutMs` from arrival to answer (a running inference cannot be interrupted: on timeout the client
 * gets 504 and the inference finishes in the background, still holding its slot).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Recognizer } from '../infer/recognizer.js';
import { ImageError } from '../face/image.js';
import { Limiter, QueueFullError, QueueTimeoutError } from './limiter.js';
import { firstFilePart, multipartBoundary, MultipartError } from './multipart.js';

export interface ServerOptions {
  /** Largest accepted body in bytes (default 10 MiB). */
  maxBodyBytes?: number;
  /** Inferences at once (default 1: inference already uses every core). */
  concurrency?: number;
  /** Requests allowed to wait for a slot (default 32). */
  maxQueue?: number;
  /** Milliseconds from arrival to answer, queueing included (default 30000). */
  timeoutMs?: number;
  /** Called once per request when it is answered (logging). */
  onRequest?: (entry: { method: string; url: string; status: number; ms: number }) => void;
}

export interface PoiServer {
  readonly server: Server;
  readonly limiter: Limiter;
  /** Start listening; resolves with the bound port. */
  listen(port: number, host: string): Promise<number>;
  /**
   * Stop taking requests, let those in progress and queued finish (at most `graceMs`), close the
   * sockets. Does not dispose the recognizer.
   */
  close(graceMs?: number): Promise<void>;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const IMAGE_TYPES = /^(image\/[\w.+-]+|application\/octet-stream|multipart\/form-data)(;|$)/i;

/** Read the body up to `max` bytes; a bigger one is refused with 413 (without reading it all). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      reject(new HttpError(413, `body is ${declared} bytes; the limit is ${max} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        reject(new HttpError(413, `body is over the limit of ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => reject(new HttpError(400, `request aborted: ${e.message}`)));
  });
}

function flag(v: string | null): boolean {
  return v != null && v !== '0' && v.toLowerCase() !== 'false' && v.toLowerCase() !== 'no';
}

export function createPoiServer(recognizer: Recognizer, opts: ServerOptions = {}): PoiServer {
  const maxBody = opts.maxBodyBytes ?? 10 * 1024 * 1024;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const limiter = new Limiter(opts.concurrency ?? 1, opts.maxQueue ?? 32);
  const started = Date.now();
  let closing = false;
  let served = 0;
  let failed = 0;

  async function predict(req: IncomingMessage, url: URL): Promise<unknown> {
    const type = req.headers['content-type'];
    if (type && !IMAGE_TYPES.test(type)) {
      throw new HttpError(415, `content type "${type}" is not an image: send the image bytes (image/jpeg, image/png, ..., application/octet-stream) or multipart/form-data`);
    }
    let body = await readBody(req, maxBody);
    let boundary: string | null;
    try {
      boundary = multipartBoundary(type);
      if (boundary) {
        const part = firstFilePart(body, boundary);
        if (part.contentType && !/^(image\/|application\/octet-stream)/i.test(part.contentType)) {
          throw new HttpError(415, `uploaded part "${part.filename ?? part.name}" is ${part.contentType}, not an image`);
        }
        body = part.data;
      }
    } catch (e) {
      if (e instanceof MultipartError) throw new HttpError(400, e.message);
      throw e;
    }
    if (body.length === 0) throw new HttpError(400, 'empty body: POST the image bytes');
    const explain = flag(url.searchParams.get('explain'));
    const aligned = flag(url.searchParams.get('aligned'));
    const t0 = Date.now();
    let timer: ReturnType<typeof setTimeout> | null = null;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HttpError(504, `inference timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const job = limiter.run(() => recognizer.recognizeImage(body, { explain, aligned }), timeoutMs);
      job.catch(() => {}); // a timed-out job's later failure is nobody's business
      const result = await Promise.race([job, timeout]);
      return { ...result, ms: Date.now() - t0 };
    } catch (e) {
      if (e instanceof QueueFullError) throw new HttpError(503, e.message, { 'retry-after': '1' });
      if (e instanceof QueueTimeoutError) throw new HttpError(504, `inference timed out after ${timeoutMs} ms (waiting in the queue)`);
      if (e instanceof ImageError) throw new HttpError(422, e.message.replace(/^image \(\d+ bytes\): /, 'upload: '));
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = Date.now();
    let status = 500;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname.replace(/\/+$/, '') || '/';
      if (path === '/health') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'use GET /health', { allow: 'GET, HEAD' });
        status = closing ? 503 : 200;
        send(res, status, {
          status: closing ? 'shutting down' : 'ok',
          model: recognizer.modelDir,
          backend: recognizer.backend,
          detector: recognizer.detector,
          classes: recognizer.classes,
          active: limiter.active,
          queued: limiter.queued,
          served,
          failed,
          uptimeS: Math.round((Date.now() - started) / 1000),
        });
      } else if (path === '/predict' || path === '/') {
        if (req.method !== 'POST') throw new HttpError(405, `use POST ${path} with an image body (GET /health for status)`, { allow: 'POST' });
        if (closing) throw new HttpError(503, 'server is shutting down', { 'retry-after': '1' });
        const out = await predict(req, url);
        status = 200;
        served++;
        send(res, 200, out);
      } else {
        throw new HttpError(404, `no such endpoint ${path}: POST /predict or GET /health`);
      }
    } catch (e) {
      if (e instanceof HttpError) {
        status = e.status;
      } else {
        status = 500;
        process.stderr.write(`poi serve: ${(e as Error).stack ?? e}\n`);
      }
      failed++;
      const headers = { ...(e instanceof HttpError ? e.headers : {}) };
      if (status === 413) {
        // do not read a large body we refused: answer and close the connection once the client has it
        headers.connection = 'close';
        res.on('finish', () => setTimeout(() => req.destroy(), 100).unref());
        req.resume();
      }
      send(res, status, { error: e instanceof HttpError ? e.message : `internal error: ${(e as Error).message}` }, headers);
    } finally {
      opts.onRequest?.({ method: req.method ?? '?', url: req.url ?? '', status, ms: Date.now() - t0 });
    }
  }

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  // slow or stalled uploads must not hold sockets forever
  server.requestTimeout = timeoutMs + 5000;
  server.headersTimeout = Math.min(60_000, timeoutMs + 5000);
  server.keepAliveTimeout = 5000;

  return {
    server,
    limiter,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address();
          resolve(typeof a === 'object' && a ? a.port : port);
        });
      });
    },
    async close(graceMs = timeoutMs) {
      closing = true;
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([limiter.idle(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      // answers are written; keep-alive sockets would keep close() waiting
      setTimeout(() => server.closeAllConnections(), 200).unref();
      server.closeIdleConnections();
      await closed;
    },
  };
}
