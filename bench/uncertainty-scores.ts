/**
 * Which per-face score ranks ambiguity best, and why is poi's c where it is? Runs a model over a labelled
 * split and prints, per score: Spearman correlation with the entropy of the votes (as cast, and with
 * single votes dropped), the area under the risk-coverage curve, and accuracy by fifth of the faces
 * (most sure first; a usable confidence rises monotonically).
 *
 * Scores available at inference: 1-c (the uncertainty module), 1-max p, 1-c·max p, entropy of p,
 * PIN's entropy of q, and the entropy and 1 - max of the PIN+TRN mean (p+q)/2. Below them, for
 * diagnosis only, the targets c could be trained towards, evaluated with the face's true label (so not
 * available at inference): q[y]/max q (the default), q[y], (q[y]+p[y])/2 and p[y].
 *
 *   node dist/bench/uncertainty-scores.js [--model models/poi-ferplus] [--data ../shared/data/ferplus] [--split train]
 */
import { parseArgs } from 'node:util';
import * as tf from '../src/tf.js';
import { loadModel } from '../src/model/io.js';
import { defaultSplits, loadSet } from '../src/data/load.js';
import { toInput } from '../src/eval/predict.js';
import { initBackend } from '../src/backend/index.js';
import { argmaxRows, entropy, riskCoverage, spearman } from '../src/eval/metrics.js';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/poi-ferplus' },
    data: { type: 'string', default: '../shared/data/ferplus' },
    split: { type: 'string' },
  },
});

await initBackend({});
const { model, manifest } = await loadModel(v.model!);
const split = v.split ?? defaultSplits(v.data!).val;
const k = model.numClasses;
const { set } = await loadSet(v.data!, split, manifest.input, { classes: manifest.classes, quiet: true, votes: 'raw' });
const dropped = await loadSet(v.data!, split, manifest.input, { classes: manifest.classes, quiet: true });
const n = set.labels.length;
const probs = new Float32Array(n * k);
const conf = new Float32Array(n);
const q = model.pin ? new Float32Array(n * k) : null;
for (let s = 0; s < n; s += 256) {
  const e = Math.min(n, s + 256);
  const x = toInput(set, s, e, manifest.input.mean, manifest.input.std);
  const out = model.predict(x);
  probs.set(await out.probs.data(), s * k);
  conf.set(await out.confidence.data(), s);
  const ex = q ? model.explain(x) : null;
  if (ex) q!.set(await ex.q.data(), s * k);
  tf.dispose([x, out.probs, out.confidence, ...(ex ? [ex.q, ...ex.regions.flatMap((r) => [r.probs, r.auProbs])] : [])]);
}

const at = (a: Float32Array, i: number, j: number) => a[i * k + j];
const rowMax = (a: Float32Array, i: number) => Math.max(...a.subarray(i * k, i * k + k));
const y = set.labels;
const per = (f: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => f(i));
const scores: [string, Float64Array][] = [
  ['1-c', per((i) => 1 - conf[i])],
  ['1-max p', per((i) => 1 - rowMax(probs, i))],
  ['1-c*max p', per((i) => 1 - conf[i] * rowMax(probs, i))],
  ['entropy p', entropy(probs, k)],
];
// the PIN+TRN ensemble: both run at inference already (PIN explains), so this is a reportable score
const mix = q ? Float32Array.from(probs, (p, j) => (p + q[j]) / 2) : probs;
if (q) {
  scores.push(
    ['entropy q (PIN)', entropy(q, k)],
    ['entropy (p+q)/2', entropy(mix, k)],
    ['1-max (p+q)/2', per((i) => 1 - rowMax(mix, i))],
    ['[label] 1-q[y]/max q', per((i) => 1 - at(q, i, y[i]) / rowMax(q, i))],
    ['[label] 1-q[y]', per((i) => 1 - at(q, i, y[i]))],
    ['[label] 1-(q[y]+p[y])/2', per((i) => 1 - (at(q, i, y[i]) + at(probs, i, y[i])) / 2)],
  );
}
scores.push(['[label] 1-p[y]', per((i) => 1 - at(probs, i, y[i]))]);

const pred = argmaxRows(probs, k);
const right = Array.from(pred, (p, i) => p === y[i]);
const veRaw = entropy(set.soft!, k);
const veDrop = entropy(dropped.set.soft!, k);
const pinAcc = q ? ` ; PIN's q alone ${((100 * Array.from(argmaxRows(q, k), (p, i) => p === y[i]).filter(Boolean).length) / n).toFixed(2)}%` : '';
console.log(`${v.model} on ${split} (${n} faces); accuracy ${((100 * right.filter(Boolean).length) / n).toFixed(2)}%${pinAcc}`);
console.log(`${'score'.padEnd(26)}  rho(raw)  rho(drop-single)    AURC  accuracy by fifth, most sure first`);
for (const [name, u] of scores) {
  const rc = riskCoverage(probs, y, u);
  const order = Array.from(u.keys()).sort((a, b) => u[a] - u[b]);
  const fifths = [0, 1, 2, 3, 4].map((f) => {
    const idx = order.slice(Math.floor((f * n) / 5), Math.floor(((f + 1) * n) / 5));
    return ((100 * idx.filter((i) => right[i]).length) / idx.length).toFixed(1).padStart(5);
  });
  console.log(`${name.padEnd(26)}  ${spearman(u, veRaw).toFixed(4).padStart(8)}  ${spearman(u, veDrop).toFixed(4).padStart(16)}  ${rc.aurc.toFixed(4)}  ${fifths.join(' ')}`);
}
console.log('([label] rows use the true label: what c is or could be trained towards, not available at inference)');

// Does the confidence follow the face or mostly its class? Per true class, mean c against mean max p.
console.log(`\n${'class'.padEnd(12)} faces  mean c  mean max p  mean vote entropy`);
manifest.classes.forEach((name, c) => {
  const idx = Array.from(y.keys()).filter((i) => y[i] === c);
  if (!idx.length) return;
  const mean = (f: (i: number) => number) => idx.reduce((s, i) => s + f(i), 0) / idx.length;
  console.log(`${name.padEnd(12)} ${String(idx.length).padStart(5)}  ${mean((i) => conf[i]).toFixed(3)}  ${mean((i) => rowMax(probs, i)).toFixed(3).padStart(10)}  ${mean((i) => veRaw[i]).toFixed(3).padStart(17)}`);
});
model.dispose();
