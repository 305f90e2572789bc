/** poi fit-confidence: the agreement target, the head's fit, writing it back, and the command. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../src/backend/index.js';
import { mergeConfig, presetConfig } from '../src/model/config.js';
import { readModelFolder, readModelManifest, rewriteWeights, saveModel, unpackTensors, type TensorMap } from '../src/model/io.js';
import { PoiModel } from '../src/model/poi.js';
import { CONFIDENCE_TENSORS } from '../src/model/confidence.js';
import { voteAgreement } from '../src/eval/metrics.js';
import { fitConfidence } from '../src/eval/fit-confidence.js';
import { calibrateModel } from '../src/eval/calibrate-model.js';
import { predictModelSet } from '../src/eval/evaluate-model.js';
import { loadSet } from '../src/data/load.js';
import { createOrtRunner, onnxAvailable } from '../src/infer/ort-runner.js';
import { formatFitConfidence } from '../src/cli/fit-confidence.js';
import { Rng } from '../src/util/rng.js';
import { FER_CLASSES, syntheticPixels, tempDir, votesFor, writeFerplusSplit } from './helpers.js';

const noOrt = !onnxAvailable() && 'onnxruntime-node does not load here';
const cacheDir = tempDir('poi-fitconf-cache-');

before(async () => {
  process.env.POI_CACHE_DIR = cacheDir;
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

test('voteAgreement = 1 − H(votes)/log K: one class 1, uniform 0, a tie of two 1 − log 2/log K; counts or shares', () => {
  const k = 8;
  const rows = [
    [4, 0, 0, 0, 0, 0, 0, 0],
    [1, 1, 1, 1, 1, 1, 1, 1],
    [2, 2, 0, 0, 0, 0, 0, 0],
    [0.5, 0.5, 0, 0, 0, 0, 0, 0],
    [6, 0, 0, 4, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0],
  ];
  const a = voteAgreement(rows.flat(), k);
  const want = [1, 0, 1 - Math.log(2) / Math.log(8), 1 - Math.log(2) / Math.log(8), 1 + (0.6 * Math.log(0.6) + 0.4 * Math.log(0.4)) / Math.log(8), NaN];
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) assert.ok(Number.isNaN(a[i]), `row ${i}: no votes gives NaN`);
    else assert.ok(Math.abs(a[i] - want[i]) < 1e-12, `row ${i}: ${a[i]} against ${want[i]}`);
  }
  assert.ok(Math.abs(voteAgreement([3, 1], 2)[0] - (1 + (0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)) / Math.log(2))) < 1e-12);
  assert.throws(() => voteAgreement([1], 1), /at least 2 classes/);
});

/**
 * A FERPlus-layout folder whose annotators' agreement is a function of the image: faces of the even
 * classes get unanimous votes, the odd ones a 6-4 split.
 */
async function agreementData(train = 192, valid = 96): Promise<string> {
  const root = tempDir('poi-fitconf-data-');
  const votes = (_: number, c: number) => (c % 2 === 0 ? votesFor(c, 10, 0) : votesFor(c, 6, (c + 1) % 8));
  await writeFerplusSplit(join(root, 'FER2013Train'), train, 11, votes);
  await writeFerplusSplit(join(root, 'FER2013Valid'), valid, 12, votes);
  return root;
}

async function tinyModel(dir: string, preset = 'poi+tiny', seed = 4): Promise<void> {
  const cfg = mergeConfig(presetConfig(preset), {});
  const model = new PoiModel(cfg.model, FER_CLASSES, seed);
  await saveModel(model, cfg, dir);
  model.dispose();
}

async function tensorsOf(dir: string): Promise<TensorMap> {
  const f = await readModelFolder(dir);
  return unpackTensors(f.manifest.weights, f.weights, dir);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** The small fixtures want more, larger steps than the defaults for FERPlus's 28k faces. */
const SMALL_FIT = { epochs: 40, batchSize: 32, learningRate: 1e-2, quiet: true };

let data = '';
before(async () => {
  data = await agreementData();
});

test('fit-confidence: the fitted head ranks vote entropy where the trained one does not; probabilities unchanged; recorded; ONNX agrees', async (t) => {
  const root = tempDir('poi-fitconf-');
  const src = join(root, 'm');
  await tinyModel(src);
  const { exportOnnxFromDir } = await import('../src/onnx/export.js');
  if (!noOrt) await exportOnnxFromDir(src);

  const dry = await fitConfidence({ model: src, data, dryRun: true, ...SMALL_FIT });
  assert.equal(dry.out, null);
  assert.equal((await readModelManifest(src)).confidence, undefined, '--dry-run writes nothing');

  const out = join(root, 'fitted');
  const r = await fitConfidence({ model: src, data, out, ...SMALL_FIT });
  t.diagnostic(`Spearman before ${r.spearman.before}, after ${r.spearman.after}, 1 - max p ${r.spearman.oneMinusMaxP}; BCE ${r.loss[0]} → ${r.loss[r.loss.length - 1]}`);
  assert.deepEqual(r.spearman, dry.spearman, 'seeded: the same fit twice');
  assert.deepEqual(r.fittedOn, { dataset: 'ferplus:FER2013Train', split: 'train', n: 192 }, 'defaults to the training split');
  assert.deepEqual(r.measuredOn, { dataset: 'ferplus:FER2013Valid', split: 'valid', n: 96 });
  assert.equal(r.inSample, false);
  assert.equal(r.loss.length, 40);
  assert.ok(r.loss[r.loss.length - 1] < r.loss[0], 'the fit lowers the BCE');
  assert.ok(r.spearman.after > 0.6 && r.spearman.after > r.spearman.before + 0.3, JSON.stringify(r.spearman));
  assert.ok(r.verified && r.verified.faces === 96 && r.verified.maxProbDiff <= 1e-6 && r.verified.maxConfidenceDiff <= 1e-5, JSON.stringify(r.verified));
  assert.equal(r.onnxReexported, !noOrt);

  const m = await readModelManifest(out);
  const rec = m.confidence!;
  assert.equal(rec.target, 'vote-agreement');
  assert.deepEqual(rec.layers, ['trn.unc.hidden', 'trn.unc.out']);
  assert.deepEqual(rec.fittedOn, { dataset: 'ferplus:FER2013Train', split: 'train', n: 192, epochs: 40, seed: 1 });
  assert.deepEqual(rec.spearman, { dataset: 'ferplus:FER2013Valid', split: 'valid', n: 96, ...r.spearman });
  assert.equal(rec.previous, undefined);
  assert.equal(m.formatVersion, 1, 'the format needs no new version: older code ignores the entry');
  assert.ok(readdirSync(root).every((f) => !f.includes('.tmp-') && !f.includes('.old-')), 'no leftovers');

  // only the uncertainty head's tensors changed
  const before = await tensorsOf(src);
  const after = await tensorsOf(out);
  for (const [name, tb] of before) {
    const same = maxAbsDiff(tb.values, after.get(name)!.values) === 0;
    assert.equal(same, !CONFIDENCE_TENSORS.includes(name), `${name} ${same ? 'unchanged' : 'changed'}`);
  }

  // probabilities identical on every face, confidence the fitted head's
  const { set } = await loadSet(data, 'valid', m.input, { classes: m.classes, quiet: true });
  const p0 = await predictModelSet(src, set, { runtime: 'tfjs' });
  const p1 = await predictModelSet(out, set, { runtime: 'tfjs' });
  assert.ok(maxAbsDiff(p0.probs, p1.probs) <= 1e-6, 'probabilities unchanged');
  assert.ok(maxAbsDiff(p0.confidence, p1.confidence) > 1e-3, 'the confidence changed');
  if (!noOrt) {
    const runner = await createOrtRunner(out, { cacheDir });
    try {
      assert.equal(runner.file, join(out, 'model.onnx'), 'the re-exported model.onnx is the one that runs');
      const { predictSetWithRunner } = await import('../src/eval/predict.js');
      const o = await predictSetWithRunner(runner, set, m.input, 8);
      const d = maxAbsDiff(o.confidence, p1.confidence);
      t.diagnostic(`onnxruntime vs tfjs confidence after the refit: ${d}`);
      assert.ok(d < 1e-4, `onnx vs tfjs confidence ${d}`);
      assert.ok(maxAbsDiff(o.probs, p1.probs) < 1e-4);
    } finally {
      runner.dispose();
    }
    assert.ok(r.verified.onnx && r.verified.onnx.maxConfidenceDiff < 1e-4);
  }

  const text = formatFitConfidence(r);
  assert.match(text, /1 − c, head before +-?\d\.\d{3}/);
  assert.match(text, /1 − c, fitted head +\d\.\d{3}/);
  assert.match(text, /1 − max p +-?\d\.\d{3}/);
  assert.match(text, new RegExp(`wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

  // a second fit on the fitted folder: "before" is the first fit, whose record is kept as previous
  const again = await fitConfidence({ model: out, data, ...SMALL_FIT, seed: 2 });
  assert.ok(Math.abs(again.spearman.before - r.spearman.after) < 1e-9, 'before = the first fit');
  assert.equal(again.previous?.fittedOn.seed, 1);
  assert.match(formatFitConfidence(again), /already refitted/);
  const m2 = await readModelManifest(out);
  assert.equal(m2.confidence?.fittedOn.seed, 2);
  assert.equal(m2.confidence?.previous?.length, 1);
  assert.equal(m2.confidence?.previous?.[0].fittedOn.seed, 1);
});

test('fit-confidence and calibrate in either order: each keeps what the other wrote', async () => {
  const root = tempDir('poi-fitconf-order-');
  const src = join(root, 'm');
  await tinyModel(src, 'poi+tiny', 5);
  const opts = { data, ...SMALL_FIT, epochs: 5 };

  // fit, then calibrate: the fitted head and its record survive
  const fitted = join(root, 'fitted');
  await fitConfidence({ model: src, out: fitted, ...opts });
  const head = await tensorsOf(fitted);
  await calibrateModel({ model: fitted, data, runtime: 'tfjs', quiet: true });
  const a = await tensorsOf(fitted);
  for (const name of CONFIDENCE_TENSORS) assert.deepEqual(a.get(name)!.values, head.get(name)!.values, `${name} kept by calibrate`);
  assert.ok(maxAbsDiff(a.get('trn.head.w')!.values, head.get('trn.head.w')!.values) > 0, 'calibrate scaled the emotion head');
  const ma = await readModelManifest(fitted);
  assert.ok(ma.confidence && ma.calibration, 'both records');

  // calibrate, then fit: the temperature and its record survive
  const calibrated = join(root, 'calibrated');
  await calibrateModel({ model: src, data, out: calibrated, runtime: 'tfjs', quiet: true });
  const cal = await tensorsOf(calibrated);
  const r = await fitConfidence({ model: calibrated, ...opts });
  assert.ok(r.verified && r.verified.maxProbDiff <= 1e-6, 'the calibrated probabilities are kept');
  const b = await tensorsOf(calibrated);
  for (const name of ['trn.head.w', 'trn.head.b']) assert.deepEqual(b.get(name)!.values, cal.get(name)!.values, `${name} kept by fit-confidence`);
  const mb = await readModelManifest(calibrated);
  assert.ok(mb.confidence && mb.calibration, 'both records');
});

test('fit-confidence on a compact (float16) folder: the head is measured and checked as the folder stores it', async () => {
  const root = tempDir('poi-fitconf-f16-');
  const src = join(root, 'm');
  // wide enough that trn.unc.hidden.w has 1024+ values and is stored as float16
  const cfg = mergeConfig(presetConfig('poi+tiny'), { model: { uncertainty: { hidden: 64 } } });
  const model = new PoiModel(cfg.model, FER_CLASSES, 3);
  await saveModel(model, cfg, src);
  model.dispose();
  await rewriteWeights(src, src, 'float16');
  const r = await fitConfidence({ model: src, data, ...SMALL_FIT, epochs: 5 });
  assert.ok(r.verified && r.verified.maxConfidenceDiff <= 1e-5, JSON.stringify(r.verified));
  const m = await readModelManifest(src);
  assert.equal(m.weights.find((w) => w.name === 'trn.unc.hidden.w')?.dtype, 'float16', 'the folder stays compact');
});

test('fit-confidence refuses a model without the uncertainty head and data without votes, saying why', async () => {
  for (const [preset, why] of [
    ['ce+tiny', /method "ce" trains no uncertainty module/],
    ['ld+tiny', /method "ld" trains no uncertainty module/],
    ['poi-no-uncertainty+tiny', /trained without the uncertainty module \(uncertainty\.enabled: false\)/],
  ] as const) {
    const dir = join(tempDir(), preset);
    await tinyModel(dir, preset);
    await assert.rejects(fitConfidence({ model: dir, data, quiet: true }), (e: Error) => {
      assert.ok(e.message.startsWith(`${dir}: has no uncertainty head to refit`), e.message);
      assert.match(e.message, why);
      return true;
    });
  }
  // a folder-per-class dataset: labels, no votes
  const folderData = tempDir('poi-fitconf-folder-');
  const rng = new Rng(3);
  for (const split of ['train', 'val']) {
    for (const [c, name] of FER_CLASSES.entries()) {
      mkdirSync(join(folderData, split, name), { recursive: true });
      await sharp(Buffer.from(syntheticPixels(c, 16, rng)), { raw: { width: 16, height: 16, channels: 1 } }).png().toFile(join(folderData, split, name, 'a.png'));
    }
  }
  const dir = join(tempDir(), 'm');
  await tinyModel(dir);
  await assert.rejects(fitConfidence({ model: dir, data: folderData, quiet: true }), /^Error: folder:.*train: has no annotators' votes \(soft labels\).*needs each face's votes \(FERPlus's label\.csv\)/);
  assert.equal((await readModelManifest(dir)).confidence, undefined, 'nothing written');
});

test('poi fit-confidence --json end to end; usage errors exit 2', async () => {
  const BIN = resolve('bin/poi.js');
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, POI_CACHE_DIR: cacheDir }, timeout: 180_000 });
  const dir = join(tempDir('poi-fitconf-cli-'), 'm');
  {
    await tinyModel(dir);
    const r = run(['fit-confidence', dir, '--data', data, '--epochs', '3', '--seed', '7', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.epochs, 3);
    assert.equal(j.seed, 7);
    assert.equal(j.out, dir);
    assert.equal(j.fittedOn.split, 'train');
    assert.equal(j.measuredOn.split, 'valid');
    for (const k of ['before', 'after', 'oneMinusMaxP']) assert.ok(Number.isFinite(j.spearman[k]), k);
    assert.equal((await readModelManifest(dir)).confidence?.fittedOn.seed, 7);
    const text = run(['fit-confidence', dir, '--data', data, '--epochs', '1', '--val-split', 'train', '--dry-run']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /optimistic/);
    assert.match(text.stdout, /dry run: nothing written/);
    const noData = run(['fit-confidence', dir]);
    assert.equal(noData.status, 2);
    assert.match(noData.stderr, /--data <dir> is required/);
    const badEpochs = run(['fit-confidence', dir, '--data', data, '--epochs', '0']);
    assert.equal(badEpochs.status, 2);
    assert.match(badEpochs.stderr, /--epochs: must be >= 1/);
  }
});
