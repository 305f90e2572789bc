/**
 * The shared recognition pipeline (src/infer/pipeline.ts) run the way the browser page runs it
 * (web/src/engine.ts: RGBA pixels through photoFromRgba, a tfjs runner on the loaded model, unrounded
 * values), checked against createRecognizer: what test/web.test.ts checks in chromium, here without a
 * browser (CI without chromium still checks it). The detectors are the page's two kinds: BlazeFace, the
 * default on both sides, through the BlazeFaceNet and decoding the page runs (src/face/blazeface-net.ts), and
 * face-api's SSD with its 68 landmarks in one withFaceLandmarks call, as the page's face-api build does (the
 * recognizer runs SSD and the landmarks as two stages), with the same options on the same pixels. The
 * recognizer shrinks with the page's code (`shrink: 'js'`; sharp's shrink, Node's default, is held to its own
 * looser tolerance in test/photo.test.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import sharp from 'sharp';
import { createRecognizer, defaultModelDir, type Recognizer } from '../src/infer/recognizer.js';
import { createPipeline, photoFromRgba, type FaceResult, type Platform } from '../src/infer/pipeline.js';
import { createTfjsRunner, withFlipTta, type TrnRunner, type Tta } from '../src/infer/runner.js';
import { STAGES } from '../src/infer/timing.js';
import { FaceDetector, faceApiSample } from '../src/face/detector.js';
import { BlazeFace, blazefaceFace } from '../src/face/blazeface.js';
import { DEFAULT_LOCATOR } from '../src/face/kinds.js';
import { DEFAULT_MAX_SIDE } from '../src/face/resize.js';
import { loadModel } from '../src/model/io.js';
import type { PoiModel } from '../src/model/poi.js';
import { describeUncertainty } from '../src/ui/describe.js';
import { FER_CLASSES, tempDir } from './helpers.js';

const SAMPLE1 = faceApiSample(1);
/** Rounding of the recognizer's output (4 decimals) plus float noise: both sides run the same code on the same engine. */
const TOLERANCE = 2e-4;

/** The recognizer with its default detector (BlazeFace), with flip TTA, and with SSD. */
let node: Recognizer;
let nodeFlip: Recognizer;
let nodeSsd: Recognizer;
let model: PoiModel;
let blazeface: BlazeFace;
let ssd: FaceDetector;
let work: string;
let face: string;

before(async () => {
  node = await createRecognizer({ runtime: 'tfjs', shrink: 'js' });
  nodeFlip = await createRecognizer({ runtime: 'tfjs', tta: 'flip', shrink: 'js' });
  nodeSsd = await createRecognizer({ runtime: 'tfjs', shrink: 'js', detector: 'ssd' });
  model = (await loadModel(defaultModelDir())).model;
  blazeface = await BlazeFace.load();
  ssd = await FaceDetector.create({ detector: 'ssd', minScore: 0.5, maxFaces: 100 });
  work = tempDir('poi-pipeline-');
  // the chromium test's one-face PNG: a lossless crop of sample1.jpg under 1280 px
  face = join(work, 'one-face.png');
  await sharp(SAMPLE1).extract({ left: 1260, top: 40, width: 640, height: 640 }).png().toFile(face);
});
after(() => {
  node.dispose();
  nodeFlip.dispose();
  nodeSsd.dispose();
  model.dispose();
  rmSync(work, { recursive: true, force: true });
});

type PageDetector = 'blazeface' | 'ssd';

/**
 * The page's platform with Node's decoder: RGBA in, as a canvas's getImageData gives it; the detector as
 * web/src/engine.ts calls it (its default unless told).
 */
function pagePlatform(detector: PageDetector = DEFAULT_LOCATOR as PageDetector): Platform<string> {
  return {
    async decode(path) {
      const { data, info } = await sharp(path).rotate().ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      return photoFromRgba(data, info.width, info.height, DEFAULT_MAX_SIDE);
    },
    detect: async (img) =>
      detector === 'blazeface'
        ? (await blazeface.detect(img, { minScore: 0.5, maxFaces: 100 })).map(blazefaceFace)
        : ssd.detect(img.data as Uint8Array, img.width, img.height),
  };
}

/** What web/src/engine.ts recognize does, minus the canvas and face-api. */
async function pageRecognize(path: string, opts: { explain?: boolean; tta?: Tta; detector?: PageDetector } = {}) {
  const base = createTfjsRunner(model);
  const runner = opts.tta === 'flip' ? withFlipTta(base, model.config.input) : base;
  const pipeline = createPipeline({ classes: model.classes, input: model.config.input, runner, getModel: async () => model, platform: pagePlatform(opts.detector), round: false });
  try {
    return await pipeline.recognize(path, { explain: opts.explain });
  } finally {
    runner.dispose();
  }
}

const centre = (b: FaceResult['box']) => [b.x + b.width / 2, b.y + b.height / 2];
const distance = (a: FaceResult['box'], b: FaceResult['box']) => Math.hypot(centre(a)[0] - centre(b)[0], centre(a)[1] - centre(b)[1]);
const nearest = (faces: FaceResult[], box: FaceResult['box']) => faces.reduce((a, b) => (distance(a.box, box) <= distance(b.box, box) ? a : b));

function compare(shown: FaceResult[], want: FaceResult[], what: string): void {
  assert.equal(shown.length, want.length, `${what}: ${shown.length} faces from the page's pipeline, ${want.length} from the recognizer`);
  for (const w of want) {
    const s = nearest(shown, w.box);
    assert.ok(distance(s.box, w.box) < 0.01 * w.box.width, `${what}: no face near ${JSON.stringify(w.box)}`);
    assert.deepEqual(Object.keys(s).sort(), Object.keys(w).sort(), `${what}: one result shape`);
    assert.deepEqual(Object.keys(s.emotions), Object.keys(w.emotions), `${what}: classes differ`);
    for (const [c, p] of Object.entries(w.emotions)) assert.ok(Math.abs(s.emotions[c] - p) <= TOLERANCE, `${what}: ${c} ${s.emotions[c]} vs ${p}`);
    assert.ok(Math.abs(s.confidence - w.confidence) <= TOLERANCE, `${what}: confidence ${s.confidence} vs ${w.confidence}`);
    assert.equal(s.emotion, w.emotion);
  }
}

test('pipeline as the page runs it: the one-face PNG and sample1.jpg give what createRecognizer gives, by default (BlazeFace) and with SSD', async () => {
  assert.equal(node.detector, DEFAULT_LOCATOR, "the recognizer's default is the page's");
  const one = await pageRecognize(face);
  compare(one.faces, await node.recognize(face), 'one-face.png');
  const f = one.faces[0];
  assert.deepEqual(Object.keys(f.emotions), FER_CLASSES, 'one value (bar) per class');
  assert.ok(Math.abs(Object.values(f.emotions).reduce((a, b) => a + b, 0) - 1) < 1e-4, 'the distribution sums to 1');
  assert.match(describeUncertainty(f.emotions, f.confidence).sentence, /^(clear|probably|ambiguous|unsure)/);
  const { height, width, channels } = model.config.input;
  assert.equal(one.crops.length, 1);
  assert.equal(one.crops[0].length, height * width * channels, 'the aligned input the page shows');
  // unrounded, as the page puts them in the DOM
  assert.ok(Object.values(f.emotions).some((p) => Math.round(p * 1e4) / 1e4 !== p));

  const three = await pageRecognize(SAMPLE1);
  assert.equal(three.width, 1920);
  compare(three.faces, await node.recognize(SAMPLE1), 'sample1.jpg');
  assert.ok(three.faces.every((f) => f.landmarks!.length === 6), "BlazeFace's six keypoints");

  const withSsd = await pageRecognize(SAMPLE1, { detector: 'ssd' });
  compare(withSsd.faces, await nodeSsd.recognize(SAMPLE1), 'sample1.jpg with SSD');
  assert.ok(withSsd.faces.every((f) => f.landmarks!.length === 68), "face-api's 68 landmarks");
});

test('pipeline: explain gives every face PIN regions (boxes on the photo and on the crop) and AUs, as the recognizer does', async () => {
  const res = await pageRecognize(SAMPLE1, { explain: true });
  const want = await node.recognize(SAMPLE1, { explain: true });
  compare(res.faces, want, 'sample1.jpg explained');
  for (const f of res.faces) {
    assert.equal(f.regions!.length, 4);
    const w = nearest(want, f.box);
    f.regions!.forEach((r, j) => {
      assert.equal(r.name, w.regions![j].name);
      assert.deepEqual(r.cropBox, w.regions![j].cropBox);
      assert.equal(r.cropBox.length, 4);
      assert.equal(r.polygon.length, 4);
      assert.deepEqual(Object.keys(r.aus), Object.keys(w.regions![j].aus));
      for (const [au, v] of Object.entries(r.aus)) assert.ok(Math.abs(v - w.regions![j].aus[au]) <= TOLERANCE, `${r.name} ${au}`);
      assert.ok(Math.abs(r.box.x - w.regions![j].box.x) < 0.2 && Math.abs(r.box.width - w.regions![j].box.width) < 0.2);
    });
    assert.deepEqual(Object.keys(f.aus!), Object.keys(w.aus!));
    assert.deepEqual(Object.keys(f.objective!), FER_CLASSES);
  }
});

test('pipeline: flip TTA gives what the recognizer with tta flip gives, and differs from the plain reading', async () => {
  const plain = await node.recognize(SAMPLE1);
  const flipWant = await nodeFlip.recognize(SAMPLE1);
  const moved = Math.max(...plain.flatMap((w) => {
    const f = nearest(flipWant, w.box);
    return FER_CLASSES.map((c) => Math.abs(w.emotions[c] - f.emotions[c]));
  }));
  assert.ok(moved > 0.005, `flip TTA changes sample1.jpg's probabilities by only ${moved}`);
  compare((await pageRecognize(SAMPLE1, { tta: 'flip' })).faces, flipWant, 'sample1.jpg with flip TTA');
});

test('photoFromRgba: drops alpha and shrinks with the decoder\'s code', () => {
  const rgba = new Uint8Array([1, 2, 3, 255, 4, 5, 6, 0]);
  const p = photoFromRgba(rgba, 2, 1, 1280);
  assert.deepEqual([...p.image.data], [1, 2, 3, 4, 5, 6]);
  assert.equal(p.scale, 1);
  assert.equal(p.width, 2);
  const big = photoFromRgba(new Uint8Array(2000 * 10 * 4), 2000, 10, 1000);
  assert.equal(big.image.width, 1000);
  assert.equal(big.scale, 2);
  assert.equal(big.width, 2000);
  assert.throws(() => photoFromRgba(rgba, 3, 1, 1280), /expected 3x1x4/);
});

test('pipeline: recognizeBatch is one TRN call for every face, the same answers as one photo at a time, stages timed, errors in place', async () => {
  const base = createTfjsRunner(model);
  const calls: number[] = [];
  const runner: TrnRunner = { backend: base.backend, run: (x, n) => (calls.push(n), base.run(x, n)), dispose: () => base.dispose() };
  let landmarkMs = 0;
  const page = pagePlatform();
  const platform: Platform<string> = {
    ...page,
    // a detector that reports a landmark stage of its own: the pipeline splits its time out of detect
    async detect(img, timing) {
      const found = await page.detect(img);
      if (timing) timing.landmarks += 1;
      landmarkMs += 1;
      return found;
    },
  };
  const pipeline = createPipeline({ classes: model.classes, input: model.config.input, runner, getModel: async () => model, platform, round: false });
  try {
    const out = await pipeline.recognizeBatch([face, join(work, 'missing.png'), SAMPLE1], { explain: true });
    assert.equal(out.length, 3);
    assert.ok(out[1] instanceof Error, 'the missing file fails in its place');
    const ok = [out[0], out[2]] as Exclude<(typeof out)[number], Error>[];
    assert.deepEqual(calls, [ok[0].faces.length + ok[1].faces.length], 'one TRN call with every face');
    assert.equal(landmarkMs, 2);
    for (const [i, path] of [[0, face], [1, SAMPLE1]] as const) {
      const one = await pageRecognize(path, { explain: true });
      compare(ok[i].faces, one.faces, `${path} in a batch`);
      assert.equal(ok[i].crops.length, ok[i].faces.length);
      assert.ok(ok[i].faces.every((f) => f.regions!.length === 4), 'PIN explained every face of the batch');
      const t = ok[i].timing;
      for (const k of STAGES) assert.ok(t[k] > 0, `${path}: ${k} ${t[k]}`);
      assert.equal(t.landmarks, 1, 'the platform\'s own landmark time');
    }
    // the page's platform has no aligned decoding and no cropped-face locating
    await assert.rejects(pipeline.recognize(face, { aligned: true }), /aligned inputs are not supported/);
    await assert.rejects(pipeline.recognize(face, { crop: true }), /cropped-face inputs are not supported/);
  } finally {
    runner.dispose();
  }
});
