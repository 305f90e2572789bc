/** Fine-tuning a pretrained backbone: weights from the package, per-part learning rates, logit adjustment. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { presetConfig, type PoiConfig } from '../src/model/config.js';
import { loadModel } from '../src/model/io.js';
import { PoiModel } from '../src/model/poi.js';
import { loadPretrainedBackbones, pretrainedWeights } from '../src/model/pretrained.js';
import { logitAdjustmentOffset, train } from '../src/train/trainer.js';
import { syntheticSet, tempDir } from './helpers.js';

before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

const S = 112;
const data = { train: syntheticSet(64, S, 1), val: syntheticSet(32, S, 2), source: { synthetic: true } };

function dlibCe(extra: (c: PoiConfig) => void = () => {}): PoiConfig {
  const c = presetConfig('ce+dlib');
  Object.assign(c.train, { epochs: 4, batchSize: 16, lr: 3e-3, lrWarmupEpochs: 0, augment: { enabled: false } });
  extra(c);
  return c;
}

test('a fresh dlib model starts from the package weights (TRN and PIN stem), a model without the flag does not', async () => {
  const cfg = presetConfig('dlib');
  const model = new PoiModel(cfg.model, data.train.classes, 1);
  const lines = await loadPretrainedBackbones(model);
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^trn: dlib-resnet from @vladmandic\/face-api/);
  const want = await pretrainedWeights('pin.stem', cfg.model.pin.stem, cfg.model.input);
  const name = 'pin.stem.conv64_1.conv2.w';
  assert.deepEqual(Array.from(model.params.trainable.get(name)!.dataSync()), Array.from(want.get(name)!.values));
  assert.ok(model.pretrainedParams().has('trn.conv32_down.w') && !model.pretrainedParams().has('trn.head.w'));
  model.dispose();
  const scratch = presetConfig('dlib');
  scratch.model.trn.pretrained = false;
  scratch.model.pin.stem.pretrained = false;
  const m2 = new PoiModel(scratch.model, data.train.classes, 1);
  assert.deepEqual(await loadPretrainedBackbones(m2), []);
  assert.equal(m2.pretrainedParams().size, 0);
  m2.dispose();
});

test('CE fine-tunes the pretrained dlib ResNet on generated 112x112 faces: loss falls', async () => {
  const r = await train({ config: dlibCe(), data, outDir: tempDir(), progress: false, log: () => {} });
  const h = r.history;
  assert.ok(h[h.length - 1].train.loss < h[0].train.loss * 0.8, `loss ${h[0].train.loss} -> ${h[h.length - 1].train.loss}`);
});

test('pretrainedLrFactor 0 keeps the backbone at its package weights while the head learns', async () => {
  const out = tempDir();
  await train({ config: dlibCe((c) => { c.train.pretrainedLrFactor = 0; c.train.epochs = 1; }), data, outDir: out, progress: false, log: () => {} });
  const { model } = await loadModel(`${out}/best`);
  const cfg = presetConfig('ce+dlib');
  const want = await pretrainedWeights('trn', cfg.model.trn, cfg.model.input);
  for (const name of ['trn.conv32_down.w', 'trn.conv256_down_out.conv2.b']) {
    assert.deepEqual(Array.from(model.params.trainable.get(name)!.dataSync()), Array.from(want.get(name)!.values), name);
  }
  const fresh = new PoiModel(cfg.model, data.train.classes, cfg.seed);
  const head = (m: PoiModel) => Array.from(m.params.trainable.get('trn.head.w')!.dataSync());
  assert.notDeepEqual(head(model), head(fresh), 'the head moved');
  model.dispose();
  fresh.dispose();
});

test('logit adjustment: offset is τ·log(class frequency), and the hard-label CE sees logits + offset', () => {
  const off = logitAdjustmentOffset([0, 0, 0, 1, -1], 3, 1);
  // counts [3, 1, 0]; an empty class gets the rarest count (1)
  const want = [Math.log(3 / 4), Math.log(1 / 4), Math.log(1 / 4)];
  off.dataSync().forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `${v} vs ${want[i]}`));
  assert.deepEqual(Array.from(logitAdjustmentOffset([0, 1], 2, 0.5).dataSync()).map((v) => +v.toFixed(6)), [0.5 * Math.log(0.5), 0.5 * Math.log(0.5)].map((v) => +v.toFixed(6)));
  off.dispose();
  // CE with logits 0 and offset [log .75, log .25] for label 1: −log 0.25
  const cfg = presetConfig('ce+tiny');
  const model = new PoiModel(cfg.model, ['a', 'b'], 1);
  const ce = tf.tidy(() => {
    const x = tf.zeros([1, 16, 16, 1]) as tf.Tensor4D;
    // zero the head so the logits are exactly 0
    for (const n of ['trn.head.w', 'trn.head.b']) model.params.trainable.get(n)!.assign(tf.zerosLike(model.params.trainable.get(n)!));
    const out = model.loss({ x, labels: tf.tensor1d([1], 'int32'), logitOffset: tf.tensor1d([Math.log(0.75), Math.log(0.25)]) }, 0, { training: false, bnUpdates: [] });
    return out.total.dataSync()[0];
  });
  assert.ok(Math.abs(ce - -Math.log(0.25)) < 1e-5, `CE ${ce}`);
  model.dispose();
});
