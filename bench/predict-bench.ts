/**
 * Inference benchmark (issue 5), about a minute:
 *   - TRN alone on aligned crops at the model's input (size, channels, alignSize from its model.json), faces/s at batch 1 and batch 64, on BOTH runtimes the recognizer
 *     has: tfjs (wasm) and onnxruntime-node (the default when it loads);
 *   - face-api's expression model (faceExpressionNet, tfjs wasm) on the same aligned faces (112x112 RGB, its
 *     input), batch 1 and 64, in the same run, and the ratios (target: TRN >= 5x faster per face);
 *     the three are measured in interleaved rounds and each takes its median round, so a background load that
 *     comes and goes hits them alike;
 *   - the whole predict path (decode + detect + landmarks + align + TRN) in ms per photo, per detector,
 *     with the default runtime;
 *   - `poi serve` requests/s on 127.0.0.1 under a bounded load (4 clients, concurrency 1, queue).
 *
 *   node dist/bench/predict-bench.js [--seconds 3] [--rounds 3] [--backend wasm] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import * as tf from '../src/tf.js';
import { createRecognizer, type Recognizer } from '../src/infer/recognizer.js';
import { alignFace } from '../src/face/align.js';
import { FaceDetector, faceApiSample, loadFaceApi, loadNet } from '../src/face/detector.js';
import { decodePhoto } from '../src/face/image.js';
import { createPoiServer } from '../src/server/http.js';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' }, backend: { type: 'string' }, json: { type: 'string' } } });
const SECONDS = Number(values.seconds ?? 3);
const ROUNDS = Math.max(1, Number(values.rounds ?? 3));
const results: Record<string, number | string> = {};
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

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

// the default recognizer (runtime auto: onnxruntime when it loads) for the whole path and the server;
// TRN alone on each runtime explicitly
const r = await createRecognizer({ backend: values.backend });
const trn: { name: string; rec: Recognizer }[] = [{ name: 'tfjs', rec: await createRecognizer({ backend: values.backend, runtime: 'tfjs' }) }];
try {
  trn.push({ name: 'onnx', rec: await createRecognizer({ backend: values.backend, runtime: 'onnx' }) });
} catch (e) {
  console.log(`onnxruntime not measured: ${(e as Error).message}`);
}
console.log(`default runtime ${r.backend}; TRN measured on ${trn.map((t) => t.rec.backend).join(' and ')}; model ${r.modelDir}`);
results.defaultRuntime = r.backend;

// the same aligned faces for both models: every face in face-api's six sample photos
const det = await FaceDetector.create({ detector: 'ssd' });
const spec = r.manifest.input;
const per = spec.width * spec.height * spec.channels;
const crops: Uint8Array[] = [];
const rgb112: Uint8Array[] = [];
for (let i = 1; i <= 6; i++) {
  const photo = await decodePhoto(faceApiSample(i));
  for (const f of await det.detect(photo.image.data as Uint8Array, photo.image.width, photo.image.height)) {
    crops.push(alignFace(photo.image, f.landmarks, { size: spec.width, channels: spec.channels, alignSize: spec.alignSize }).pixels);
    rgb112.push(alignFace(photo.image, f.landmarks, { size: 112, channels: 3 }).pixels);
  }
}
console.log(`${crops.length} aligned faces from face-api's sample1-6.jpg, ${spec.width}x${spec.height}x${spec.channels} for poi`);
const batch = (src: Uint8Array[], n: number, per: number) => {
  const out = new Uint8Array(n * per);
  for (let i = 0; i < n; i++) out.set(src[i % src.length], i * per);
  return out;
};

// TRN alone (each runtime) and face-api's expression model on the same faces, in interleaved rounds
const b1 = batch(crops, 1, per);
const b64 = batch(crops, 64, per);
const fa = loadFaceApi();
await loadNet(fa, 'faceExpressionNet');
const fe = fa.nets.faceExpressionNet;
const t112 = rgb112.map((p) => tf.tensor3d(p, [112, 112, 3], 'int32'));
const many = Array.from({ length: 64 }, (_, i) => t112[i % t112.length]);
const cases: { key: string; items: number; fn: () => Promise<unknown> }[] = [
  ...trn.flatMap(({ name, rec }) => [
    { key: `trn_${name}_B1`, items: 1, fn: () => rec.classify(b1, 1) },
    { key: `trn_${name}_B64`, items: 64, fn: () => rec.classify(b64, 64) },
  ]),
  { key: 'faceapi_B1', items: 1, fn: () => fe.predictExpressions(t112[0]) },
  { key: 'faceapi_B64', items: 64, fn: () => fe.predictExpressions(many) },
];
const perRound: Record<string, number[]> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) (perRound[c.key] ??= []).push(await rate(c.items, c.fn, SECONDS / ROUNDS));
}
for (const c of cases) results[`${c.key}_facesPerSec`] = median(perRound[c.key]);
tf.dispose(t112);
for (const { name } of trn) {
  for (const b of ['B1', 'B64']) {
    results[`speedup_${name}_${b}`] = (results[`trn_${name}_${b}_facesPerSec`] as number) / (results[`faceapi_${b}_facesPerSec`] as number);
  }
}

// the whole predict path, per photo (files read from disk each time, as `poi predict` does)
const photos = [1, 2, 3, 4, 5, 6].map((i) => faceApiSample(i));
// decoding alone (sharp: decode and shrink to 1280 px): part of the path below
{
  await decodePhoto(photos[0]);
  const t0 = performance.now();
  for (const p of photos) await decodePhoto(p);
  results.decodeMsPerPhoto = (performance.now() - t0) / photos.length;
}
for (const detector of ['ssd', 'tiny', 'blazeface'] as const) {
  const rr = detector === r.detector ? r : await createRecognizer({ backend: values.backend, detector });
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
for (const t of trn) t.rec.dispose();

const f = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const n = (k: string) => results[k] as number;
const row = (label: string, a: string, b: string) => `${label.padEnd(50)}${a.padStart(9)}${b.padStart(11)}`;
const lines = [row('', 'batch 1', 'batch 64')];
for (const { name, rec } of trn) lines.push(row(`TRN (poi) on ${rec.backend}, faces/s`, f(n(`trn_${name}_B1_facesPerSec`)), f(n(`trn_${name}_B64_facesPerSec`))));
lines.push(row('face-api faceExpressionNet (tfjs-wasm), faces/s', f(n('faceapi_B1_facesPerSec')), f(n('faceapi_B64_facesPerSec'))));
for (const { name, rec } of trn) {
  const b1x = n(`speedup_${name}_B1`);
  const b64x = n(`speedup_${name}_B64`);
  const verdict = b1x >= 5 && b64x >= 5 ? 'meets' : b1x >= 5 || b64x >= 5 ? 'meets at one batch size' : 'misses';
  lines.push(row(`TRN on ${rec.backend} speed-up per face`, `${f(b1x)}x`, `${f(b64x)}x`) + `   target >= 5x: ${verdict}`);
}
console.log(`
${lines.join('\n')}
(medians of ${ROUNDS} interleaved rounds of ${f(SECONDS / ROUNDS)} s each)

whole predict path (decode, detect, landmarks, align, TRN on ${results.defaultRuntime}), ms per photo (1920 px, 1-5 faces):
  ssd detector ${f(n('predictMsPerPhoto_ssd'))} ms, tiny ${f(n('predictMsPerPhoto_tiny'))} ms, blazeface ${f(n('predictMsPerPhoto_blazeface'))} ms; of which decoding and shrinking ${f(n('decodeMsPerPhoto'))} ms
poi serve on 127.0.0.1, 4 clients, concurrency 1, tiny detector:
  ${f(n('serverRequestsPerSec'))} requests/s, p50 ${f(n('serverP50Ms'))} ms, p95 ${f(n('serverP95Ms'))} ms, ${n('serverErrors')} errors`);
if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2) + '\n');
