/**
 * BlazeFace's decoding (anchors, boxes, keypoints, weighted NMS) against a recording of what poi's Node
 * BlazeFace gave before that code moved into the browser-safe src/face/blazeface-net.ts, which the page
 * runs too: test/fixtures/blazeface-golden.json holds the boxes, scores and keypoints of the detector on
 * face-api's six sample photos, a 640x480 webcam-sized window and a small image (three shrink paths: box
 * average + bilinear, bilinear up), recorded by this file with POI_WRITE_BLAZEFACE_GOLDEN=1.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { initBackend } from '../src/backend/index.js';
import { faceApiSample } from '../src/face/detector.js';
import { decodePhoto } from '../src/face/image.js';
import { BlazeFace } from '../src/face/blazeface.js';
import { BLAZEFACE_ROW, BLAZEFACE_TEMPLATE, blazefaceAnchors, boxAverageRgb, blazefaceFace, blazefaceGeometry, BlazeFaceNet, decodeBlazeFace } from '../src/face/blazeface-net.js';
import type { RawImage } from '../src/face/align.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GOLDEN = join(ROOT, 'test', 'fixtures', 'blazeface-golden.json');
const WRITE = process.env.POI_WRITE_BLAZEFACE_GOLDEN === '1';

interface Case {
  name: string;
  image: RawImage;
  opts?: { minScore?: number; maxFaces?: number };
}

interface Recorded {
  name: string;
  width: number;
  height: number;
  faces: { score: number; box: [number, number, number, number]; keypoints: [number, number][] }[];
}

async function cases(): Promise<Case[]> {
  const out: Case[] = [];
  for (const n of [1, 2, 3, 4, 5, 6]) out.push({ name: `sample${n}.jpg`, image: (await decodePhoto(faceApiSample(n), { shrink: 'js' })).image });
  // the webcam clip's first frame (bench/webcam-clip.ts): sample1 at 0.7, a 640x480 window
  const { data } = await sharp(faceApiSample(1)).resize(1344, 896).removeAlpha().extract({ left: 545, top: 40, width: 640, height: 480 }).raw().toBuffer({ resolveWithObject: true });
  const frame: RawImage = { data: new Uint8Array(data), width: 640, height: 480, channels: 3 };
  out.push({ name: 'webcam frame 640x480', image: frame });
  out.push({ name: 'webcam frame, minScore 0.3, maxFaces 1', image: frame, opts: { minScore: 0.3, maxFaces: 1 } });
  const small = await sharp(Buffer.from(frame.data), { raw: { width: 640, height: 480, channels: 3 } }).resize(200, 150).raw().toBuffer();
  out.push({ name: 'small 200x150 (scaled up)', image: { data: new Uint8Array(small), width: 200, height: 150, channels: 3 } });
  return out;
}

const r4 = (v: number) => Math.round(v * 1e4) / 1e4;

let net: BlazeFace;
before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
  net = await BlazeFace.load();
});

test('BlazeFace (the shared decoding) gives the boxes, scores and keypoints recorded before the refactor', async () => {
  const got: Recorded[] = [];
  for (const c of await cases()) {
    const found = await net.detect(c.image, c.opts);
    got.push({
      name: c.name,
      width: c.image.width,
      height: c.image.height,
      faces: found.map((f) => ({
        score: r4(f.score),
        box: [r4(f.box.x), r4(f.box.y), r4(f.box.width), r4(f.box.height)],
        keypoints: f.keypoints.map(([x, y]) => [r4(x), r4(y)] as [number, number]),
      })),
    });
  }
  if (WRITE) {
    mkdirSync(dirname(GOLDEN), { recursive: true });
    writeFileSync(GOLDEN, JSON.stringify(got) + '\n');
    console.log(`# wrote ${GOLDEN}`);
    return;
  }
  assert.ok(existsSync(GOLDEN), `${GOLDEN} is missing (POI_WRITE_BLAZEFACE_GOLDEN=1 records it)`);
  const want: Recorded[] = JSON.parse(readFileSync(GOLDEN, 'utf8'));
  assert.deepEqual(got.map((g) => g.name), want.map((w) => w.name));
  let total = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    const g = got[i];
    assert.deepEqual([g.width, g.height], [w.width, w.height], w.name);
    assert.equal(g.faces.length, w.faces.length, `${w.name}: ${g.faces.length} faces, recorded ${w.faces.length}`);
    total += w.faces.length;
    for (let j = 0; j < w.faces.length; j++) {
      const a = g.faces[j];
      const b = w.faces[j];
      // the same ops on the same backend: equal up to the recording's rounding (and float noise)
      assert.ok(Math.abs(a.score - b.score) <= 2e-4, `${w.name} face ${j}: score ${a.score} vs ${b.score}`);
      a.box.forEach((v, k) => assert.ok(Math.abs(v - b.box[k]) <= 0.01, `${w.name} face ${j}: box ${a.box} vs ${b.box}`));
      assert.equal(a.keypoints.length, 6);
      a.keypoints.forEach((p, k) => assert.ok(Math.hypot(p[0] - b.keypoints[k][0], p[1] - b.keypoints[k][1]) <= 0.01, `${w.name} face ${j}: keypoint ${k} ${p} vs ${b.keypoints[k]}`));
    }
  }
  assert.ok(total >= 20, `the recording holds the faces of the sample photos (${total})`);
});

test('decodeBlazeFace: anchors, offsets, the score threshold, weighted NMS and the scale to image pixels', () => {
  const A = blazefaceAnchors();
  assert.equal(A.length, 2 * 896, '512 stride-16 anchors and 384 stride-32 ones');
  assert.deepEqual([A[0], A[1], A[2], A[3], A[4]], [8, 8, 8, 8, 24], 'two anchors per 16-px cell, centred');
  assert.deepEqual([A[2 * 512], A[2 * 512 + 1]], [16, 16], 'the first stride-32 anchor');
  const out = new Float32Array(896 * BLAZEFACE_ROW).fill(0);
  for (let i = 0; i < 896; i++) out[i * BLAZEFACE_ROW] = -10;
  const put = (i: number, logit: number, v: number[]) => {
    out[i * BLAZEFACE_ROW] = logit;
    v.forEach((x, j) => (out[i * BLAZEFACE_ROW + 1 + j] = x));
  };
  // anchor 600: a stride-32 one, (600 - 512) / 6 = cell 14 of the 8x8 grid (gx 6, gy 1), centre (208, 48)
  const ax = A[2 * 600], ay = A[2 * 600 + 1];
  assert.deepEqual([ax, ay], [208, 48]);
  const kp = [-10, -5, 10, -5, 0, 0, 0, 10, -20, 0, 20, 0];
  put(600, 2, [1, 2, 40, 50, ...kp]);
  // an overlapping weaker candidate on the next anchor (same cell): merged into the first, by score
  put(601, 0, [3, 2, 40, 50, ...kp.map((v) => v + 2)]);
  // a separate face below the threshold at 0.5, found at 0.1
  put(10, -1, [0, 0, 10, 10, ...kp]);
  const s2 = 1 / (1 + Math.exp(-2));
  const s0 = 0.5;
  const found = decodeBlazeFace(out, A, { sx: 2, sy: 3 });
  assert.equal(found.length, 1);
  const f = found[0];
  assert.ok(Math.abs(f.score - s2) < 1e-9, 'the best candidate keeps its own score');
  const cx = (s2 * (ax + 1) + s0 * (ax + 3)) / (s2 + s0);
  const close = (a: number, b: number) => Math.abs(a - b) < 1e-4;
  assert.ok(close(f.box.x, (cx - 20) * 2) && close(f.box.y, (ay + 2 - 25) * 3) && close(f.box.width, 80) && close(f.box.height, 150), JSON.stringify(f.box));
  const shift = (2 * s0) / (s2 + s0);
  assert.ok(close(f.keypoints[0][0], (ax - 10 + shift) * 2) && close(f.keypoints[3][1], (ay + 10 + shift) * 3), JSON.stringify(f.keypoints));
  assert.equal(decodeBlazeFace(out, A, { sx: 1, sy: 1 }, { minScore: 0.1 }).length, 2);
  assert.equal(decodeBlazeFace(out, A, { sx: 1, sy: 1 }, { minScore: 0.1, maxFaces: 1 }).length, 1);
  assert.throws(() => decodeBlazeFace(out.subarray(17), A, { sx: 1, sy: 1 }), /expected 896 x 17/);
  // what the pipeline aligns on: eyes, nose, mouth (the ears are landmarks only)
  const face = blazefaceFace(f);
  assert.deepEqual([face.points.leftEye, face.points.rightEye, face.points.nose, face.points.mouth], f.keypoints.slice(0, 4));
  assert.equal(face.template, BLAZEFACE_TEMPLATE);
  assert.equal(face.landmarks.length, 6);
  // the webcam's 640x480: box average by 2, bilinear to 256x192, padded at the bottom
  assert.deepEqual(blazefaceGeometry(640, 480), { k: 2, nw: 256, nh: 192, sx: 2.5, sy: 2.5 });
  assert.deepEqual(blazefaceGeometry(200, 150), { k: 1, nw: 256, nh: 192, sx: 200 / 256, sy: 150 / 192 });
});

test('BlazeFaceNet on a tensor (the page\'s path) gives what detect() on the raw image gives', async () => {
  const c = (await cases()).find((x) => x.name === 'webcam frame 640x480')!;
  const tf = await import('../src/tf.js');
  const x = tf.tensor3d(c.image.data as Uint8Array, [480, 640, 3], 'int32');
  try {
    const a = await (net as BlazeFaceNet).detectTensor(x);
    const b = await net.detect(c.image);
    assert.equal(a.length, 2);
    assert.deepEqual(a, b);
  } finally {
    x.dispose();
  }
});

test('boxAverageRgb: what tf.avgPool gives, from RGB or RGBA, for k = 1, 2 (the unrolled path) and 3', async () => {
  const tf = await import('../src/tf.js');
  const w = 13, h = 8;
  const rgba = new Uint8Array(w * h * 4).map((_, i) => (i * 7919 + 13) % 256);
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgba[i * 4 + c];
  for (const k of [1, 2, 3]) {
    const x = tf.tensor4d(rgb, [1, h, w, 3], 'int32').toFloat();
    const want = (k > 1 ? tf.avgPool(x, k, k, 'valid') : x).dataSync();
    x.dispose();
    for (const [name, img] of [['rgb', { data: rgb, width: w, height: h, channels: 3 }], ['rgba', { data: rgba, width: w, height: h, channels: 4 }]] as const) {
      const got = boxAverageRgb(img, k);
      assert.deepEqual([got.width, got.height], [Math.floor(w / k), Math.floor(h / k)]);
      assert.deepEqual(Array.from(got.data), Array.from(want), `${name}, k ${k}`);
    }
  }
  assert.throws(() => boxAverageRgb({ data: new Uint8Array(4), width: 2, height: 2, channels: 1 }, 1), /RGB or RGBA/);
});
