/**
 * Per-model describe bands: describeOptionsFor reads a model folder's `describe` record (else the defaults),
 * describeUncertainty bands with them, and the model-folder rewrites keep the record, except those that
 * change c (fit-confidence; balance and calibrate on a model whose c is its top probability), which drop it.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { mergeConfig, presetConfig } from '../src/model/config.js';
import { readModelFolder, readModelManifest, rewriteModelFolder, rewriteWeights, saveModel, unpackTensors, writeDescribeRecord, type DescribeRecord } from '../src/model/io.js';
import { PoiModel } from '../src/model/poi.js';
import { writeBalancedModel } from '../src/model/balance.js';
import { writeCalibratedModel } from '../src/model/calibration.js';
import { CONFIDENCE_TENSORS, writeConfidenceHead } from '../src/model/confidence.js';
import { resolveOnnxFile } from '../src/infer/ort-runner.js';
import { formatFitConfidence, type FitConfidenceResult } from '../src/cli/fit-confidence.js';
import { formatCalibration, type CalibrateResult } from '../src/cli/calibrate.js';
import { DEFAULT_DESCRIBE, describeBandsProblem, describeOptionsFor, describeUncertainty } from '../src/ui/describe.js';
import * as api from '../src/index.js';
import { FER_CLASSES, tempDir } from './helpers.js';

before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

const RECORD: DescribeRecord = {
  sureAbove: 0.7,
  unsureBelow: 0.4,
  tunedOn: { dataset: 'ferplus:FER2013Valid', split: 'valid', n: 3191 },
  target: { clear: 0.85, unsure: 0.55 },
  tunedAt: '2025-01-01T00:00:00.000Z',
};

const HAPPY = { neutral: 0.02, happiness: 0.9, surprise: 0.02, sadness: 0.02, anger: 0.01, disgust: 0.01, fear: 0.01, contempt: 0.01 };

test('describeOptionsFor: a folder\'s own bands when model.json has them, the defaults when not; unusable bands refused', () => {
  assert.deepEqual(describeOptionsFor({ describe: RECORD }), { ...DEFAULT_DESCRIBE, sureAbove: 0.7, unsureBelow: 0.4 });
  assert.deepEqual(describeOptionsFor({}), DEFAULT_DESCRIBE);
  assert.notEqual(describeOptionsFor({}), DEFAULT_DESCRIBE, 'a copy: a caller may change it');
  assert.throws(() => describeOptionsFor({ describe: { ...RECORD, sureAbove: NaN } }), /"describe": sureAbove must be a number in \[0, 1\], got NaN/);
  // JSON turns NaN into null
  assert.throws(() => describeOptionsFor({ describe: { ...RECORD, unsureBelow: null as unknown as number } }), /unsureBelow must be a number in \[0, 1\], got null/);
  assert.throws(() => describeOptionsFor({ describe: { ...RECORD, sureAbove: 0.3 } }), /unsureBelow \(0.4\) is above sureAbove \(0.3\)/);
  assert.equal(describeBandsProblem({ sureAbove: 1.2, unsureBelow: 0.5 }), 'sureAbove must be a number in [0, 1], got 1.2');
  assert.equal(describeBandsProblem({ sureAbove: 0.5, unsureBelow: 0.5 }), null, 'equal bands: no "probably"');
  assert.equal(api.describeOptionsFor, describeOptionsFor, 'the Node API exports it next to describeUncertainty');
});

test('describeUncertainty bands with a model\'s options: its edges, not the defaults\'', () => {
  const own = describeOptionsFor({ describe: RECORD });
  const dflt = describeOptionsFor({});
  // c between the two sets of edges reads differently
  assert.equal(describeUncertainty(HAPPY, 0.75, own).sentence, 'clear: happiness');
  assert.equal(describeUncertainty(HAPPY, 0.75, dflt).sentence, 'probably happiness');
  assert.equal(describeUncertainty(HAPPY, 0.5, own).level, 'probable');
  assert.equal(describeUncertainty(HAPPY, 0.5, dflt).level, 'unsure');
  assert.equal(describeUncertainty(HAPPY, 0.3, own).band, 'low');
  // the edges themselves: c = sureAbove is clear, c = unsureBelow is probably
  assert.equal(describeUncertainty(HAPPY, RECORD.sureAbove, own).band, 'high');
  assert.equal(describeUncertainty(HAPPY, RECORD.unsureBelow, own).band, 'mid');
  assert.equal(describeUncertainty(HAPPY, 0.39999, own).band, 'low');
  // the other options stay the defaults'
  assert.equal(describeUncertainty({ a: 0.5, b: 0.25, c: 0.25 }, 0.9, own).sentence, 'ambiguous: a, b or c');
});

async function tinyModel(dir: string, preset: string, seed = 3): Promise<void> {
  const cfg = mergeConfig(presetConfig(preset), {});
  const model = new PoiModel(cfg.model, FER_CLASSES, seed);
  await saveModel(model, cfg, dir);
  model.dispose();
}

const PRIOR = { prior: [0.3, 0.3, 0.1, 0.1, 0.1, 0.02, 0.05, 0.03], dataset: 'x', split: 'train', n: 100 };
const CALIBRATION = {
  method: 'temperature' as const,
  temperature: 2,
  layer: 'trn.head',
  fittedOn: { dataset: 'x', split: 'valid', n: 10 },
  before: { nll: 1, ece: 0.1 },
  after: { nll: 0.9, ece: 0.05 },
  crossFitted: { folds: 2, seed: 1, temperatures: [2, 2], ece: 0.05, nll: 0.9 },
  calibratedAt: '2025-01-01T00:00:00.000Z',
};

test('writeDescribeRecord (tune-describe --write): model.json gets the bands, weights.bin is kept byte for byte, model.onnx re-exported; NaN refused', async () => {
  const root = tempDir('poi-describe-');
  const dir = join(root, 'm');
  await tinyModel(dir, 'poi+tiny');
  writeFileSync(join(dir, 'model.onnx'), 'stale');
  const weights = readFileSync(join(dir, 'weights.bin'));
  const { manifest, onnx } = await writeDescribeRecord(dir, RECORD);
  assert.deepEqual(manifest.describe, RECORD);
  assert.deepEqual((await readModelManifest(dir)).describe, RECORD);
  assert.ok(readFileSync(join(dir, 'weights.bin')).equals(weights), 'weights.bin unchanged');
  assert.equal(onnx, true);
  assert.notEqual(readFileSync(join(dir, 'model.onnx'), 'utf8'), 'stale');
  // model.json's bytes are in the fingerprint: the re-exported model.onnx is the folder's own
  assert.deepEqual(await resolveOnnxFile(dir, { cacheDir: tempDir('poi-describe-cache-') }), { file: join(dir, 'model.onnx'), exported: false });

  const json = readFileSync(join(dir, 'model.json'));
  await assert.rejects(writeDescribeRecord(dir, { ...RECORD, unsureBelow: NaN }), /describe bands not written: unsureBelow must be a number in \[0, 1\], got NaN/);
  assert.ok(readFileSync(join(dir, 'model.json')).equals(json), 'nothing written');
  await assert.rejects(rewriteModelFolder(dir, dir, { keepWeights: true, dtype: 'float16' }), /keepWeights cannot go with edit or dtype/);
});

test('rewrites that leave c alone keep the describe bands (export --weights, balance, calibrate); fit-confidence drops them', async () => {
  const root = tempDir('poi-describe-keep-');
  const src = join(root, 'm');
  await tinyModel(src, 'poi+tiny');
  await writeDescribeRecord(src, RECORD);

  await rewriteWeights(src, join(root, 'f16'), 'float16');
  assert.deepEqual((await readModelManifest(join(root, 'f16'))).describe, RECORD, 'export --weights');
  assert.deepEqual((await writeBalancedModel(src, join(root, 'balanced'), 1, PRIOR)).describe, RECORD, 'balance');
  assert.deepEqual((await readModelManifest(join(root, 'balanced'))).describe, RECORD);
  assert.deepEqual((await writeCalibratedModel(src, join(root, 'calibrated'), 2, CALIBRATION)).describe, RECORD, 'calibrate');

  // a new uncertainty head (here the folder's own, perturbed) changes c: the bands go, the rest stays
  const f = await readModelFolder(src);
  const head = new Map([...unpackTensors(f.manifest.weights, f.weights, src)].filter(([name]) => CONFIDENCE_TENSORS.includes(name)));
  for (const t of head.values()) t.values = t.values.map((v) => v * 1.5);
  const record = {
    target: 'vote-agreement' as const,
    layers: ['trn.unc.hidden', 'trn.unc.out'],
    fittedOn: { dataset: 'x', split: 'train', n: 10, epochs: 1, seed: 1 },
    spearman: { dataset: 'x', split: 'valid', n: 10, before: 0, after: 0.5, oneMinusMaxP: 0.3 },
    fittedAt: '2025-01-01T00:00:00.000Z',
  };
  const out = join(root, 'refitted');
  const w = await writeConfidenceHead(src, out, head, record);
  assert.equal(w.manifest.describe, undefined);
  const m = await readModelManifest(out);
  assert.ok(!('describe' in m), 'model.json has no "describe" key');
  assert.deepEqual(m.confidence, record);
  assert.deepEqual((await readModelManifest(src)).describe, RECORD, 'the source folder keeps its bands');
});

test('a model whose c is its top probability: balance and calibrate move c, so they drop the bands', async () => {
  const root = tempDir('poi-describe-nohead-');
  const src = join(root, 'm');
  await tinyModel(src, 'ce+tiny');
  await writeDescribeRecord(src, RECORD);
  assert.equal((await writeBalancedModel(src, join(root, 'balanced'), 1, PRIOR)).describe, undefined);
  assert.equal((await writeCalibratedModel(src, join(root, 'calibrated'), 2, CALIBRATION)).describe, undefined);
  await rewriteWeights(src, join(root, 'f16'), 'float16');
  assert.deepEqual((await readModelManifest(join(root, 'f16'))).describe, RECORD, 'export --weights keeps them');
});

test('fit-confidence and calibrate say when the bands are dropped, and how to tune them again', () => {
  const fit = {
    model: 'm',
    out: 'out/m',
    data: 'd',
    fittedOn: { dataset: 'x', split: 'train', n: 10 },
    measuredOn: { dataset: 'x', split: 'valid', n: 10 },
    inSample: false,
    epochs: 1,
    seed: 1,
    dim: 8,
    hidden: 4,
    loss: [0.5],
    spearman: { before: 0, after: 0.5, oneMinusMaxP: 0.3 },
    previous: null,
    verified: null,
    onnxReexported: false,
    staleDescribe: RECORD,
  } as FitConfidenceResult;
  const text = formatFitConfidence(fit);
  assert.match(text, /dropped the describe bands \(clear at c >= 0\.700, unsure below 0\.400; tuned on 3191 faces of ferplus:FER2013Valid, split "valid"\) from model\.json/);
  assert.match(text, /node dist\/bench\/tune-describe\.js --model out\/m --write/);
  assert.match(formatFitConfidence({ ...fit, out: null }), /note: writing would drop the describe bands/);
  assert.doesNotMatch(formatFitConfidence({ ...fit, staleDescribe: null }), /describe bands/);
  const cal = {
    temperature: 1,
    totalTemperature: 1,
    previousTemperature: null,
    saturated: 0,
    atBound: false,
    crossFitted: { folds: 2, seed: 1, temperatures: [1], ece: 0, nll: 0 },
    before: {},
    after: {},
    uncertaintyVsVotes: null,
    verified: null,
    out: 'out/m',
    staleDescribe: RECORD,
  } as unknown as CalibrateResult;
  assert.match(formatCalibration(cal), /dropped the describe bands/);
});
