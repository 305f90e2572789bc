/**
 * The photo path of issue 15: sharp's shrink against the JS (browser) shrink, the detectors (face-api SSD and
 * tiny, BlazeFace), per-stage timing, batches (one TRN call), the cropped-face mode. Fixtures are made here
 * from face-api's sample photos; no timing is asserted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRecognizer, defaultModelDir, type FaceResult, type Recognizer } from '../src/infer/recognizer.js';
import { FaceDetector, faceApiSample } from '../src/face/detector.js';
import { decodePhoto } from '../src/face/image.js';
import { alignPoints, createLocator, Landmarks68, locateInCrop } from '../src/face/locators.js';
import { BLAZEFACE_TEMPLATE } from '../src/face/blazeface.js';
import { eyeAngle, FER_TEMPLATE, type Box } from '../src/face/align.js';
import { predictCommand, timingReport, type Io } from '../src/cli/predict.js';
import { emptyTiming, STAGES } from '../src/infer/timing.js';
import { createTfjsRunner, type TrnRunner } from '../src/infer/runner.js';
import { loadModel, readModelFolder } from '../src/model/io.js';
import { tempDir } from './helpers.js';
import { capture } from './helpers.js';

/** SSD, not the default BlazeFace: the reference most tests here compare with, and its 68 landmarks. */
let ssd: Recognizer;
before(async () => {
  ssd = await createRecognizer({ runtime: 'tfjs', detector: 'ssd' });
});
after(() => ssd.dispose());

const centre = (b: Box) => [b.x + b.width / 2, b.y + b.height / 2];
const dist = (a: Box, b: Box) => Math.hypot(centre(a)[0] - centre(b)[0], centre(a)[1] - centre(b)[1]);
const nearest = (faces: FaceResult[], b: Box) => faces.reduce((p, q) => (dist(p.box, b) <= dist(q.box, b) ? p : q));
const maxDiff = (a: Record<string, number>, b: Record<string, number>) => Math.max(...Object.keys(a).map((k) => Math.abs(a[k] - b[k])));


/**
 * sharp's shrink and the JS shrink (the browser's) give different pixels, so the detector, the landmarks and
 * the final probabilities move a little: measured on face-api's six sample photos (all 1920 px, shrunk to 1280)
 * with BlazeFace (the default) and with SSD, the largest change of any class probability or confidence is
 * under this. One face sets it (sample2, SSD: the shipped model's neutral and happiness nearly tie there, so
 * a few pixels move probability between them); every other face stays far below it.
 */
const SHRINK_TOLERANCE = 0.25;

for (const detector of ['blazeface', 'ssd'] as const) {
  test(`sharp shrink vs the browser (JS) shrink, ${detector}: same size and scale, same faces, probabilities within tolerance on real photos`, async () => {
    const sharpShrink = detector === 'ssd' ? ssd : await createRecognizer({ runtime: 'tfjs', detector });
    const js = await createRecognizer({ runtime: 'tfjs', shrink: 'js', detector });
    try {
      let worst = 0;
      for (const n of [1, 2, 3, 4, 5, 6]) {
        const a = await decodePhoto(faceApiSample(n), { shrink: 'sharp' });
        const b = await decodePhoto(faceApiSample(n), { shrink: 'js' });
        assert.deepEqual([a.image.width, a.image.height, a.scale, a.width, a.height], [b.image.width, b.image.height, b.scale, b.width, b.height]);
        // the pixels are close but not the same
        let sum = 0;
        for (let i = 0; i < a.image.data.length; i++) sum += Math.abs(a.image.data[i] - b.image.data[i]);
        assert.ok(sum / a.image.data.length < 3, `sample${n}: mean pixel difference ${sum / a.image.data.length}`);
        const fa = await sharpShrink.recognize(faceApiSample(n));
        const fb = await js.recognize(faceApiSample(n));
        assert.equal(fa.length, fb.length, `sample${n}: ${fa.length} faces with sharp, ${fb.length} with the JS shrink`);
        for (const f of fb) {
          const g = nearest(fa, f.box);
          assert.ok(dist(g.box, f.box) < 0.1 * f.box.width, `sample${n}: a face moved`);
          const d = Math.max(maxDiff(f.emotions, g.emotions), Math.abs(f.confidence - g.confidence));
          worst = Math.max(worst, d);
          assert.ok(d <= SHRINK_TOLERANCE, `sample${n}: probabilities differ by ${d} between the sharp and the JS shrink`);
        }
      }
      assert.ok(worst > 0, 'the two shrinks are different code');
      console.log(`# sharp vs JS shrink, ${detector}: largest probability difference ${worst.toFixed(4)}`);
    } finally {
      js.dispose();
      if (sharpShrink !== ssd) sharpShrink.dispose();
    }
  });
}

test('each detector finds the three faces of sample1.jpg; BlazeFace keypoints are a face (eyes above nose above mouth)', async () => {
  const photo = await decodePhoto(faceApiSample(1));
  const ssdFaces = await ssd.recognize(faceApiSample(1));
  for (const d of ['ssd', 'tiny', 'blazeface'] as const) {
    const loc = await createLocator({ detector: d });
    const faces = await loc.locate(photo.image);
    assert.equal(faces.length, 3, `${d}: ${faces.length} faces`);
    for (const f of faces) {
      assert.equal(f.landmarks.length, d === 'blazeface' ? 6 : 68);
      assert.equal(f.template, d === 'blazeface' ? BLAZEFACE_TEMPLATE : FER_TEMPLATE);
      const p = f.points;
      assert.ok(p.leftEye[0] < p.rightEye[0], `${d}: eyes in image order`);
      assert.ok(Math.max(p.leftEye[1], p.rightEye[1]) < p.mouth[1] && p.nose[1] < p.mouth[1], `${d}: the mouth is below the eyes and nose (heads are tilted less than 45°)`);
      // each face is one SSD finds too
      const box = { x: f.box.x * photo.scale, y: f.box.y * photo.scale, width: f.box.width * photo.scale, height: f.box.height * photo.scale };
      assert.ok(dist(nearest(ssdFaces, box).box, box) < 0.35 * box.width, `${d}: a face where SSD has none`);
      // the alignment levels the eyes whatever the detector
      const a = alignPoints(photo.image, f, { size: 48, channels: 1 });
      assert.equal(a.pixels.length, 48 * 48);
    }
    assert.ok(Math.max(...faces.map((f) => Math.abs(eyeAngle(f.points)))) > 15, `${d}: sample1's heads are tilted`);
  }
});

test('the SSD locator (detection and landmarks as two stages) gives what face-api withFaceLandmarks gives', async () => {
  const photo = await decodePhoto(faceApiSample(2));
  const old = await FaceDetector.create({ detector: 'ssd' });
  const want = await old.detect(photo.image.data as Uint8Array, photo.image.width, photo.image.height);
  const got = await (await createLocator({ detector: 'ssd' })).locate(photo.image);
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i].score! - want[i].score) < 1e-6);
    for (let j = 0; j < 68; j++) {
      assert.ok(Math.hypot(got[i].landmarks[j][0] - want[i].landmarks[j][0], got[i].landmarks[j][1] - want[i].landmarks[j][1]) < 0.01, `landmark ${j}`);
    }
  }
});

test('timing: every stage is reported; --timing prints them to stderr', async () => {
  const res = await ssd.recognizeImage(faceApiSample(1), { explain: true });
  assert.deepEqual(Object.keys(res.timing), [...STAGES]);
  for (const k of STAGES) assert.ok(res.timing[k] > 0, `${k}: ${res.timing[k]}`);
  const bf = await createRecognizer({ runtime: 'tfjs' });
  try {
    assert.equal(bf.detector, 'blazeface', 'the default detector');
    const t = (await bf.recognizeImage(faceApiSample(1))).timing;
    assert.equal(t.landmarks, 0, 'BlazeFace has no landmark stage');
    assert.equal(t.explain, 0);
    assert.ok(t.detect > 0 && t.trn > 0 && t.decode > 0);
  } finally {
    bf.dispose();
  }
  const text = timingReport({ ...emptyTiming(), decode: 30, detect: 100 }, 2, 3, 200, 900);
  assert.match(text, /2 image\(s\), 3 face\(s\); start-up 900 ms, then 200 ms \(100 ms per image\)/);
  assert.match(timingReport(emptyTiming(), 1, 1, 1, 1, 'ssd'), /1 image\(s\), 1 face\(s\), ssd detector; start-up/);
  assert.match(text, /decode\s+30\.0\s+15\.0/);
  const io = capture();
  const code = await predictCommand([faceApiSample(1), '--timing', '--json', '--runtime', 'tfjs'], io);
  assert.equal(code, 0);
  const { out, err } = io.text();
  assert.equal(out.trim().split('\n').length, 3);
  assert.match(err, /3 face\(s\), blazeface detector; start-up/, 'the default detector, named');
  for (const k of STAGES) assert.match(err, new RegExp(`^  ${k} `, 'm'));
});

test('recognizeBatch: one TRN call for all faces of the batch, the same results as one image at a time, errors in place', async () => {
  const calls: number[] = [];
  const folder = await readModelFolder(defaultModelDir());
  const { model } = await loadModel(folder);
  const inner = createTfjsRunner(model, { dispose: true });
  const runner: TrnRunner = { backend: inner.backend, run: (x, n) => (calls.push(n), inner.run(x, n)), dispose: () => inner.dispose() };
  const rec = await createRecognizer({ runner, detector: ssd.detector });
  try {
    const dir = tempDir('poi-batch-');
    const bad = join(dir, 'bad.jpg');
    writeFileSync(bad, 'not an image');
    const inputs = [faceApiSample(1), bad, faceApiSample(3), faceApiSample(2)];
    const out = await rec.recognizeBatch(inputs);
    assert.equal(out.length, 4);
    assert.ok(out[1] instanceof Error && /bad\.jpg/.test(out[1].message));
    const faces = out.filter((o) => !(o instanceof Error)).reduce((a, o) => a + (o as { faces: unknown[] }).faces.length, 0);
    assert.deepEqual(calls, [faces], 'one TRN call with every face');
    for (const i of [0, 2, 3]) {
      const one = await ssd.recognizeImage(inputs[i]);
      const got = out[i] as typeof one;
      assert.equal(got.faces.length, one.faces.length);
      got.faces.forEach((f, j) => {
        assert.deepEqual(f.box, one.faces[j].box);
        assert.ok(maxDiff(f.emotions, one.faces[j].emotions) < 2e-4, 'a face gets the same answer in a batch');
      });
      assert.ok(got.timing.trn > 0);
    }
    // aligned crops in a batch
    const crop = join(dir, 'crop.png');
    await sharp({ create: { width: 48, height: 48, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toFile(crop);
    const al = await rec.recognizeBatch([crop, crop], { aligned: true });
    assert.equal(al.length, 2);
    assert.deepEqual((al[0] as { faces: FaceResult[] }).faces[0].emotions, (al[1] as { faces: FaceResult[] }).faces[0].emotions);
  } finally {
    rec.dispose();
  }
});

test('cropped-face mode: tight and loose crops of a photo face (margins cut) give its landmarks and about its answer', async () => {
  const photo = await decodePhoto(faceApiSample(3), { shrink: 'js' });
  const whole = await ssd.recognize(faceApiSample(3));
  const marks = await Landmarks68.create();
  const dir = tempDir('poi-crop-');
  for (const f of whole) {
    const eyes = Math.hypot(f.landmarks![45][0] - f.landmarks![36][0], f.landmarks![45][1] - f.landmarks![36][1]);
    const xs = f.landmarks!.map((p) => p[0]);
    const ys = f.landmarks!.map((p) => p[1]);
    const lx = Math.min(...xs), ly = Math.min(...ys), lw = Math.max(...xs) - lx, lh = Math.max(...ys) - ly;
    // tight: the landmarks' own box (brows to chin, no forehead, cheeks cut at the jaw); loose: 1.8x the box
    const crops = {
      tight: { left: lx, top: ly, width: lw, height: lh },
      loose: { left: lx - 0.4 * lw, top: ly - 0.5 * lh, width: 1.8 * lw, height: 1.8 * lh },
    };
    for (const [name, c] of Object.entries(crops)) {
      const ext = { left: Math.max(0, Math.round(c.left)), top: Math.max(0, Math.round(c.top)), width: Math.round(c.width), height: Math.round(c.height) };
      const file = join(dir, `${name}-${Math.round(f.box.x)}.png`);
      await sharp(faceApiSample(3)).extract(ext).png().toFile(file);
      const got = await ssd.recognize(file, { crop: true });
      assert.equal(got.length, 1);
      const g = got[0];
      assert.equal(g.score, null);
      assert.equal(g.landmarks!.length, 68);
      // landmarks back in photo pixels: the eyes within 10% of the eye distance of the photo's
      for (const k of [36, 45, 30, 48, 54]) {
        const d = Math.hypot(g.landmarks![k][0] + ext.left - f.landmarks![k][0], g.landmarks![k][1] + ext.top - f.landmarks![k][1]);
        assert.ok(d < 0.12 * eyes, `${name} crop, landmark ${k}: ${d.toFixed(1)} px off (eye distance ${eyes.toFixed(0)})`);
      }
      assert.equal(g.emotion, f.emotion, `${name} crop: ${g.emotion} (${g.probability}), the photo: ${f.emotion} (${f.probability})`);
      assert.ok(maxDiff(g.emotions, f.emotions) < 0.25, `${name} crop: probabilities within 0.25 of the photo's`);
      // --aligned on the same tight crop would frame it wrongly; --crop finds the face inside it
    }
  }
  // the locator alone, on an image in memory
  const one = await locateInCrop(marks, photo.image);
  assert.equal(one.landmarks.length, 68);
});

test('poi predict: --detector blazeface, --crop and --shrink are accepted; bad values and --aligned --crop are usage errors', async () => {
  await assert.rejects(predictCommand(['x.jpg', '--detector', 'yolo']), /--detector: ssd, tiny, blazeface/);
  await assert.rejects(predictCommand(['x.jpg', '--shrink', 'gpu']), /--shrink: expected sharp or js/);
  await assert.rejects(predictCommand(['x.jpg', '--aligned', '--crop']), /exclude each other/);
  await assert.rejects(predictCommand(['x.jpg', '--batch', '0']), /--batch/);
  await assert.rejects(createRecognizer({ detector: 'yolo' as never }), /unknown detector "yolo"/);
  const io = capture();
  assert.equal(await predictCommand([faceApiSample(4), '--json', '--detector', 'blazeface', '--shrink', 'js', '--runtime', 'tfjs', '-q'], io), 0);
  const lines = io.text().out.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= 3, `BlazeFace finds the faces of sample4: ${lines.length}`);
  assert.equal(lines[0].landmarks.length, 6);
});
