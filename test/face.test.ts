/** Face alignment (pure maths), globs, multipart, the limiter, and detection + alignment on a real photo. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FER_TEMPLATE,
  alignFace,
  alignmentTransform,
  applySimilarity,
  eyeAngle,
  facePoints,
  invertSimilarity,
  placeRegion,
  warpToCrop,
  type FacePoints,
  type Point,
} from '../src/face/align.js';
import { DEFAULT_MAX_SIDE, boxShrink, fitInside, resizeLanczos3, shrinkToFit } from '../src/face/resize.js';
import { emotionFields, round4 } from '../src/infer/result.js';
import { expandInputs, globToRegExp } from '../src/util/glob.js';
import { firstFilePart, multipartBoundary } from '../src/server/multipart.js';
import { Limiter, QueueFullError } from '../src/server/limiter.js';
import { tempDir } from './helpers.js';

const KEYS = ['leftEye', 'rightEye', 'nose', 'mouth'] as const;

function moved(p: FacePoints, angleDeg: number, scale: number, dx: number, dy: number): FacePoints {
  const a = (angleDeg * Math.PI) / 180;
  const f = (q: Point): Point => [scale * (Math.cos(a) * q[0] - Math.sin(a) * q[1]) + dx, scale * (Math.sin(a) * q[0] + Math.cos(a) * q[1]) + dy];
  return { leftEye: f(p.leftEye), rightEye: f(p.rightEye), nose: f(p.nose), mouth: f(p.mouth) };
}

test('alignmentTransform undoes rotation, scale and shift of the template', () => {
  for (const [angle, scale] of [[0, 200], [25, 310], [-40, 90]] as const) {
    const face = moved(FER_TEMPLATE, angle, scale, 500, 320);
    const t = alignmentTransform(face);
    for (const k of KEYS) {
      const q = applySimilarity(t, face[k]);
      assert.ok(Math.abs(q[0] - FER_TEMPLATE[k][0]) < 1e-3 && Math.abs(q[1] - FER_TEMPLATE[k][1]) < 1e-3, `${k} at ${q} for angle ${angle}`);
    }
    assert.ok(Math.abs(Math.hypot(t.a, t.b) * scale - 1) < 1e-3);
  }
});

test('alignmentTransform levels the eyes even when the other points disagree', () => {
  const face = moved(FER_TEMPLATE, 30, 150, 100, 100);
  face.mouth = [face.mouth[0] + 20, face.mouth[1] - 5]; // a crooked smile
  const t = alignmentTransform(face);
  const l = applySimilarity(t, face.leftEye);
  const r = applySimilarity(t, face.rightEye);
  assert.ok(Math.abs(l[1] - r[1]) < 1e-9, 'eyes level');
  assert.ok(r[0] > l[0], 'not mirrored');
});

test('invertSimilarity and placeRegion map crop boxes back onto the photo', () => {
  const t = alignmentTransform(moved(FER_TEMPLATE, 90, 100, 300, 200));
  const inv = invertSimilarity(t);
  const p: Point = [0.3, 0.7];
  const back = applySimilarity(t, applySimilarity(inv, p));
  assert.ok(Math.abs(back[0] - p[0]) < 1e-9 && Math.abs(back[1] - p[1]) < 1e-9);
  // rotated by 90°: the crop's top edge is the photo's right edge of the face, a 100-pixel square
  const whole = placeRegion([0, 0, 1, 1], t);
  assert.ok(Math.abs(whole.box.width - 100) < 0.1 && Math.abs(whole.box.height - 100) < 0.1, JSON.stringify(whole.box));
  assert.equal(whole.polygon.length, 4);
  const upper = placeRegion([0, 0, 0.5, 1], t);
  assert.ok(Math.abs(upper.box.width - 50) < 0.1 && Math.abs(upper.box.height - 100) < 0.1, JSON.stringify(upper.box));
});

test('warpToCrop: the identity on a crop-sized image reproduces it; a 2x image is area-averaged', () => {
  const n = 16;
  const data = new Uint8Array(n * n);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 256;
  const id = warpToCrop({ data, width: n, height: n, channels: 1 }, { a: 1 / n, b: 0, tx: 0, ty: 0 }, n);
  assert.deepEqual([...id], [...data]);
  // checkerboard at 2x: each output pixel covers a 2x2 block → mid grey, not aliased black or white
  const big = new Uint8Array(4 * n * n);
  for (let y = 0; y < 2 * n; y++) for (let x = 0; x < 2 * n; x++) big[y * 2 * n + x] = (x + y) % 2 ? 255 : 0;
  const small = warpToCrop({ data: big, width: 2 * n, height: 2 * n, channels: 1 }, { a: 1 / (2 * n), b: 0, tx: 0, ty: 0 }, n);
  for (const v of small) assert.ok(Math.abs(v - 128) <= 1, `got ${v}`);
});

test('facePoints rejects anything but 68 landmarks', () => {
  assert.throws(() => facePoints([[0, 0]]), /68 landmarks/);
});

test('fitInside: the longer side becomes maxSide, the other is rounded; small images keep their size', () => {
  assert.equal(DEFAULT_MAX_SIDE, 1280);
  assert.deepEqual(fitInside(1920, 1280, 1280), { width: 1280, height: 853 });
  assert.deepEqual(fitInside(1280, 1920, 1280), { width: 853, height: 1280 });
  assert.deepEqual(fitInside(7200, 4800, 1280), { width: 1280, height: 853 });
  assert.deepEqual(fitInside(640, 480, 1280), { width: 640, height: 480 });
  assert.deepEqual(fitInside(10000, 3, 100), { width: 100, height: 1 });
  assert.throws(() => fitInside(10, 10, 0), /maxSide/);
});

test('boxShrink averages k x k blocks, partial blocks at the edges', () => {
  // 5 x 3, one channel: values 0..14 row by row
  const img = { data: Uint8Array.from({ length: 15 }, (_, i) => i * 10), width: 5, height: 3, channels: 1 };
  const b = boxShrink(img, 2);
  assert.equal(b.width, 3);
  assert.equal(b.height, 2);
  // block (0,0): 0,10,50,60 → 30; (2,0): 40,90 → 65; (0,1): 100,110 → 105; (2,1): 140
  assert.deepEqual([...b.data], [30, 50, 65, 105, 125, 140]);
  assert.equal(boxShrink(img, 1), img);
  assert.throws(() => boxShrink(img, 1.5), /positive integer/);
});

test('shrinkToFit: flat stays flat, geometry is kept (a dot lands where it should), identity when it fits', () => {
  const w = 2000;
  const h = 1000;
  const flat = { data: new Uint8Array(w * h * 3).fill(77), width: w, height: h, channels: 3 };
  const s = shrinkToFit(flat, 300);
  assert.equal(s.image.width, 300);
  assert.equal(s.image.height, 150);
  assert.ok(Math.abs(s.scale - w / 300) < 1e-12);
  assert.ok(s.image.data.every((v) => v === 77));
  // a bright 20x20 square centred on (1210, 430): after shrinking by 6.67 its centroid is at 1210/6.67, 430/6.67
  const dot = { data: new Uint8Array(w * h * 3), width: w, height: h, channels: 3 };
  for (let y = 420; y < 440; y++) for (let x = 1200; x < 1220; x++) dot.data.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
  const d = shrinkToFit(dot, 300).image;
  let sx = 0;
  let sy = 0;
  let sum = 0;
  for (let y = 0; y < d.height; y++) for (let x = 0; x < d.width; x++) {
    const v = d.data[(y * d.width + x) * 3];
    sx += v * (x + 0.5);
    sy += v * (y + 0.5);
    sum += v;
  }
  assert.ok(Math.abs(sx / sum - 1210 / (w / 300)) < 0.1, `centroid x ${sx / sum}`);
  assert.ok(Math.abs(sy / sum - 430 / (h / 150)) < 0.1, `centroid y ${sy / sum}`);
  const small = { data: new Uint8Array(30), width: 5, height: 2, channels: 3 };
  assert.equal(shrinkToFit(small, 5).image, small);
  // the Lanczos step alone on a factor < 2 keeps a flat image flat too (weights sum to 1)
  assert.ok(resizeLanczos3(flat, 1500, 750).data.every((v) => v === 77));
});

test('emotionFields: face i of a batch, top class, confidence and uncertainty, rounded or not', () => {
  const classes = ['a', 'b', 'c'];
  const probs = Float32Array.from([0.2, 0.5, 0.3, 0.123456, 0.123456, 0.753088]);
  const conf = Float32Array.from([0.9, 0.61234567]);
  const f = emotionFields(classes, probs, conf, 1, round4);
  assert.deepEqual(f, { emotions: { a: 0.1235, b: 0.1235, c: 0.7531 }, emotion: 'c', probability: 0.7531, confidence: 0.6123, uncertainty: 0.3877 });
  const raw = emotionFields(classes, probs, conf, 0);
  assert.equal(raw.emotion, 'b');
  assert.equal(raw.probability, probs[1]);
  assert.equal(raw.uncertainty, 1 - conf[0]);
  // a tie goes to the first class
  assert.equal(emotionFields(classes, [0.4, 0.4, 0.2], [0.5], 0).emotion, 'a');
  assert.throws(() => emotionFields(classes, probs, conf, 2), /face 2/);
});

test('globToRegExp: *, **, ?, classes, alternatives', () => {
  assert.ok(globToRegExp('*.jpg').test('a.jpg'));
  assert.ok(!globToRegExp('*.jpg').test('d/a.jpg'));
  assert.ok(globToRegExp('**/*.jpg').test('a.jpg'));
  assert.ok(globToRegExp('**/*.jpg').test('d/e/a.jpg'));
  assert.ok(globToRegExp('img?.{png,jpg}').test('img1.png'));
  assert.ok(!globToRegExp('img?.{png,jpg}').test('img12.png'));
  assert.ok(globToRegExp('[ab]*.png').test('b.png'));
  assert.ok(!globToRegExp('[!ab]*.png').test('b.png'));
});

test('expandInputs: files, folders recursively (images only), globs, and what matched nothing', () => {
  const dir = tempDir('poi-glob-');
  mkdirSync(join(dir, 'sub', 'deep'), { recursive: true });
  for (const f of ['a.jpg', 'b.PNG', 'notes.txt', 'sub/c.webp', 'sub/deep/d.bmp', 'sub/deep/e.tiff']) writeFileSync(join(dir, f), 'x');
  const folder = expandInputs([dir]);
  assert.deepEqual(folder.files.map((f) => f.slice(dir.length + 1)).sort(), ['a.jpg', 'b.PNG', 'sub/c.webp', 'sub/deep/d.bmp', 'sub/deep/e.tiff']);
  const glob = expandInputs([join(dir, '**', '*.{bmp,tiff}'), join(dir, 'a.jpg'), join(dir, 'a.jpg')]);
  assert.deepEqual(glob.files.map((f) => f.slice(dir.length + 1)), ['sub/deep/d.bmp', 'sub/deep/e.tiff', 'a.jpg']);
  const shallow = expandInputs([join(dir, '*.jpg')]);
  assert.equal(shallow.files.length, 1);
  const none = expandInputs([join(dir, 'nope.jpg'), join(dir, '*.gif')]);
  assert.equal(none.files.length, 0);
  assert.equal(none.missing.length, 2);
  assert.match(none.missing[0].error, /no such file/);
});

test('multipart: the first file part of a form', () => {
  const b = 'XyZ';
  const body = Buffer.concat([
    Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n`),
    Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    Buffer.from([1, 2, 13, 10, 3]),
    Buffer.from(`\r\n--${b}--\r\n`),
  ]);
  assert.equal(multipartBoundary(`multipart/form-data; boundary=${b}`), b);
  assert.equal(multipartBoundary('image/png'), null);
  const part = firstFilePart(body, b);
  assert.equal(part.filename, 'p.jpg');
  assert.equal(part.contentType, 'image/jpeg');
  assert.deepEqual([...part.data], [1, 2, 13, 10, 3]);
  assert.throws(() => firstFilePart(Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="x"\r\n\r\nabc`), b), /truncated/);
});

test('Limiter: at most N at once, FIFO queue, full queue refused, idle()', async () => {
  const lim = new Limiter(2, 2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const job = (i: number) => async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 20));
    order.push(i);
    running--;
    return i;
  };
  const ps = [0, 1, 2, 3].map((i) => lim.run(job(i)));
  await assert.rejects(lim.run(job(4)), QueueFullError);
  assert.deepEqual(await Promise.all(ps), [0, 1, 2, 3]);
  assert.equal(peak, 2);
  await lim.idle();
  assert.equal(lim.active, 0);
  assert.equal(lim.queued, 0);
});

test('real photo: face-api finds the 3 faces of sample1.jpg; aligned crops have level eyes where the template puts them', async () => {
  const tf = await import('../src/tf.js');
  const { initBackend } = await import('../src/backend/index.js');
  const { FaceDetector, faceApiSample, loadFaceApi, loadNet } = await import('../src/face/detector.js');
  const { decodePhoto } = await import('../src/face/image.js');
  await initBackend();
  const photo = await decodePhoto(faceApiSample(1), { shrink: 'js' });
  assert.equal(photo.width, 1920);
  assert.equal(photo.image.channels, 3);
  // with shrink 'js' Node's shrink is the shared pure one (the browser demo runs it too): full decode, then shrinkToFit
  // (sharp's own shrink, the default, is compared by its final probabilities in test/photo.test.ts)
  const sharp = (await import('sharp')).default;
  const full = await sharp(faceApiSample(1)).raw().toBuffer({ resolveWithObject: true });
  const mine = shrinkToFit({ data: new Uint8Array(full.data), width: full.info.width, height: full.info.height, channels: 3 }, DEFAULT_MAX_SIDE);
  assert.equal(photo.image.width, 1280);
  assert.equal(photo.scale, 1.5);
  assert.deepEqual(photo.image.data, mine.image.data);
  const det = await FaceDetector.create({ detector: 'ssd' });
  const faces = await det.detect(photo.image.data as Uint8Array, photo.image.width, photo.image.height);
  assert.equal(faces.length, 3);
  const angles = faces.map((f) => Math.abs(eyeAngle(facePoints(f.landmarks))));
  assert.ok(Math.max(...angles) > 20, `sample1 has tilted heads (${angles})`);
  // independent check: the landmark model run again on each aligned crop sees level eyes at the template
  const fa = loadFaceApi() as unknown as { nets: { faceLandmark68Net: { detectLandmarks(x: unknown): Promise<{ positions: { x: number; y: number }[] }> } } };
  await loadNet(loadFaceApi(), 'faceLandmark68Net');
  const S = 112;
  for (const f of faces) {
    const { pixels } = alignFace(photo.image, f.landmarks, { size: S, channels: 3 });
    const x = tf.tensor3d(pixels, [S, S, 3], 'int32');
    const marks = await fa.nets.faceLandmark68Net.detectLandmarks(x);
    x.dispose();
    const p = facePoints(marks.positions.map((q) => [q.x / S, q.y / S] as Point));
    assert.ok(Math.abs(eyeAngle(p)) < 5, `eyes level after alignment: ${eyeAngle(p).toFixed(1)}°`);
    // eyes where the template has them; nose and mouth looser (a turned head moves them sideways,
    // which no similarity transform can undo)
    for (const k of KEYS) {
      const d = Math.hypot(p[k][0] - FER_TEMPLATE[k][0], p[k][1] - FER_TEMPLATE[k][1]);
      assert.ok(d < (k.endsWith('Eye') ? 0.05 : 0.1), `${k} at ${p[k].map((v) => v.toFixed(3))}, template ${FER_TEMPLATE[k]}`);
    }
  }
});
