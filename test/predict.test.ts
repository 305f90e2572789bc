/** createRecognizer and `poi predict` on face-api's sample photos and images the test makes. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRecognizer, type FaceResult, type Recognizer } from '../src/infer/recognizer.js';
import { faceApiSample } from '../src/face/detector.js';
import { demoCommand, fitName, predictCommand, type Io } from '../src/cli/predict.js';
import { USAGE } from '../src/cli/main.js';
import { FER_CLASSES, tempDir } from './helpers.js';
import { capture } from './helpers.js';

let r: Recognizer;
const SAMPLE = faceApiSample(1);

before(async () => {
  r = await createRecognizer();
});
after(() => r.dispose());


/**
 * Checks every field of a face result against the documented schema. `landmarks`: how many the detector gives
 * (BlazeFace, the default: 6 keypoints; face-api's SSD and tiny: 68).
 */
function checkFace(f: FaceResult, w: number, h: number, opts: { explain?: boolean; aligned?: boolean; landmarks?: 6 | 68 } = {}): void {
  for (const k of ['x', 'y', 'width', 'height'] as const) assert.equal(typeof f.box[k], 'number');
  assert.ok(f.box.width > 0 && f.box.height > 0);
  assert.ok(f.box.x > -f.box.width / 2 && f.box.x + f.box.width < w + f.box.width / 2, `box inside the photo: ${JSON.stringify(f.box)} in ${w}x${h}`);
  assert.deepEqual(Object.keys(f.emotions), FER_CLASSES);
  const sum = Object.values(f.emotions).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-3, `probabilities sum to ${sum}`);
  const best = Object.entries(f.emotions).sort((a, b) => b[1] - a[1])[0];
  assert.equal(f.emotion, best[0]);
  assert.equal(f.probability, best[1]);
  assert.ok(f.confidence > 0 && f.confidence < 1);
  assert.ok(Math.abs(f.confidence + f.uncertainty - 1) < 2e-4);
  if (opts.aligned) {
    assert.equal(f.score, null);
    assert.equal(f.landmarks, null);
  } else {
    assert.ok(f.score! > 0.5 && f.score! <= 1);
    assert.equal(f.landmarks!.length, opts.landmarks ?? 6);
    for (const p of f.landmarks!) assert.ok(p.length === 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]));
  }
  if (opts.explain) {
    assert.deepEqual(f.regions!.map((g) => g.name), ['upper', 'middle', 'lower', 'global']);
    for (const g of f.regions!) {
      assert.equal(g.polygon.length, 4);
      assert.deepEqual(Object.keys(g.emotions), FER_CLASSES);
      assert.ok(Object.keys(g.aus).every((a) => /^AU\d+$/.test(a)));
      assert.ok(Object.values(g.aus).every((v) => v >= 0 && v <= 1));
    }
    // the upper region is above the lower one on an upright face
    const up = f.regions![0].box;
    const low = f.regions![2].box;
    assert.ok(up.y + up.height / 2 < low.y + low.height / 2);
    assert.ok(Object.keys(f.aus!).length >= 10);
    assert.deepEqual(Object.keys(f.objective!), FER_CLASSES);
  } else {
    assert.equal(f.regions, undefined);
  }
}

test('recognize: the three faces of sample1.jpg, with the documented fields', async () => {
  assert.equal(r.detector, 'blazeface', 'the default detector');
  const res = await r.recognizeImage(SAMPLE, { explain: true });
  assert.equal(res.width, 1920);
  assert.equal(res.height, 1280);
  assert.equal(res.faces.length, 3);
  for (const f of res.faces) checkFace(f, res.width, res.height, { explain: true });
  // the rightmost woman laughs: the shipped model should see happiness there
  const right = [...res.faces].sort((a, b) => b.box.x - a.box.x)[0];
  assert.equal(right.emotion, 'happiness');
  // a Buffer gives the same answer as the path
  const again = await r.recognize(readFileSync(SAMPLE));
  assert.deepEqual(again.map((f) => f.emotions), res.faces.map((f) => f.emotions));
});

test('EXIF orientation is honoured: a sideways-stored photo marked "rotate 90°" gives upright boxes', async () => {
  const dir = tempDir('poi-exif-');
  const file = join(dir, 'rotated.jpg');
  // pixels stored turned 90° counter-clockwise, EXIF orientation 6 says "show turned 90° clockwise"
  await sharp(SAMPLE).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 92 }).toFile(file);
  const plain = await r.recognizeImage(SAMPLE);
  const rot = await r.recognizeImage(file);
  assert.equal(rot.width, 1920);
  assert.equal(rot.height, 1280);
  assert.equal(rot.faces.length, plain.faces.length);
  const byX = (fs: FaceResult[]) => [...fs].sort((a, b) => a.box.x - b.box.x);
  byX(rot.faces).forEach((f, i) => {
    const g = byX(plain.faces)[i];
    assert.ok(Math.abs(f.box.x - g.box.x) < 20 && Math.abs(f.box.y - g.box.y) < 20, `${JSON.stringify(f.box)} vs ${JSON.stringify(g.box)}`);
  });
});

test('a huge photo is shrunk for detection and boxes come back in its own pixels', async () => {
  const dir = tempDir('poi-huge-');
  const file = join(dir, 'huge.jpg');
  // 7200 x 4800 (35 MP): sample1 scaled 3x, pasted at (600, 600) on a grey canvas
  const big = await sharp(SAMPLE).resize(5760, 3840).jpeg().toBuffer();
  await sharp({ create: { width: 7200, height: 4800, channels: 3, background: '#808080' } })
    .composite([{ input: big, left: 600, top: 600 }])
    .jpeg({ quality: 80 })
    .toFile(file);
  const plain = await r.recognize(SAMPLE);
  const huge = await r.recognizeImage(file);
  assert.equal(huge.width, 7200);
  assert.equal(huge.faces.length, 3);
  const byX = (fs: FaceResult[]) => [...fs].sort((a, b) => a.box.x - b.box.x);
  byX(huge.faces).forEach((f, i) => {
    const g = byX(plain)[i];
    // the detector sees the face at another scale, so its box differs a little: compare centres and sizes loosely
    const cx = f.box.x + f.box.width / 2;
    const want = 600 + 3 * (g.box.x + g.box.width / 2);
    assert.ok(Math.abs(cx - want) < 0.2 * f.box.width, `centre x ${cx} vs ${want}`);
    const ratio = f.box.width / (3 * g.box.width);
    assert.ok(ratio > 0.8 && ratio < 1.25, `width ${f.box.width} vs ${3 * g.box.width}`);
  });
});

test('no face: an image without one gives an empty list', async () => {
  const noise = Buffer.alloc(320 * 240 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251;
  const png = await sharp(noise, { raw: { width: 320, height: 240, channels: 3 } }).blur(3).png().toBuffer();
  assert.deepEqual(await r.recognize(png), []);
});

test('corrupt, truncated, empty and non-image inputs throw ImageError naming the problem', async () => {
  const { ImageError } = await import('../src/face/image.js');
  const jpeg = await sharp(SAMPLE).toBuffer();
  await assert.rejects(r.recognize(Buffer.from('this is not an image at all')), (e: Error) => e instanceof ImageError && /not an image/.test(e.message));
  await assert.rejects(r.recognize(jpeg.subarray(0, 2000)), (e: Error) => e instanceof ImageError);
  await assert.rejects(r.recognize(Buffer.alloc(0)), /empty/);
  await assert.rejects(r.recognize('/nonexistent/photo.jpg'), /\/nonexistent\/photo\.jpg: no such file/);
});

/** A grey face crop at the shipped model's input size (48 for the VGG models, 112 for dlib's). */
async function faceCrop(): Promise<{ crop: Buffer; size: number }> {
  const size = r.manifest.input.height;
  const crop = await sharp(SAMPLE).extract({ left: 1440, top: 170, width: 270, height: 270 }).resize(size, size).toColourspace('b-w').raw().toBuffer();
  return { crop, size };
}

test('aligned crops: --aligned skips detection and matches TRN on the same crop', async () => {
  const { crop, size } = await faceCrop();
  const png = await sharp(crop, { raw: { width: size, height: size, channels: 1 } }).png().toBuffer();
  const [f] = await r.recognize(png, { aligned: true, explain: true });
  checkFace(f, size, size, { aligned: true, explain: true });
  assert.deepEqual(f.box, { x: 0, y: 0, width: size, height: size });
  const direct = await r.classify(new Uint8Array(crop), 1);
  assert.ok(Math.abs(direct.probs[1] - f.emotions.happiness) < 1e-3);
});

test('flip TTA: a face and its mirror image get the same averaged answer, the mean of the two plain ones', async () => {
  const { crop, size } = await faceCrop();
  const mirror = await sharp(crop, { raw: { width: size, height: size, channels: 1 } }).flop().toColourspace('b-w').raw().toBuffer();
  const plain = await r.classify(new Uint8Array(Buffer.concat([crop, mirror])), 2);
  const t = await createRecognizer({ tta: 'flip' });
  try {
    assert.match(t.backend, /\+flip$/);
    const both = await t.classify(new Uint8Array(Buffer.concat([crop, mirror])), 2);
    const k = FER_CLASSES.length;
    for (let j = 0; j < k; j++) {
      const mean = (plain.probs[j] + plain.probs[k + j]) / 2;
      assert.ok(Math.abs(both.probs[j] - mean) < 1e-5 && Math.abs(both.probs[k + j] - mean) < 1e-5, `class ${j}`);
    }
    assert.ok(Math.abs(both.confidence[0] - both.confidence[1]) < 1e-5);
    assert.ok(Math.abs(both.confidence[0] - (plain.confidence[0] + plain.confidence[1]) / 2) < 1e-5);
  } finally {
    t.dispose();
  }
  await assert.rejects(createRecognizer({ tta: 'rotate' as never }), /tta: expected none or flip/);
});

test('poi predict --json on a folder (recursive) with a face photo, a faceless image and a corrupt file: exit 1, all reported', async () => {
  const dir = tempDir('poi-predict-');
  mkdirSync(join(dir, 'sub'));
  copyFileSync(SAMPLE, join(dir, 'sub', 'people.jpg'));
  await sharp({ create: { width: 200, height: 150, channels: 3, background: '#336699' } }).png().toFile(join(dir, 'blank.png'));
  writeFileSync(join(dir, 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5]));
  writeFileSync(join(dir, 'readme.txt'), 'not read: not an image extension');
  const io = capture();
  const code = await predictCommand([dir, '--json', '--detector', 'tiny'], io);
  const { out, err } = io.text();
  assert.equal(code, 1);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  const broken = lines.filter((l) => l.path.endsWith('broken.jpg'));
  assert.equal(broken.length, 1);
  assert.match(broken[0].error, /broken\.jpg/);
  const blank = lines.filter((l) => l.path.endsWith('blank.png'));
  assert.deepEqual(blank, [{ path: join(dir, 'blank.png'), face: null, faces: 0 }]);
  const people = lines.filter((l) => l.path.endsWith('people.jpg'));
  assert.ok(people.length >= 2, `tiny detector finds faces: ${people.length}`);
  people.forEach((l, i) => {
    assert.equal(l.face, i);
    checkFace(l, 1920, 1280, { landmarks: 68 });
  });
  assert.match(err, /3 image\(s\), \d+ face\(s\), 1 without a face, 1 failed/);
  assert.ok(!lines.some((l) => l.path.endsWith('readme.txt')));
});

test('poi predict --json: BlazeFace by default (6 keypoints a face), --detector ssd gives face-api\'s 68 landmarks on the same faces', async () => {
  const run = async (...args: string[]) => {
    const io = capture();
    assert.equal(await predictCommand([SAMPLE, '--json', '-q', ...args], io), 0);
    return io.text().out.trim().split('\n').map((l) => JSON.parse(l));
  };
  const byDefault = await run();
  assert.equal(byDefault.length, 3);
  for (const l of byDefault) checkFace(l, 1920, 1280, { landmarks: 6 });
  const ssd = await run('--detector', 'ssd');
  assert.equal(ssd.length, 3);
  for (const l of ssd) checkFace(l, 1920, 1280, { landmarks: 68 });
  // the same three people: each default face has an SSD face near its centre
  const centre = (b: FaceResult['box']) => [b.x + b.width / 2, b.y + b.height / 2];
  for (const l of byDefault) {
    const [x, y] = centre(l.box);
    assert.ok(ssd.some((m) => Math.hypot(centre(m.box)[0] - x, centre(m.box)[1] - y) < 0.35 * l.box.width), `an SSD face near ${JSON.stringify(l.box)}`);
  }
});

test('poi predict table with --explain; a missing file fails the run but not the others', async () => {
  const io = capture();
  const code = await predictCommand([SAMPLE, '/nonexistent/x.jpg', '--explain', '--quiet'], io);
  const { out, err } = io.text();
  assert.equal(code, 1);
  assert.match(err, /\/nonexistent\/x\.jpg: no such file or folder/);
  assert.match(out, /^image\s+face\s+box/m);
  assert.equal(out.match(/sample1\.jpg\s+\d\s/g)?.length, 3);
  assert.match(out, /upper\s+\w+ \d+%/);
  assert.match(out, /PIN\s+\w+ \d+%/);
});

test('bare `poi`: the demo prints the table for face-api sample1.jpg and points at poi help', async () => {
  const io = capture();
  assert.equal(await demoCommand(io), 0);
  const { out } = io.text();
  assert.equal(out.match(/sample1\.jpg\s+\d\s/g)?.length, 3);
  assert.match(out, /poi help/);
  assert.match(USAGE, /poi predict/);
  assert.match(USAGE, /poi serve/);
});

test('poi predict usage errors', async () => {
  await assert.rejects(predictCommand([]), /give image files/);
  await assert.rejects(predictCommand(['x.jpg', '--detector', 'yolo']), /--detector/);
  await assert.rejects(predictCommand(['x.jpg', '--tta', 'rotate']), /--tta: expected none or flip/);
  await assert.rejects(predictCommand(['x.jpg', '--runtime', 'gpu']), /--runtime: expected auto, onnx or tfjs/);
});

test('the table fits long paths at a folder boundary and keeps the file name', () => {
  assert.equal(fitName('a.jpg', 8), 'a.jpg   ');
  const long = 'node_modules/@vladmandic/face-api/demo/sample1.jpg';
  const fitted = fitName(long, 40);
  assert.equal(fitted.length, 40);
  assert.equal(fitted.trimEnd(), '…/@vladmandic/face-api/demo/sample1.jpg');
  assert.equal(fitName(long, 30).trimEnd(), '…/face-api/demo/sample1.jpg');
  // a single long name with no folder in the kept part is cut mid-name
  assert.equal(fitName('x'.repeat(20) + '.jpg', 10), '…xxxxx.jpg');
});

test('--explain: AU readouts only from a model trained with the AU prior (regions and PIN distribution either way)', async () => {
  const { presetConfig } = await import('../src/model/config.js');
  const { PoiModel } = await import('../src/model/poi.js');
  const { saveModel } = await import('../src/model/io.js');
  const work = tempDir('poi-aus-');
  const size = 16;
  const crop = await sharp({ create: { width: size, height: size, channels: 3, background: { r: 120, g: 110, b: 100 } } }).png().toBuffer();
  for (const [preset, withAus] of [['tiny', false], ['poi-au-prior+tiny', true]] as const) {
    const cfg = presetConfig(preset);
    assert.equal(cfg.model.pin.useAuPrior, withAus, preset);
    const dir = join(work, preset);
    await saveModel(new PoiModel(cfg.model, FER_CLASSES, 5), cfg, dir);
    const t = await createRecognizer({ model: dir });
    try {
      const [f] = await t.recognize(crop, { aligned: true, explain: true });
      assert.equal(f.regions!.length, cfg.model.pin.regions.length, preset);
      assert.ok(f.objective && Math.abs(Object.values(f.objective).reduce((a, b) => a + b, 0) - 1) < 1e-3, preset);
      if (withAus) {
        assert.ok(f.aus && Object.keys(f.aus).length >= 10, `${preset}: AUs averaged over regions`);
        assert.ok(f.regions!.every((r) => Object.keys(r.aus).length === cfg.model.pin.regions.find((s) => s.name === r.name)!.aus.length));
      } else {
        assert.equal(f.aus, undefined, `${preset}: no AU readout without the prior`);
        assert.ok(f.regions!.every((r) => Object.keys(r.aus).length === 0));
      }
    } finally {
      t.dispose();
    }
  }
});
