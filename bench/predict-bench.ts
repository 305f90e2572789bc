/**
 * Inference benchmark (issue 5), about a minute:
 *   - TRN alone on aligned 48x48 crops: faces/s at batch 1 and batch 64;
 *   - face-api's expression model (faceExpressionNet) on the same aligned faces (112x112 RGB, its input),
 *     batch 1 and 64, in the same run, and the ratio (target: TRN >= 5x faster per face);
 *   - the whole predict path (decode + detect + landmarks + align + TRN) in ms per photo, per detector;
 *   - `poi serve` requests/s on 127.0.0.1 under a bounded load (4 clients, concurrency 1, queue).
 *
 *   node dist/bench/predict-bench.js [--seconds 3] [--backend wasm] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import * as tf from '../src/tf.js';
import { createRecognizer } from '../src/infer/recognizer.js';
import { alignFace } from '../src/face/align.js';
import { FaceDetector, faceApiSample, loadFaceApi, loadNet } from '../src/face/detector.js';
import { decodePhoto } from '../src/face/image.js';
import { createPoiServer } from '../src/server/http.js';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, backend: { type: 'string' }, json: { type: 'string' } } });
const SECONDS = Number(values.seconds ?? 3);
const results: Record<string, number> = {};

/** Run `fn` repeatedly for about `seconds` (after one warm-up call); items per second. */
async function rate(items: number, fn: () => Promise<unknown>, seconds = SECONDS): Promise<number> {
  await fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    await fn();
    n++;
  }
  return (n * items) / ((performance.now() - t0) / 1000);
}

const r = await createRecognizer({ backend: values.backend });
console.log(`backend ${r.backend}, model ${r.modelDir}`);

// the same aligned faces for both models: every face in face-api's six sample photos
const det = await FaceDetector.create({ detector: 'ssd' });
const grey: Uint8Array[] = [];
const rgb112: Uint8Array[] = [];
for (let i = 1; i <= 6; i++) {
  const photo = await decodePhoto(faceApiSample(i));
  for (const f of await det.detect(photo.image.data as Uint8Array, photo.image.width, photo.image.height)) {
    grey.push(alignFace(photo.image, f.landmarks, { size: 48, channels: 1 }).pixels);
    rgb112.push(alignFace(photo.image, f.landmarks, { size: 112, channels: 3 }).pixels);
  }
}
console.log(`${grey.length} aligned faces from face-api's sample1-6.jpg`);
const batch = (src: Uint8Array[], n: number, per: number) => {
  const out = new Uint8Array(n * per);
  for (let i = 0; i < n; i++) out.set(src[i % src.length], i * per);
  return out;
};

// TRN alone
const b1 = batch(grey, 1, 48 * 48);
const b64 = batch(grey, 64, 48 * 48);
results.trnFacesPerSecB1 = await rate(1, () => r.classify(b1, 1));
results.trnFacesPerSecB64 = await rate(64, () => r.classify(b64, 64));

// face-api's expression model on the same faces
const fa = loadFaceApi();
await loadNet(fa, 'faceExpressionNet');
const fe = fa.nets.faceExpressionNet;
const t112 = rgb112.map((p) => tf.tensor3d(p, [112, 112, 3], 'int32'));
const many = Array.from({ length: 64 }, (_, i) => t112[i % t112.length]);
results.faceapiFacesPerSecB1 = await rate(1, () => fe.predictExpressions(t112[0]));
results.faceapiFacesPerSecB64 = await rate(64, () => fe.predictExpressions(many));
tf.dispose(t112);
results.speedupB1 = results.trnFacesPerSecB1 / results.faceapiFacesPerSecB1;
results.speedupB64 = results.trnFacesPerSecB64 / results.faceapiFacesPerSecB64;

// the whole predict path, per photo (files read from disk each time, as `poi predict` does)
const photos = [1, 2, 3, 4, 5, 6].map((i) => faceApiSample(i));
for (const detector of ['ssd', 'tiny'] as const) {
  const rr = detector === 'ssd' ? r : await createRecognizer({ backend: values.backend, detector });
  await rr.recognize(photos[0]);
  const t0 = performance.now();
  let n = 0;
  while (n < photos.length || performance.now() - t0 < SECONDS * 1000) {
    await rr.recognize(photos[n % photos.length]);
    n++;
    if (n >= 3 * photos.length) break;
  }
  results[`predictMsPerPhoto_${detector}`] = (performance.now() - t0) / n;
  if (rr !== r) rr.dispose();
}

// server under bounded load: 4 clients each sending the next photo as soon as the previous answer came
{
  const rs = await createRecognizer({ backend: values.backend, detector: 'tiny' });
  const srv = createPoiServer(rs, { concurrency: 1, maxQueue: 16 });
  const port = await srv.listen(0, '127.0.0.1');
  const bodies = photos.map((p) => readFileSync(p));
  const lat: number[] = [];
  let ok = 0;
  let bad = 0;
  const t0 = performance.now();
  const until = t0 + Math.max(6, 2 * SECONDS) * 1000;
  await Promise.all(
    [0, 1, 2, 3].map(async (c) => {
      let i = c;
      while (performance.now() < until) {
        const s = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}/predict`, { method: 'POST', body: bodies[i++ % bodies.length], headers: { 'content-type': 'image/jpeg' } });
        await res.arrayBuffer();
        if (res.status === 200) ok++;
        else bad++;
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  results.serverRequestsPerSec = ok / secs;
  results.serverP50Ms = lat[Math.floor(lat.length / 2)];
  results.serverP95Ms = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.95))];
  results.serverErrors = bad;
  await srv.close(5000);
  rs.dispose();
}
r.dispose();

const f = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
console.log(`
                                   batch 1      batch 64
TRN (poi), faces/s                 ${f(results.trnFacesPerSecB1).padEnd(12)} ${f(results.trnFacesPerSecB64)}
face-api faceExpressionNet, faces/s ${f(results.faceapiFacesPerSecB1).padEnd(12)}${f(results.faceapiFacesPerSecB64)}
TRN speed-up per face              ${f(results.speedupB1)}x${' '.repeat(Math.max(1, 12 - f(results.speedupB1).length))}${f(results.speedupB64)}x   (target >= 5x)

whole predict path (decode, detect, landmarks, align, TRN), ms per photo (1920 px, 1-5 faces):
  ssd detector ${f(results.predictMsPerPhoto_ssd)} ms, tiny detector ${f(results.predictMsPerPhoto_tiny)} ms
poi serve on 127.0.0.1, 4 clients, concurrency 1, tiny detector:
  ${f(results.serverRequestsPerSec)} requests/s, p50 ${f(results.serverP50Ms)} ms, p95 ${f(results.serverP95Ms)} ms, ${results.serverErrors} errors`);
if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2) + '\n');
