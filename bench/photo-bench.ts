/**
 * The whole photo path, per photo (issue 15): poi's detectors and face-api's and Human's own pipelines on the
 * same photos, in one run, in interleaved rounds (every pipeline on every photo, round after round), each
 * pipeline's median round reported, so a background load that comes and goes hits all of them alike.
 *
 * Photos: face-api's six sample photos (1920 px wide, 3-5 faces each) and six 256x256 portraits made from
 * them here (a square around one face, twice its size, JPEG quality 90, in a temporary folder).
 *
 * - poi <detector>: createRecognizer's whole path on the file (read, decode + shrink, detect, landmarks,
 *   align, TRN), the shipped model, after start-up;
 * - face-api: its own SSD + 68 landmarks + expression net on sharp's full-size decode;
 * - Human: @vladmandic/human's face pipeline (BlazeFace, face mesh, emotion; iris, description, antispoof,
 *   liveness off) on sharp's full-size decode, models served from its package over a local HTTP server;
 * all on the same tfjs wasm backend.
 *
 *   npm run bench:photo                  (= node dist/bench/photo-bench.js [--rounds 5] [--json out.json])
 */
import { createServer } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, extname } from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import * as tf from '../src/tf.js';
import { createRecognizer, type Recognizer } from '../src/infer/recognizer.js';
import { faceApiSample, loadFaceApi, loadNet } from '../src/face/detector.js';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, json: { type: 'string' }, backend: { type: 'string' } } });
const ROUNDS = Math.max(1, Number(values.rounds ?? 5));
const require = createRequire(import.meta.url);
/** Folder of Human's models inside the installed @vladmandic/human (a dev dependency, for this bench only). */
function humanModelDir(): string {
  // the package's exports do not open package.json; its main entry lies in <package>/dist/
  return join(dirname(require.resolve('@vladmandic/human')), '..', 'models');
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const poi: Record<string, Recognizer> = {};
for (const d of ['ssd', 'tiny', 'blazeface'] as const) poi[d] = await createRecognizer({ detector: d, backend: values.backend });
const base = poi.ssd;
console.log(`poi: TRN on ${base.backend}, tfjs backend ${tf.getBackend()}`);

// the photos: 6 group photos and 6 portraits made from them
const groups = [1, 2, 3, 4, 5, 6].map((i) => faceApiSample(i));
const dir = mkdtempSync(join(tmpdir(), 'poi-photo-bench-'));
const portraits: string[] = [];
for (const g of groups) {
  const f = (await base.recognize(g))[0];
  const meta = await sharp(g).metadata();
  const side = Math.round(2 * Math.max(f.box.width, f.box.height));
  const left = Math.max(0, Math.min(meta.width! - side, Math.round(f.box.x + f.box.width / 2 - side / 2)));
  const top = Math.max(0, Math.min(meta.height! - side, Math.round(f.box.y + f.box.height / 2 - side / 2)));
  const out = join(dir, `portrait-${portraits.length + 1}.jpg`);
  await sharp(g).extract({ left, top, width: side, height: side }).resize(256, 256).jpeg({ quality: 90 }).toFile(out);
  portraits.push(out);
}

async function decodeFull(path: string): Promise<tf.Tensor3D> {
  const { data, info } = await sharp(path).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return tf.tensor3d(new Uint8Array(data.buffer, data.byteOffset, data.length), [info.height, info.width, 3], 'int32');
}

type Pipeline = { name: string; run: (path: string) => Promise<number> };
const pipelines: Pipeline[] = [];
for (const [d, r] of Object.entries(poi)) pipelines.push({ name: `poi ${d}`, run: async (p) => (await r.recognize(p)).length });

// face-api's own pipeline
{
  const fa = loadFaceApi() as unknown as {
    SsdMobilenetv1Options: new (o: object) => unknown;
    detectAllFaces(x: unknown, o: unknown): { withFaceLandmarks(): { withFaceExpressions(): Promise<unknown[]> } };
  };
  for (const n of ['ssdMobilenetv1', 'faceLandmark68Net', 'faceExpressionNet'] as const) await loadNet(loadFaceApi(), n);
  const opts = new fa.SsdMobilenetv1Options({ minConfidence: 0.5 });
  pipelines.push({
    name: 'face-api ssd+68+expression',
    run: async (p) => {
      const x = await decodeFull(p);
      try {
        return (await fa.detectAllFaces(x, opts).withFaceLandmarks().withFaceExpressions()).length;
      } finally {
        x.dispose();
      }
    },
  });
}

// Human's own face pipeline, models over a local HTTP server (its loader fetches)
let server: ReturnType<typeof createServer> | null = null;
try {
  const models = humanModelDir();
  server = createServer(async (req, res) => {
    try {
      const body = await readFile(join(models, decodeURIComponent(new URL(req.url!, 'http://x').pathname).replace(/^\/+/, '').replace(/\.\./g, '')));
      res.writeHead(200, { 'content-type': extname(req.url!) === '.json' ? 'application/json' : 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok) => server!.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  // its exports map names no subpaths (keys without './'), so the wasm build is found beside the main entry
  const H = require(join(dirname(require.resolve('@vladmandic/human')), 'human.node-wasm.js'));
  const Human = H.Human ?? H.default;
  const human = new Human({
    backend: 'wasm',
    modelBasePath: `http://127.0.0.1:${port}/`,
    debug: false,
    async: true,
    warmup: 'none',
    cacheSensitivity: 0,
    filter: { enabled: false },
    face: { enabled: true, detector: { rotation: false, maxDetected: 20, minConfidence: 0.2, return: false }, mesh: { enabled: true }, iris: { enabled: false }, description: { enabled: false }, emotion: { enabled: true }, antispoof: { enabled: false }, liveness: { enabled: false } },
    body: { enabled: false },
    hand: { enabled: false },
    object: { enabled: false },
    gesture: { enabled: false },
    segmentation: { enabled: false },
  });
  await human.load();
  if (human.tf.engine() !== tf.engine()) console.log('note: Human runs on its own copy of tfjs');
  pipelines.push({
    name: 'Human blazeface+mesh+emotion',
    run: async (p) => {
      const x = await decodeFull(p);
      try {
        const res = await human.detect(x);
        return res.face.length;
      } finally {
        x.dispose();
      }
    },
  });
} catch (e) {
  console.log(`Human not measured: ${(e as Error).message}`);
}

const sets = { 'portrait 256x256': portraits, 'group photo 1920 px': groups };
// warm-up: every pipeline on every photo once
const faces: Record<string, Record<string, number>> = {};
for (const pl of pipelines) {
  faces[pl.name] = {};
  for (const [s, list] of Object.entries(sets)) {
    let n = 0;
    for (const p of list) n += await pl.run(p);
    faces[pl.name][s] = n;
  }
}
const times: Record<string, Record<string, number[]>> = {};
for (const pl of pipelines) times[pl.name] = Object.fromEntries(Object.keys(sets).map((s) => [s, [] as number[]]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [s, list] of Object.entries(sets)) {
    for (const pl of round % 2 ? [...pipelines].reverse() : pipelines) {
      const t0 = performance.now();
      for (const p of list) await pl.run(p);
      times[pl.name][s].push((performance.now() - t0) / list.length);
    }
  }
  console.log(`  round ${round + 1}/${ROUNDS}`);
}
server?.close();

const ref = (s: string) => median(times['Human blazeface+mesh+emotion']?.[s] ?? times['face-api ssd+68+expression'][s]);
const refName = times['Human blazeface+mesh+emotion'] ? 'Human' : 'face-api';
console.log(`\nms per photo, median of ${ROUNDS} interleaved rounds (faces found in the 6 photos in brackets); x = time / ${refName}'s`);
const cols = Object.keys(sets);
console.log(`${'pipeline'.padEnd(30)} ${cols.map((c) => c.padStart(26)).join(' ')}`);
const rows: Record<string, unknown>[] = [];
for (const pl of pipelines) {
  const cells = cols.map((c) => {
    const m = median(times[pl.name][c]);
    return `${m.toFixed(0)} ms (${faces[pl.name][c]}) ${(m / ref(c)).toFixed(2)}x`.padStart(26);
  });
  console.log(`${pl.name.padEnd(30)} ${cells.join(' ')}`);
  rows.push({ pipeline: pl.name, ...Object.fromEntries(cols.map((c) => [c, { ms: median(times[pl.name][c]), faces: faces[pl.name][c], all: times[pl.name][c] }])) });
}
if (values.json) await writeFile(values.json, JSON.stringify({ rounds: ROUNDS, backend: tf.getBackend(), rows }, null, 2));
for (const r of Object.values(poi)) r.dispose();
