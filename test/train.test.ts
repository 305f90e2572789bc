import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { presetConfig, type PoiConfig } from '../src/model/config.js';
import { loadModel, readCheckpoint } from '../src/model/io.js';
import { PoiModel } from '../src/model/poi.js';
import { modelFromCheckpoint, NonFiniteLossError, resumableWith, train, readLog } from '../src/train/trainer.js';
import { predictSet } from '../src/eval/predict.js';
import { syntheticSet, tempDir } from './helpers.js';

before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

const trainSet = syntheticSet(128, 16, 1);
const valSet = syntheticSet(48, 16, 2);
const data = { train: trainSet, val: valSet, source: { synthetic: true } };

function cfg(preset: string, epochs: number, extra: (c: PoiConfig) => void = () => {}): PoiConfig {
  const c = presetConfig(preset);
  c.train.epochs = epochs;
  extra(c);
  return c;
}

test('POI trains on generated data: loss falls, accuracy rises, run folder complete', async () => {
  const out = tempDir();
  const r = await train({ config: cfg('poi+tiny', 4), data, outDir: out, progress: false, log: () => {} });
  const h = r.history;
  assert.equal(h.length, 4);
  assert.ok(h[3].train.loss < h[0].train.loss * 0.8, `loss ${h[0].train.loss} -> ${h[3].train.loss}`);
  assert.ok(h[3].val!.accuracy > 0.5, `val accuracy ${h[3].val!.accuracy}`);
  for (const f of ['config.json', 'log.jsonl', 'checkpoint.bin', 'summary.json', 'best/model.json', 'best/weights.bin']) {
    assert.ok(existsSync(join(out, f)), f);
  }
  assert.equal((await readLog(out)).length, 4);
  // the saved best model reproduces its recorded validation accuracy
  const { model, manifest } = await loadModel(join(out, 'best'));
  const pred = await predictSet(model, valSet);
  let correct = 0;
  for (let i = 0; i < valSet.labels.length; i++) {
    const row = Array.from(pred.probs.subarray(i * 8, i * 8 + 8));
    if (row.indexOf(Math.max(...row)) === valSet.labels[i]) correct++;
  }
  assert.ok(Math.abs(correct / valSet.labels.length - (manifest.metrics.accuracy as number)) < 1e-9);
  assert.deepEqual(manifest.classes, trainSet.classes);
  model.dispose();
  // the checkpoint holds the last epoch's weights: they reproduce that epoch's validation accuracy
  const last = await modelFromCheckpoint(join(out, 'checkpoint.bin'));
  assert.equal(last.epoch, 4);
  const lp = await predictSet(last.model, valSet);
  let lastCorrect = 0;
  for (let i = 0; i < valSet.labels.length; i++) {
    const row = Array.from(lp.probs.subarray(i * 8, i * 8 + 8));
    if (row.indexOf(Math.max(...row)) === valSet.labels[i]) lastCorrect++;
  }
  assert.ok(Math.abs(lastCorrect / valSet.labels.length - h[3].val!.accuracy) < 1e-9);
  last.model.dispose();
  await assert.rejects(modelFromCheckpoint(join(out, 'best', 'weights.bin')), /weights\.bin/);
});

test('resume (at an epoch end and mid-epoch) gives the same weights as an uninterrupted run', async () => {
  const full = tempDir();
  await train({ config: cfg('poi+tiny', 2), data, outDir: full, progress: false, log: () => {} });
  const a = await readCheckpoint(join(full, 'checkpoint.bin'));

  const cut = tempDir();
  // stop after 11 steps (epoch 1 has 8): the checkpoint lands mid-epoch 2
  const first = await train({ config: cfg('poi+tiny', 2), data, outDir: cut, progress: false, maxSteps: 11, log: () => {} });
  assert.equal(first.stoppedEarly, true);
  await assert.rejects(train({ config: cfg('poi+tiny', 2), data, outDir: cut, progress: false, log: () => {} }), /--resume/);
  await train({ config: cfg('poi+tiny', 2), data, outDir: cut, progress: false, resume: true, log: () => {} });
  const b = await readCheckpoint(join(cut, 'checkpoint.bin'));
  assert.equal(a.tensors.size, b.tensors.size);
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name)!;
    assert.deepEqual(Array.from(u.values), Array.from(t.values), `tensor ${name} differs after resume`);
  }
  // a different config is refused
  await assert.rejects(
    train({ config: cfg('poi+tiny', 2, (c) => (c.train.lr = 0.5)), data, outDir: cut, progress: false, resume: true, log: () => {} }),
    /different config/,
  );
});

test('a non-finite loss stops the run with a message and keeps the last checkpoint', async () => {
  const out = tempDir();
  await train({ config: cfg('ce+tiny', 1), data, outDir: out, progress: false, log: () => {} });
  const before = readFileSync(join(out, 'checkpoint.bin'));
  const bestBefore = statSync(join(out, 'best', 'weights.bin')).mtimeMs;
  // an absurd learning rate blows the weights up within a few steps
  const bad = cfg('ce+tiny', 3, (c) => {
    c.train.optimizer = 'sgd';
    c.train.lr = 1e12;
    c.train.lrWarmupEpochs = 0;
  });
  bad.train.epochs = 1; // same comparable config as the first run, more epochs
  const badMore = { ...bad, train: { ...bad.train, epochs: 3, lr: 1e12, optimizer: 'sgd' as const } };
  const err = await train({ config: badMore, data, outDir: tempDir(), progress: false, log: () => {} }).then(
    () => null,
    (e) => e,
  );
  assert.ok(err instanceof NonFiniteLossError, `expected NonFiniteLossError, got ${err}`);
  assert.match(err.message, /loss became (NaN|Infinity|-Infinity) at epoch \d+, step \d+/);
  // the earlier run folder is untouched
  assert.deepEqual(readFileSync(join(out, 'checkpoint.bin')), before);
  assert.equal(statSync(join(out, 'best', 'weights.bin')).mtimeMs, bestBefore);
});

test('label noise is recorded in the run folder and changes training labels', async () => {
  const out = tempDir();
  await train({ config: cfg('ce+tiny', 1, (c) => (c.noise = 0.25)), data, outDir: out, progress: false, log: () => {} });
  const list = readFileSync(join(out, 'noise.csv'), 'utf8').trim().split('\n');
  assert.equal(list.length - 1, 32); // header + 25% of 128
});

test('baselines and ablations build and take a step', async () => {
  for (const preset of ['ce', 'ld', 'poi-no-prior', 'poi-no-mutual', 'poi-no-uncertainty']) {
    const c = cfg(`${preset}+tiny`, 1);
    c.train.limitTrain = 0;
    const m = new PoiModel(c.model, trainSet.classes, 1);
    const x = tf.randomNormal([4, 16, 16, 1]) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 3], 'int32');
    const soft = tf.tensor2d(trainSet.soft!.subarray(0, 32), [4, 8]);
    const ctx = { training: true, bnUpdates: [] };
    const { value, grads } = tf.variableGrads(() => m.loss({ x, labels: y, soft }, 5, ctx).total);
    assert.ok(Number.isFinite(value.dataSync()[0]), preset);
    assert.ok(Object.keys(grads).length > 0);
    if (preset === 'poi-no-uncertainty') assert.equal(m.trn.confidenceHead, undefined);
    if (preset === 'ce') assert.equal(m.pin, null);
    m.dispose();
  }
});

test('resume: a checkpoint written before a config field existed still resumes; a changed field does not', () => {
  const now = presetConfig('poi+tiny');
  // as written by an older poi: no uncertainty.weighting/reference, no pin.labelWeighting
  const old = JSON.parse(JSON.stringify(now)) as PoiConfig;
  delete (old.model.uncertainty as Partial<PoiConfig['model']['uncertainty']>).weighting;
  delete (old.model.uncertainty as Partial<PoiConfig['model']['uncertainty']>).reference;
  delete (old.model.pin as Partial<PoiConfig['model']['pin']>).labelWeighting;
  assert.ok(resumableWith(old, now));
  assert.ok(resumableWith(now, { ...now, train: { ...now.train, epochs: 40 } }));
  const changed = JSON.parse(JSON.stringify(now)) as PoiConfig;
  changed.model.uncertainty.weighting = 'label';
  assert.equal(resumableWith(now, changed), false);
  assert.equal(resumableWith(now, { ...now, train: { ...now.train, lr: 1 } }), false);
});
