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
