/** poi balance: post-hoc logit adjustment baked into TRN's head bias. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { presetConfig } from '../src/model/config.js';
import { loadModel, saveModel } from '../src/model/io.js';
import { PoiModel } from '../src/model/poi.js';
import { classPrior, writeBalancedModel } from '../src/model/balance.js';
import { FER_CLASSES, tempDir, votesFor, writeFerplusSplit } from './helpers.js';

before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

test('class prior: training-label frequencies in the model class order; a class never seen gets half a count', async () => {
  const root = tempDir();
  // 16 faces, classes cycling 0..7, every majority clear; then relabel by votes: faces of class 7 (contempt) get
  // happiness votes, so contempt is never the label
  await writeFerplusSplit(join(root, 'FER2013Train'), 16, 1, (i, c) => (c === 7 ? votesFor(1, 10, 0) : votesFor(c, 10, 0)));
  const reversed = [...FER_CLASSES].reverse();
  const p = classPrior(root, 'train', reversed);
  assert.equal(p.n, 16);
  const want = new Map(FER_CLASSES.map((c, i) => [c, i === 1 ? 4 / 16 : i === 7 ? 0.5 / 16 : 2 / 16]));
  reversed.forEach((c, i) => assert.ok(Math.abs(p.prior[i] - want.get(c)!) < 1e-12, `${c}: ${p.prior[i]}`));
  assert.throws(() => classPrior(root, 'train', ['neutral', 'joy']), /has no class "joy"/);
});

test('writeBalancedModel subtracts τ·log π from the head bias: probabilities become softmax(logits − τ·log π); twice is refused', async () => {
  const cfg = presetConfig('ce+tiny');
  const model = new PoiModel(cfg.model, FER_CLASSES, 3);
  const dir = join(tempDir(), 'm');
  await saveModel(model, cfg, dir);
  const prior = [0.3, 0.3, 0.1, 0.1, 0.1, 0.02, 0.05, 0.03];
  const out = join(tempDir(), 'balanced');
  const m = await writeBalancedModel(dir, out, 0.8, { prior, dataset: 'x', split: 'train', n: 100 });
  assert.equal(m.balance?.tau, 0.8);
  const x = tf.randomNormal([5, 16, 16, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
  const { model: b } = await loadModel(out);
  const logits = model.trn.forward(x, { training: false, bnUpdates: [] }).logits;
  const want = tf.softmax(tf.sub(logits, tf.mul(tf.log(tf.tensor1d(prior)), 0.8)));
  const got = b.predict(x).probs;
  const d = tf.max(tf.abs(tf.sub(want, got))).dataSync()[0];
  assert.ok(d < 1e-6, `max difference ${d}`);
  await assert.rejects(writeBalancedModel(out, out, 1, { prior, dataset: 'x', split: 'train', n: 100 }), /already balanced \(τ 0.8\)/);
  await assert.rejects(writeBalancedModel(dir, out, -1, { prior, dataset: 'x', split: 'train', n: 100 }), /τ must be a finite number ≥ 0/);
  tf.dispose([x, logits, want, got]);
  model.dispose();
  b.dispose();
});
