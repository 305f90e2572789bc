import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { binaryCrossEntropyWithLogits, crossEntropy, entropy, klDivergence, softCrossEntropy, stopGradient, weightedMean } from '../src/model/losses.js';
import { labelAgreement, PoiModel, transferWeight } from '../src/model/poi.js';
import { priorCorrected } from '../src/model/objectives.js';
import { presetConfig } from '../src/model/config.js';
import { Rng } from '../src/util/rng.js';
import { FER_CLASSES } from './helpers.js';
import { learningRate } from '../src/train/optimizer.js';

before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

const close = (a: ArrayLike<number>, b: number[], tol = 1e-5) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) < tol, `[${i}] ${a[i]} vs ${b[i]}`);
};

// logits [ln1, ln2, ln1] -> softmax [0.25, 0.5, 0.25]
const L = [Math.log(1), Math.log(2), Math.log(1)];

test('softCrossEntropy by hand', () => {
  const z = tf.tensor2d([L, [0, 0, 0]]);
  const t = tf.tensor2d([[0, 1, 0], [0.5, 0.5, 0]]);
  // row0: -ln 0.5; row1: -(0.5 ln(1/3) + 0.5 ln(1/3)) = ln 3
  close(softCrossEntropy(z, t).dataSync(), [Math.log(2), Math.log(3)]);
});

test('crossEntropy with label smoothing by hand', () => {
  const z = tf.tensor2d([L]);
  const y = tf.tensor1d([0], 'int32');
  close(crossEntropy(z, y, 3).dataSync(), [Math.log(4)]);
  // eps 0.3: target [0.8, 0.1, 0.1] -> -(0.8 ln .25 + .1 ln .5 + .1 ln .25)
  close(crossEntropy(z, y, 3, 0.3).dataSync(), [-(0.8 * Math.log(0.25) + 0.1 * Math.log(0.5) + 0.1 * Math.log(0.25))]);
});

test('klDivergence by hand, with temperature and zero targets', () => {
  const z = tf.tensor2d([L]);
  // KL([0.5,0.5,0] || [0.25,0.5,0.25]) = 0.5 ln 2 + 0.5 ln 1 = 0.5 ln 2 (the 0 entry contributes 0)
  close(klDivergence(tf.tensor2d([[0.5, 0.5, 0]]), z).dataSync(), [0.5 * Math.log(2)]);
  // T = 2: softmax(L/2) ∝ [1, √2, 1]
  const s = 2 + Math.SQRT2;
  const p = [1 / s, Math.SQRT2 / s, 1 / s];
  const t = [0.2, 0.3, 0.5];
  const want = t.reduce((a, ti, i) => a + ti * Math.log(ti / p[i]), 0);
  close(klDivergence(tf.tensor2d([t]), z, 2).dataSync(), [want]);
  // identical distributions: 0
  close(klDivergence(tf.tensor2d([[0.25, 0.5, 0.25]]), z).dataSync(), [0], 1e-6);
});

test('binaryCrossEntropyWithLogits by hand, stable for large logits', () => {
  const z = tf.tensor2d([[0, Math.log(3)], [100, -100]]);
  const t = tf.tensor2d([[1, 0.5], [1, 0]]);
  // row0: (ln2 + (-(0.5 ln .75 + 0.5 ln .25)))/2 ; row1: ~0
  const r0 = (Math.log(2) - (0.5 * Math.log(0.75) + 0.5 * Math.log(0.25))) / 2;
  close(binaryCrossEntropyWithLogits(z, t).dataSync(), [r0, 0], 1e-5);
});

test('entropy and weightedMean by hand', () => {
  close(entropy(tf.tensor2d([[0.5, 0.5, 0], [1, 0, 0]])).dataSync(), [Math.log(2), 0], 1e-6);
  close(weightedMean(tf.tensor1d([1, 3]), tf.tensor1d([1, 0.5])).dataSync(), [1.25]);
});

test('stopGradient passes values and blocks gradients', () => {
  const x = tf.tensor1d([1, 2, 3]);
  const g = tf.grad((v: tf.Tensor) => tf.sum(tf.add(tf.mul(v, 2), tf.mul(stopGradient(v), 5))))(x);
  close(g.dataSync(), [2, 2, 2]);
  close(stopGradient(x).dataSync(), [1, 2, 3]);
});

test('transfer weight: zero in warm-up, linear ramp, then flat', () => {
  const cfg = { warmupEpochs: 2, rampEpochs: 4, maxWeight: 0.8, temperature: 2 };
  assert.equal(transferWeight(cfg, 0), 0);
  assert.equal(transferWeight(cfg, 1.99), 0);
  assert.ok(Math.abs(transferWeight(cfg, 4) - 0.4) < 1e-12);
  assert.equal(transferWeight(cfg, 6), 0.8);
  assert.equal(transferWeight(cfg, 100), 0.8);
});

test('learning rate: warm-up then cosine to the floor', () => {
  assert.ok(learningRate(1, 0.5, 10, 1, 0.01) < 0.51);
  assert.ok(Math.abs(learningRate(1, 1, 10, 1, 0.01) - 1) < 1e-12);
  assert.ok(Math.abs(learningRate(1, 10, 10, 1, 0.01) - 0.01) < 1e-12);
  assert.ok(Math.abs(learningRate(1, 5.5, 10, 1, 0) - 0.5) < 1e-12);
});

test('uncertainty target: agreement of label and q, absolute and relative', () => {
  const q = tf.tensor2d([[0.2, 0.5, 0.3], [0.2, 0.5, 0.3], [1, 0, 0]]);
  const y = tf.tensor1d([1, 2, 1], 'int32');
  close(labelAgreement(q, y, 'absolute').dataSync(), [0.5, 0.3, 0]);
  close(labelAgreement(q, y, 'relative').dataSync(), [1, 0.6, 0]);
});

test('PIN loss: per-sample weights weight the label terms only (ones = unweighted; [1, 0] = the first face alone)', () => {
  const cfg = presetConfig('tiny');
  const model = new PoiModel(cfg.model, FER_CLASSES, 5);
  try {
    const pin = model.pin!;
    const ctx = { training: false, bnUpdates: [] };
    const rng = new Rng(2);
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 16 * 16 }, () => rng.normal()), [2, 16, 16, 1]);
    const y = tf.tensor1d([1, 6], 'int32');
    const out = pin.forward(x, ctx);
    const plain = pin.loss(out, y);
    const ones = pin.loss(out, y, tf.tensor1d([1, 1]));
    for (const k of ['pinCe', 'pinAu', 'pinMutual']) close(ones.parts[k].dataSync(), [plain.parts[k].dataSync()[0]]);
    const first = pin.loss(out, y, tf.tensor1d([1, 0]));
    const out0 = pin.forward(tf.slice(x, [0, 0, 0, 0], [1, 16, 16, 1]) as tf.Tensor4D, ctx);
    const alone = pin.loss(out0, tf.tensor1d([1], 'int32'));
    close(first.parts.pinCe.dataSync(), [alone.parts.pinCe.dataSync()[0]], 1e-4);
    close(first.parts.pinAu.dataSync(), [alone.parts.pinAu.dataSync()[0]], 1e-4);
    // mutual learning has no label, so the weights leave it alone
    close(first.parts.pinMutual.dataSync(), [plain.parts.pinMutual.dataSync()[0]]);
  } finally {
    model.dispose();
  }
});

test('POI loss: the label trust is c ("predicted") or the agreement of the label with the reference ("label", "pin+trn")', () => {
  const rng = new Rng(4);
  const x = tf.tensor4d(Float32Array.from({ length: 4 * 16 * 16 }, () => rng.normal()), [4, 16, 16, 1]);
  const y = tf.tensor1d([0, 1, 2, 3], 'int32');
  const ctx = { training: false, bnUpdates: [] };
  for (const [weighting, reference] of [['predicted', 'pin'], ['label', 'pin'], ['label', 'pin+trn']] as const) {
    const cfg = presetConfig('tiny', { model: { uncertainty: { weighting, reference } } });
    const model = new PoiModel(cfg.model, FER_CLASSES, 9);
    try {
      const parts = model.loss({ x, labels: y }, 5, ctx).parts;
      const trn = model.trn.forward(x, ctx);
      const q = model.pin!.aggregate(model.pin!.forward(x, ctx).logits, 1);
      const ref = reference === 'pin+trn' ? (tf.div(tf.add(q, tf.softmax(trn.logits)), 2) as tf.Tensor2D) : q;
      const expected = weighting === 'label' ? labelAgreement(ref, y, 'relative') : tf.sigmoid(trn.confLogits!);
      close(parts.trust.dataSync(), [tf.mean(expected).dataSync()[0]], 1e-5);
      // c is trained towards the agreement whatever weights the teachers
      const bce = binaryCrossEntropyWithLogits(trn.confLogits!, labelAgreement(ref, y, 'relative'));
      close(parts.unc.dataSync(), [tf.mean(bce).dataSync()[0]], 1e-5);
    } finally {
      model.dispose();
    }
  }
});

test('PIN on TRN\'s trunk (pin.shareTrnStages): no stem of its own, the same features as TRN\'s stage, and its losses train the trunk', () => {
  const rng = new Rng(5);
  const x = tf.tensor4d(Float32Array.from({ length: 2 * 16 * 16 }, () => rng.normal()), [2, 16, 16, 1]);
  const y = tf.tensor1d([1, 4], 'int32');
  const ctx = { training: false, bnUpdates: [] };
  const own = new PoiModel(presetConfig('tiny').model, FER_CLASSES, 3);
  const shared = new PoiModel(presetConfig('tiny', { model: { pin: { shareTrnStages: 1 } } }).model, FER_CLASSES, 3);
  try {
    const names = [...shared.params.trainable.keys()];
    assert.ok(own.params.trainable.size > shared.params.trainable.size);
    assert.ok(!names.some((n) => n.startsWith('pin.stem')), names.join(' '));
    // the stem PIN reads is TRN's first stage: the tapped map of TRN's pass, or its own pass over the trunk
    const trnOut = shared.trn.forward(x, ctx, 1);
    const stage1 = shared.trn.backbone.features(x, ctx, 1);
    close(trnOut.tap!.dataSync(), Array.from(stage1.dataSync()));
    const viaTap = shared.pin!.forward(x, ctx, trnOut.tap);
    const alone = shared.pin!.forward(x, ctx);
    close(viaTap.logits[0].dataSync(), Array.from(alone.logits[0].dataSync()));
    assert.equal(shared.flops().pin < own.flops().pin, true);
    // PIN's loss alone has a gradient on TRN's first-stage weights
    const trunkParam = names.find((n) => n.startsWith('trn.s0'))!;
    const { grads } = tf.variableGrads(() => shared.pin!.loss(shared.pin!.forward(x, ctx), y).total, [shared.params.trainable.get(trunkParam)!]);
    assert.ok(Math.max(...Array.from(Object.values(grads)[0].abs().dataSync())) > 0, trunkParam);
    assert.throws(() => new PoiModel(presetConfig('tiny', { model: { pin: { shareTrnStages: 3 } } }).model, FER_CLASSES, 3), /only 2 stages/);
  } finally {
    own.dispose();
    shared.dispose();
  }
});

test('POI transfer.teacher "pin+trn": TRN distils from the mean of PIN\'s q and its own detached prediction', () => {
  const rng = new Rng(6);
  const x = tf.tensor4d(Float32Array.from({ length: 3 * 16 * 16 }, () => rng.normal()), [3, 16, 16, 1]);
  const y = tf.tensor1d([0, 2, 5], 'int32');
  const ctx = { training: false, bnUpdates: [] };
  for (const teacher of ['pin', 'pin+trn'] as const) {
    const cfg = presetConfig('tiny', { model: { transfer: { teacher } } });
    const model = new PoiModel(cfg.model, FER_CLASSES, 9);
    try {
      const T = cfg.model.transfer.temperature;
      const parts = model.loss({ x, labels: y }, 5, ctx).parts;
      const trn = model.trn.forward(x, ctx);
      const qT = model.pin!.aggregate(model.pin!.forward(x, ctx).logits, T);
      const target = teacher === 'pin' ? qT : (tf.div(tf.add(qT, tf.softmax(tf.div(trn.logits, T))), 2) as tf.Tensor2D);
      const kd = tf.mul(klDivergence(target, trn.logits, T), T * T);
      close(parts.trnKd.dataSync(), [tf.mean(kd).dataSync()[0]], 1e-5);
    } finally {
      model.dispose();
    }
  }
});

test('teacher prior correction by hand: p / prior^tau, renormalised; tau 0 gives p back', () => {
  const p = tf.tensor2d([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]);
  const prior = [0.5, 0.25, 0.25];
  const logPrior = tf.tensor1d(prior.map(Math.log));
  // tau 1: [0.6/0.5, 0.3/0.25, 0.1/0.25] = [1.2, 1.2, 0.4] / 2.8; [0.4, 0.8, 2.4] / 3.6
  close(priorCorrected(p, logPrior, 1).dataSync(), [1.2 / 2.8, 1.2 / 2.8, 0.4 / 2.8, 0.4 / 3.6, 0.8 / 3.6, 2.4 / 3.6], 1e-6);
  // tau 0.5: divide by sqrt(prior)
  const s = prior.map(Math.sqrt);
  const row = (r: number[]) => { const v = r.map((x, i) => x / s[i]); const z = v.reduce((a, b) => a + b); return v.map((x) => x / z); };
  close(priorCorrected(p, logPrior, 0.5).dataSync(), [...row([0.6, 0.3, 0.1]), ...row([0.2, 0.2, 0.6])], 1e-6);
  assert.equal(priorCorrected(p, logPrior, 0), p);
});

test('POI transfer.priorCorrection: TRN distils the prior-corrected teacher; without the class prior it says so', () => {
  const rng = new Rng(7);
  const x = tf.tensor4d(Float32Array.from({ length: 3 * 16 * 16 }, () => rng.normal()), [3, 16, 16, 1]);
  const y = tf.tensor1d([0, 2, 5], 'int32');
  const ctx = { training: false, bnUpdates: [] };
  const cfg = presetConfig('tiny', { model: { transfer: { teacher: 'pin', priorCorrection: 0.5 } } });
  const logPrior = tf.tensor1d([0.3, 0.25, 0.12, 0.12, 0.1, 0.01, 0.05, 0.05].map(Math.log));
  const model = new PoiModel(cfg.model, FER_CLASSES, 9);
  try {
    const T = cfg.model.transfer.temperature;
    const parts = model.loss({ x, labels: y, logPrior }, 5, ctx).parts;
    const trn = model.trn.forward(x, ctx);
    const qT = model.pin!.aggregate(model.pin!.forward(x, ctx).logits, T);
    const target = priorCorrected(qT, logPrior, 0.5);
    const kd = tf.mul(klDivergence(target, trn.logits, T), T * T);
    close(parts.trnKd.dataSync(), [tf.mean(kd).dataSync()[0]], 1e-5);
    assert.throws(() => model.loss({ x, labels: y }, 5, ctx), /transfer\.priorCorrection needs the class prior/);
  } finally {
    model.dispose();
  }
});
