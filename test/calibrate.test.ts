/** Temperature scaling: the fit, the cross-fit, baking 1/T into TRN's head, and `poi calibrate`. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { mergeConfig, presetConfig } from '../src/model/config.js';
import { loadModel, readModelManifest, saveModel, type CalibrationRecord } from '../src/model/io.js';
import { PoiModel } from '../src/model/poi.js';
import { writeCalibratedModel } from '../src/model/calibration.js';
import { crossFitTemperature, fitTemperature, logitsFromProbs, meanNll, scaleProbs, temperatureNll, uncertaintyVsVotes } from '../src/eval/calibrate.js';
import { expectedCalibrationError } from '../src/eval/metrics.js';
import { createOrtRunner, onnxAvailable, resolveOnnxFile } from '../src/infer/ort-runner.js';
import { calibrateCommand, formatCalibration } from '../src/cli/calibrate.js';
import { calibrateModel } from '../src/eval/calibrate-model.js';
import { Rng } from '../src/util/rng.js';
import { FER_CLASSES, tempDir, votesFor, writeFerplusSplit } from './helpers.js';

const noOrt = !onnxAvailable() && 'onnxruntime-node does not load here';
const cacheDir = tempDir('poi-calib-cache-');

before(async () => {
  process.env.POI_CACHE_DIR = cacheDir;
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

function softmaxRows(z: ArrayLike<number>, k: number): Float32Array {
  const out = new Float32Array(z.length);
  for (let i = 0; i < z.length / k; i++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, z[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(z[i * k + j] - m);
    for (let j = 0; j < k; j++) out[i * k + j] = Math.exp(z[i * k + j] - m) / s;
  }
  return out;
}

/**
 * Labels drawn from softmax(z) for random true logits z; the "model" reports z·scale, so it is
 * over-confident for scale > 1 and under-confident for scale < 1, and the right temperature is scale.
 */
function synthetic(n: number, k: number, scale: number, seed: number): { logits: Float64Array; probs: Float32Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const z = new Float64Array(n * k);
  for (let i = 0; i < z.length; i++) z[i] = rng.normal() * 2;
  const p = softmaxRows(z, k);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let u = rng.next();
    let y = 0;
    while (y < k - 1 && (u -= p[i * k + y]) > 0) y++;
    labels[i] = y;
  }
  const logits = z.map((v) => v * scale);
  return { logits, probs: softmaxRows(logits, k), labels };
}

for (const scale of [2.5, 0.6]) {
  test(`fitTemperature recovers a known temperature (${scale}) and lowers NLL and ECE`, () => {
    const { logits, probs, labels } = synthetic(6000, 8, scale, 11);
    const fit = fitTemperature(logits, labels);
    assert.ok(Math.abs(fit.temperature / scale - 1) < 0.06, `fitted ${fit.temperature}, true ${scale}`);
    assert.equal(fit.atBound, false);
    assert.equal(fit.n, 6000);
    assert.ok(fit.nllAfter < fit.nllBefore - 0.01, `NLL ${fit.nllBefore} → ${fit.nllAfter}`);
    // it is a minimum: nearby temperatures are worse
    for (const f of [0.97, 1.03]) assert.ok(temperatureNll(logits, labels, fit.temperature * f) > fit.nllAfter);
    // fitting from probabilities (log p = logits up to a per-row constant) gives the same T
    const fromProbs = fitTemperature(logitsFromProbs(probs), labels);
    assert.ok(Math.abs(fromProbs.temperature - fit.temperature) < 1e-3);
    const calibrated = scaleProbs(probs, 8, fit.temperature);
    assert.ok(Math.abs(meanNll(calibrated, labels) - fit.nllAfter) < 1e-4);
    const eceBefore = expectedCalibrationError(probs, labels).ece;
    const eceAfter = expectedCalibrationError(calibrated, labels).ece;
    assert.ok(eceAfter < 0.03 && eceAfter < eceBefore / 2, `ECE ${eceBefore} → ${eceAfter}`);
  });
}

test('scaleProbs(softmax(z), T) = softmax(z / T); unlabelled rows are skipped by the fit', () => {
  const { logits, probs, labels } = synthetic(50, 5, 1, 3);
  const got = scaleProbs(probs, 5, 0.7);
  const want = softmaxRows(logits.map((v) => v / 0.7), 5);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-6);
  const masked = Int32Array.from(labels, (y, i) => (i < 10 ? -1 : y));
  const a = fitTemperature(logits, masked);
  const b = fitTemperature(logits.subarray(50), labels.subarray(10));
  assert.equal(a.n, 40);
  assert.ok(Math.abs(a.temperature - b.temperature) < 1e-6);
});

test('crossFitTemperature: seeded, one T per fold, pooled out-of-fold ECE', () => {
  const { probs, labels } = synthetic(3000, 8, 0.6, 5);
  const a = crossFitTemperature(probs, labels, { seed: 1 });
  const b = crossFitTemperature(probs, labels, { seed: 1 });
  const c = crossFitTemperature(probs, labels, { seed: 2 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.temperatures, c.temperatures);
  assert.equal(a.folds, 2);
  assert.equal(a.n, 3000);
  assert.equal(a.temperatures.length, 2);
  for (const t of a.temperatures) assert.ok(Math.abs(t / 0.6 - 1) < 0.1, `fold T ${t}`);
  assert.ok(a.ece < expectedCalibrationError(probs, labels).ece);
  assert.ok(a.nll < meanNll(probs, labels));
});

test('bad inputs to the fit give clear errors', () => {
  assert.throws(() => fitTemperature([0.1, 0.9, 0.5, 0.5], [-1, -1]), /no labelled samples/);
  assert.throws(() => fitTemperature([0.1, 0.9], [3]), /label 0 is 3/);
  assert.throws(() => scaleProbs([0.5, 0.5], 2, 0), /positive/);
  assert.throws(() => crossFitTemperature([0.5, 0.5], [1], {}), /cannot make 2 folds/);
});

test('uncertaintyVsVotes: every score is correlated with the vote entropy where it should be', () => {
  // faces whose votes are split get flatter predictions and lower confidence
  const n = 40;
  const k = 3;
  const probs = new Float32Array(n * k);
  const votes = new Float32Array(n * k);
  const conf = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = i / n; // ambiguity
    votes.set([1 - a / 2, a / 2, 0], i * k);
    probs.set([1 - a / 2, a / 3, a / 6], i * k);
    conf[i] = 1 - a;
  }
  const r = uncertaintyVsVotes(probs, conf, votes, k);
  assert.deepEqual(Object.keys(r), ['1-c', '1-max p', 'entropy', '(1-c)+entropy rank-avg']);
  for (const v of Object.values(r)) assert.ok(v > 0.99, JSON.stringify(r));
});

async function tinyModel(dir: string, seed = 4): Promise<PoiModel> {
  const cfg = presetConfig('poi+tiny');
  const model = new PoiModel(cfg.model, FER_CLASSES, seed);
  // the initial head already gives logits spread over ~8 nats; a bias makes the classes unequal
  const vals = await model.params.read();
  vals.get('trn.head.b')!.values = Float32Array.from({ length: 8 }, (_, j) => (j - 4) * 0.3);
  model.params.load(vals);
  await saveModel(model, mergeConfig(cfg, {}), dir);
  return model;
}

function inputs(n: number, seed = 9): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * 16 * 16 }, () => rng.normal());
}

test('baking 1/T into trn.head = dividing the logits by T (tfjs and onnxruntime); confidence untouched', async (t) => {
  const root = tempDir('poi-calib-model-');
  const src = join(root, 'm');
  const out = join(root, 'calibrated');
  const model = await tinyModel(src);
  const n = 12;
  const x = tf.tensor4d(inputs(n), [n, 16, 16, 1]);
  const p0 = model.predict(x);
  const probs0 = (await p0.probs.data()) as Float32Array;
  const conf0 = (await p0.confidence.data()) as Float32Array;
  tf.dispose([p0.probs, p0.confidence]);
  model.dispose();
  const T = 1.7;
  const record: CalibrationRecord = {
    method: 'temperature',
    temperature: T,
    layer: 'trn.head',
    fittedOn: { dataset: 'synthetic', split: 'val', n: 1 },
    before: { nll: 1, ece: 0.1 },
    after: { nll: 0.9, ece: 0.05 },
    crossFitted: { folds: 2, seed: 1, temperatures: [T, T], ece: 0.06, nll: 0.91 },
    calibratedAt: new Date().toISOString(),
  };
  await writeCalibratedModel(src, out, T, record);
  assert.deepEqual((await readModelManifest(out)).calibration, record, 'model.json records the calibration');
  assert.equal((await readModelManifest(src)).calibration, undefined, 'the source folder is untouched');
  const { model: cal } = await loadModel(out);
  const p1 = cal.predict(x);
  const probs1 = (await p1.probs.data()) as Float32Array;
  const conf1 = (await p1.confidence.data()) as Float32Array;
  tf.dispose([p1.probs, p1.confidence, x]);
  cal.dispose();
  const want = scaleProbs(probs0, 8, T);
  let d = 0;
  for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(probs1[i] - want[i]));
  t.diagnostic(`tfjs: max |p_baked - softmax(z/T)| = ${d}`);
  assert.ok(d < 1e-5, `baked vs scaled: ${d}`);
  assert.ok(probs1.some((v, i) => Math.abs(v - probs0[i]) > 1e-3), 'the temperature changed the probabilities');
  assert.deepEqual(conf1, conf0, 'the uncertainty head reads features, not logits');
  if (noOrt) return;
  // new weights → new fingerprint → a fresh ONNX export, which agrees with tfjs
  assert.notEqual((await resolveOnnxFile(src, { cacheDir })).file, (await resolveOnnxFile(out, { cacheDir })).file);
  const runner = await createOrtRunner(out, { cacheDir });
  try {
    const o = await runner.run(inputs(n), n);
    let e = 0;
    for (let i = 0; i < o.probs.length; i++) e = Math.max(e, Math.abs(o.probs[i] - probs1[i]));
    t.diagnostic(`onnxruntime vs tfjs after calibration: ${e}`);
    assert.ok(e < 1e-4, `onnx vs tfjs ${e}`);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(o.confidence[i] - conf0[i]) < 1e-4);
  } finally {
    runner.dispose();
  }
});

/** A FERPlus-layout folder (images in FER2013Valid only) of 16x16 synthetic faces; `labelled` = false puts every vote on not-a-face. */
async function ferplusFolder(n: number, labelled: boolean): Promise<string> {
  const root = tempDir('poi-calib-data-');
  mkdirSync(join(root, 'FER2013Train')); // empty: only its presence tells the layout
  await writeFerplusSplit(join(root, 'FER2013Valid'), n, 3, (_, c) => (labelled ? votesFor(c, 7, (c + 3) % 8) : votesFor(9, 10, 9)));
  return root;
}

test('poi calibrate: fits, writes, verifies, records; a second run multiplies the temperature and says so', async () => {
  const data = await ferplusFolder(48, true);
  const root = tempDir('poi-calib-cli-');
  const src = join(root, 'm');
  (await tinyModel(src, 6)).dispose();
  const { exportOnnxFromDir } = await import('../src/onnx/export.js');
  if (!noOrt) await exportOnnxFromDir(src);

  const dry = await calibrateModel({ model: src, data, split: 'valid', dryRun: true, quiet: true });
  assert.equal(dry.out, null);
  assert.equal((await readModelManifest(src)).calibration, undefined, '--dry-run writes nothing');

  const out = join(root, 'cal');
  const r1 = await calibrateModel({ model: src, data, out, quiet: true });
  assert.equal(r1.split, 'valid', 'defaults to the validation split');
  assert.equal(r1.n, 48);
  assert.ok(r1.temperature > 0 && r1.after.nll <= r1.before.nll + 1e-9);
  assert.equal(r1.after.accuracy, r1.before.accuracy, 'accuracy does not move');
  assert.equal(r1.after.acc50, r1.before.acc50, 'risk-coverage by 1-c does not move');
  assert.ok(r1.verified && r1.verified.maxProbDiff < 1e-4 && r1.verified.maxConfidenceDiff < 1e-4);
  assert.equal(r1.onnxReexported, !noOrt);
  const m1 = await readModelManifest(out);
  assert.equal(m1.calibration?.temperature, r1.temperature);
  assert.equal(m1.calibration?.fittedOn.split, 'valid');
  assert.equal(m1.calibration?.crossFitted.ece, r1.crossFitted.ece);
  assert.ok(readdirSync(root).every((f) => !f.includes('.tmp-') && !f.includes('.old-')), 'no leftovers');
  const text1 = formatCalibration(r1);
  assert.match(text1, /cross-fitted/);
  assert.match(text1, /optimistic/);
  assert.doesNotMatch(text1, /already calibrated/);

  const r2 = await calibrateModel({ model: out, data, quiet: true });
  assert.equal(r2.previousTemperature, r1.temperature);
  assert.ok(Math.abs(r2.totalTemperature - r1.temperature * r2.temperature) < 1e-12);
  assert.match(formatCalibration(r2), /already calibrated/);
  const m2 = await readModelManifest(out);
  assert.equal(m2.calibration?.temperature, r2.totalTemperature);
  assert.equal(m2.calibration?.previous?.length, 1);
  assert.equal(m2.calibration?.previous?.[0].temperature, r1.temperature);
  // and the model still loads and runs
  const { model } = await loadModel(out);
  model.dispose();
});

test('poi calibrate: unknown model folder, missing --data, unlabelled data give clear errors', async () => {
  const data = await ferplusFolder(8, true);
  await assert.rejects(calibrateCommand([join(tempDir(), 'nope'), '--data', data]), /nope: not a poi model folder \(no model\.json\)/);
  await assert.rejects(calibrateCommand(['x']), /--data <dir> is required/);
  await assert.rejects(calibrateCommand(['--data', data]), /expected one model folder/);
  const dir = join(tempDir(), 'm');
  (await tinyModel(dir)).dispose();
  const unlabelled = await ferplusFolder(8, false);
  await assert.rejects(calibrateModel({ model: dir, data: unlabelled, quiet: true }), /no labelled images found/);
  assert.ok(existsSync(join(dir, 'model.json')) && !JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')).calibration);
});

test('poi calibrate --tta flip: T fitted to the flip-averaged reading, recorded, the baked head checked on the plain reading', async () => {
  const data = await ferplusFolder(48, true);
  const root = tempDir('poi-calib-tta-');
  const src = join(root, 'm');
  (await tinyModel(src, 7)).dispose();
  const { predictModelSet } = await import('../src/eval/evaluate-model.js');
  const { loadSet } = await import('../src/data/load.js');
  const manifest = await readModelManifest(src);
  const { set } = await loadSet(data, 'valid', manifest.input, { classes: manifest.classes, quiet: true });
  const flip = await predictModelSet(src, set, { runtime: 'tfjs', tta: 'flip' });
  const plain = await predictModelSet(src, set, { runtime: 'tfjs' });
  const tFlip = fitTemperature(logitsFromProbs(flip.probs), set.labels).temperature;
  const tPlain = fitTemperature(logitsFromProbs(plain.probs), set.labels).temperature;
  assert.notEqual(meanNll(flip.probs, set.labels), meanNll(plain.probs, set.labels), 'the two readings differ');

  const out = join(root, 'cal');
  const r = await calibrateModel({ model: src, data, out, tta: 'flip', runtime: 'tfjs', quiet: true });
  assert.equal(r.temperature, tFlip);
  assert.ok(Math.abs(r.before.nll - meanNll(flip.probs, set.labels)) < 1e-9, 'fitted and measured on the flip reading');
  assert.match(r.runtime, /\+flip$/);
  assert.ok(r.verified && r.verified.maxProbDiff < 1e-4 && r.verified.maxConfidenceDiff < 1e-4, JSON.stringify(r.verified));
  const m = await readModelManifest(out);
  assert.equal(m.calibration?.fittedOn.tta, 'flip');
  assert.equal((await calibrateModel({ model: src, data, dryRun: true, quiet: true, runtime: 'tfjs' })).temperature, tPlain);
  // the command takes the run and data groups
  const cli = await calibrateCommand([src, '--data', data, '--dry-run', '--json', '--tta', 'flip', '--runtime', 'tfjs', '--votes', 'raw']);
  assert.equal(cli, 0);
  await assert.rejects(calibrateCommand([src, '--data', data, '--tta', 'mirror']), /--tta: expected none or flip, got "mirror"/);
});

test('rewriteModelFolder (export --weights, calibrate, balance): other files kept, model.onnx exported afresh, folders that are not models refused', async () => {
  const { rewriteWeights } = await import('../src/model/io.js');
  const { writeFileSync } = await import('node:fs');
  const root = tempDir('poi-rewrite-');
  const src = join(root, 'm');
  (await tinyModel(src, 3)).dispose();
  writeFileSync(join(src, 'NOTES.txt'), 'kept');
  writeFileSync(join(src, 'model.onnx'), 'stale');
  const r = await rewriteWeights(src, src, 'float16');
  assert.ok(r.after < r.before);
  assert.equal(readFileSync(join(src, 'NOTES.txt'), 'utf8'), 'kept', 'in place keeps the folder\'s other files');
  // the old export does not hold these weights: a new one does (its fingerprint is theirs)
  assert.notEqual(readFileSync(join(src, 'model.onnx'), 'utf8'), 'stale');
  assert.deepEqual(await resolveOnnxFile(src, { cacheDir: tempDir('poi-rewrite-cache-') }), { file: join(src, 'model.onnx'), exported: false });
  assert.ok((await readModelManifest(src)).weights.some((w) => w.dtype === 'float16'));
  (await loadModel(src)).model.dispose();
  const other = join(root, 'not-a-model');
  mkdirSync(other);
  writeFileSync(join(other, 'photo.jpg'), 'x');
  await assert.rejects(rewriteWeights(src, other, 'float32'), /not-a-model: exists and is not a poi model folder; refusing to replace it/);
  assert.ok(existsSync(join(other, 'photo.jpg')));
  const file = join(root, 'a-file');
  writeFileSync(file, 'x');
  await assert.rejects(writeCalibratedModel(src, file, 2, {} as CalibrationRecord), /a-file: exists and is not a folder/);
  assert.equal(readFileSync(file, 'utf8'), 'x');
  await rewriteWeights(src, join(root, 'copy'), 'uint8');
  assert.equal(readFileSync(join(root, 'copy', 'NOTES.txt'), 'utf8'), 'kept');
  assert.deepEqual(await resolveOnnxFile(join(root, 'copy'), { cacheDir: tempDir('poi-rewrite-cache-') }), { file: join(root, 'copy', 'model.onnx'), exported: false });
  const bare = join(root, 'bare');
  (await tinyModel(bare, 4)).dispose();
  assert.equal((await rewriteWeights(bare, bare, 'float16')).onnx, false);
  assert.ok(!existsSync(join(bare, 'model.onnx')), 'a folder without an export does not get one');
  assert.ok(readdirSync(root).every((f) => !f.includes('.tmp-') && !f.includes('.old-')), 'no leftovers');
});
