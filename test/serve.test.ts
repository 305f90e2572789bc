/** The HTTP API: concurrent requests, limits, bad uploads, and `poi serve`'s clean shutdown on SIGTERM. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { request } from 'node:http';
import { createRecognizer, type Recognizer } from '../src/infer/recognizer.js';
import { createPoiServer, type PoiServer } from '../src/server/http.js';
import { faceApiSample } from '../src/face/detector.js';

let r: Recognizer;
let srv: PoiServer;
let base = '';
const PHOTO = readFileSync(faceApiSample(1));
const MAX_BODY = 400 * 1024;

before(async () => {
  // tiny detector: these tests are about the server, not detection quality
  r = await createRecognizer({ detector: 'tiny' });
  srv = createPoiServer(r, { maxBodyBytes: MAX_BODY, concurrency: 1, maxQueue: 8, timeoutMs: 60_000 });
  const port = await srv.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${port}`;
});
after(async () => {
  await srv.close(1000);
  r.dispose();
});

async function post(body: Uint8Array | string, type = 'image/jpeg', path = '/predict') {
  const res = await fetch(base + path, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers: { 'content-type': type } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test('GET /health', async () => {
  const res = await fetch(base + '/health');
  assert.equal(res.status, 200);
  const h = (await res.json()) as Record<string, unknown>;
  assert.equal(h.status, 'ok');
  assert.equal(h.detector, 'tiny');
  // TRN's runtime: onnxruntime by default where it loads, else tfjs
  assert.equal(h.backend, r.backend);
  assert.match(String(h.backend), /^(tfjs-\w+|onnxruntime)$/);
  assert.equal((h.classes as string[]).length, 8);
});

test('concurrent POSTs are queued and all answered, the same as the API', async () => {
  const direct = await r.recognizeImage(PHOTO);
  const answers = await Promise.all([0, 1, 2, 3].map(() => post(PHOTO)));
  for (const a of answers) {
    assert.equal(a.status, 200);
    assert.equal(a.json.width, 1920);
    assert.deepEqual(a.json.faces, JSON.parse(JSON.stringify(direct.faces)));
    assert.equal(typeof a.json.ms, 'number');
  }
  assert.equal(srv.limiter.active, 0);
});

test('bad requests get a 4xx with a clear message, and the server keeps serving', async () => {
  const big = await post(new Uint8Array(MAX_BODY + 1));
  assert.equal(big.status, 413);
  assert.match(String(big.json.error), /limit is 409600 bytes/);
  const corrupt = await post(PHOTO.subarray(0, 3000));
  assert.equal(corrupt.status, 422);
  assert.match(String(corrupt.json.error), /upload: cannot decode image/);
  const notImage = await post(new TextEncoder().encode('hello'), 'application/octet-stream');
  assert.equal(notImage.status, 422);
  assert.match(String(notImage.json.error), /not an image/);
  const text = await post('{"a":1}', 'application/json');
  assert.equal(text.status, 415);
  const empty = await post(new Uint8Array(0));
  assert.equal(empty.status, 400);
  assert.equal((await fetch(base + '/predict')).status, 405);
  assert.equal((await fetch(base + '/nope')).status, 404);
  // still fine afterwards, with multipart this time
  const form = new FormData();
  form.append('image', new Blob([PHOTO], { type: 'image/jpeg' }), 'people.jpg');
  const res = await fetch(base + '/predict?explain=1', { method: 'POST', body: form });
  assert.equal(res.status, 200);
  const out = (await res.json()) as { faces: { regions: unknown[] }[] };
  assert.ok(out.faces.length >= 2);
  assert.equal(out.faces[0].regions.length, 4);
});

test('an oversized upload without content-length (chunked) is cut off at the limit', async () => {
  const status = await new Promise<number>((done, fail) => {
    const req = request(base + '/predict', { method: 'POST', headers: { 'content-type': 'image/jpeg', 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on('error', fail);
    for (let i = 0; i < 5; i++) req.write(new Uint8Array(100 * 1024));
    req.end();
  });
  assert.equal(status, 413);
  assert.equal((await fetch(base + '/health')).status, 200);
});

test('a full queue answers 503 with Retry-After', async () => {
  const tight = createPoiServer(r, { concurrency: 1, maxQueue: 0 });
  const port = await tight.listen(0, '127.0.0.1');
  try {
    const send = () => fetch(`http://127.0.0.1:${port}/predict`, { method: 'POST', body: PHOTO, headers: { 'content-type': 'image/jpeg' } });
    const [a, b] = await Promise.all([send(), send()]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 503]);
    const busy = a.status === 503 ? a : b;
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.match(((await busy.json()) as { error: string }).error, /busy/);
  } finally {
    await tight.close(1000);
  }
});

test('poi serve: SIGTERM lets the request in flight finish, then exits 0', async () => {
  const child = spawn(process.execPath, [resolve('bin/poi.js'), 'serve', '--port', '0', '--detector', 'tiny', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const url = await new Promise<string>((done, fail) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const m = /listening on (http:\/\/\S+?) /.exec(out);
      if (m) done(m[1]);
    });
    child.on('exit', () => fail(new Error(`poi serve exited early: ${stderr}`)));
  });
  const inflight = fetch(url + '/predict', { method: 'POST', body: PHOTO, headers: { 'content-type': 'image/jpeg' } });
  await new Promise((r) => setTimeout(r, 150));
  child.kill('SIGTERM');
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.ok(((await res.json()) as { faces: unknown[] }).faces.length >= 2);
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /SIGTERM/);
  assert.match(stderr, /stopped/);
});
