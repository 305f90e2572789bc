/**
 * Could a reported confidence, separate from the mixing weight c, rank annotator disagreement better?
 * A probe before building one: TRN's pooled features of a trained model (frozen) on FER2013Train, a small
 * readout (one hidden layer, as the uncertainty module) fitted towards a target, then Spearman of
 * 1 − readout against the entropy of the raw votes on FER2013Valid, beside the model's own 1 − c and
 * 1 − max p. Targets: the share of annotators who chose the top class (needs votes, as FERPlus has),
 * 1 − normalised vote entropy (same), and p[y], TRN's own probability of the label (needs only labels).
 * The second is what `poi fit-confidence` (src/eval/fit-confidence.ts) fits and writes into the model.
 *
 *   node dist/bench/confidence-probe.js --model runs/protocol/poi-s1/best [--data ../shared/data/ferplus]
 *       [--epochs 8] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '../src/tf.js';
import { loadModel } from '../src/model/io.js';
import { defaultSplits, loadSet } from '../src/data/load.js';
import { toInput } from '../src/eval/predict.js';
import { initBackend } from '../src/backend/index.js';
import { globalAvgPool } from '../src/model/backbones/index.js';
import { entropy, spearman } from '../src/eval/metrics.js';
import type { ImageSet } from '../src/data/types.js';
import { Rng } from '../src/util/rng.js';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/poi-ferplus' },
    data: { type: 'string', default: '../shared/data/ferplus' },
    epochs: { type: 'string', default: '8' },
    json: { type: 'string' },
  },
});

await initBackend({});
const { model, manifest } = await loadModel(v.model!);
const k = model.numClasses;
const splits = defaultSplits(v.data!);

/** Pooled TRN features, probabilities and c for a whole set. */
async function features(set: ImageSet): Promise<{ g: Float32Array; dim: number; probs: Float32Array; conf: Float32Array }> {
  const n = set.labels.length;
  let g = new Float32Array(0);
  let dim = 0;
  const probs = new Float32Array(n * k);
  const conf = new Float32Array(n);
  for (let s = 0; s < n; s += 128) {
    const e = Math.min(n, s + 128);
    const x = toInput(set, s, e, manifest.input.mean, manifest.input.std);
    const [gb, pb, cb] = tf.tidy(() => {
      const ctx = { training: false, bnUpdates: [] };
      const stages = model.trn.backbone.stageOutputs(x, ctx);
      const pooled = globalAvgPool(stages[stages.length - 1]);
      const out = model.predict(x);
      return [pooled, out.probs, out.confidence];
    });
    if (!dim) {
      dim = gb.shape[1]!;
      g = new Float32Array(n * dim);
    }
    g.set(await gb.data(), s * dim);
    probs.set(await pb.data(), s * k);
    conf.set(await cb.data(), s);
    tf.dispose([x, gb, pb, cb]);
  }
  return { g, dim, probs, conf };
}

const load = async (split: string) => (await loadSet(v.data!, split, manifest.input, { classes: manifest.classes, quiet: true, votes: 'raw' })).set;
const trainSet = await load(splits.train!);
const valSet = await load(splits.val!);
console.log(`features of ${trainSet.labels.length} training and ${valSet.labels.length} validation faces ...`);
const tr = await features(trainSet);
const va = await features(valSet);

const topShare = (soft: Float32Array, n: number) => Float32Array.from({ length: n }, (_, i) => Math.max(...soft.subarray(i * k, i * k + k)));
const oneMinusEntropy = (soft: Float32Array) => Float32Array.from(entropy(soft, k), (h) => 1 - h / Math.log(k));
const pOfLabel = (p: Float32Array, y: Int32Array) => Float32Array.from(y, (c, i) => p[i * k + c]);

/** A readout like the uncertainty module (dim → 64 → 1, ReLU, sigmoid) fitted by BCE to `target`. */
function fitReadout(x: Float32Array, dim: number, target: Float32Array, epochs: number): (xs: Float32Array) => Float32Array {
  const n = target.length;
  const rng = new Rng(1);
  const w1 = tf.variable(tf.randomNormal([dim, 64], 0, Math.sqrt(2 / dim), 'float32', 1));
  const b1 = tf.variable(tf.zeros([64]));
  const w2 = tf.variable(tf.randomNormal([64, 1], 0, Math.sqrt(1 / 64), 'float32', 2));
  const b2 = tf.variable(tf.zeros([1]));
  const f = (xs: tf.Tensor2D) => tf.reshape(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(xs, w1), b1)), w2), b2), [-1]);
  const opt = tf.train.adam(1e-3);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let ep = 0; ep < epochs; ep++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let s = 0; s < n; s += 256) {
      const idx = order.slice(s, s + 256);
      const xb = new Float32Array(idx.length * dim);
      const tb = new Float32Array(idx.length);
      idx.forEach((r, i) => {
        xb.set(x.subarray(r * dim, r * dim + dim), i * dim);
        tb[i] = target[r];
      });
      opt.minimize(() =>
        tf.tidy(() => {
          const z = f(tf.tensor2d(xb, [idx.length, dim]));
          return tf.losses.sigmoidCrossEntropy(tf.tensor1d(tb), z) as tf.Scalar;
        }),
      );
    }
  }
  return (xs) => tf.tidy(() => tf.sigmoid(f(tf.tensor2d(xs, [xs.length / dim, dim])))).dataSync() as Float32Array;
}

const voteEntropyVal = entropy(valSet.soft!, k);
const rank = (conf: ArrayLike<number>) => spearman(Float64Array.from(conf, (c) => 1 - c), voteEntropyVal);
const maxP = Float32Array.from({ length: valSet.labels.length }, (_, i) => Math.max(...va.probs.subarray(i * k, i * k + k)));
const rows: [string, number][] = [
  ["the model's 1 − c", rank(va.conf)],
  ["the model's 1 − max p", rank(maxP)],
];
const epochs = Number(v.epochs);
const targets: [string, Float32Array][] = [
  ['readout → top vote share', topShare(trainSet.soft!, trainSet.labels.length)],
  ['readout → 1 − vote entropy / log K', oneMinusEntropy(trainSet.soft!)],
  ['readout → p[y] (labels only)', pOfLabel(tr.probs, trainSet.labels)],
];
for (const [name, target] of targets) {
  const predict = fitReadout(tr.g, tr.dim, target, epochs);
  rows.push([name, rank(predict(va.g))]);
}
// the same readout reading TRN's probabilities beside its features
const withProbs = (g: Float32Array, probs: Float32Array, dim: number) => {
  const n = probs.length / k;
  const out = new Float32Array(n * (dim + k));
  for (let i = 0; i < n; i++) {
    out.set(g.subarray(i * dim, i * dim + dim), i * (dim + k));
    out.set(probs.subarray(i * k, i * k + k), i * (dim + k) + dim);
  }
  return out;
};
{
  const predict = fitReadout(withProbs(tr.g, tr.probs, tr.dim), tr.dim + k, targets[1][1], epochs);
  rows.push(['readout of features + p → 1 − vote entropy', rank(predict(withProbs(va.g, va.probs, va.dim)))]);
}
console.log(`\n${v.model}: Spearman(uncertainty, entropy of the raw votes) on ${splits.val} (${valSet.labels.length} faces); readouts on frozen TRN features, ${epochs} epochs`);
for (const [name, r] of rows) console.log(`  ${name.padEnd(40)} ${r.toFixed(3)}`);
if (v.json) writeFileSync(v.json, JSON.stringify({ model: v.model, epochs, spearman: Object.fromEntries(rows) }, null, 2) + '\n');
