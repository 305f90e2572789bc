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
import { loadModel } from '../src/model/io.js';
import { defaultSplits, loadSet } from '../src/data/load.js';
import { initBackend } from '../src/backend/index.js';
import { applyConfidenceHead, fitConfidenceHead, setFeatures } from '../src/eval/fit-confidence.js';
import { entropy, spearman, voteAgreement } from '../src/eval/metrics.js';

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

const load = async (split: string) => (await loadSet(v.data!, split, manifest.input, { classes: manifest.classes, quiet: true, votes: 'raw' })).set;
const trainSet = await load(splits.train!);
const valSet = await load(splits.val!);
console.log(`features of ${trainSet.labels.length} training and ${valSet.labels.length} validation faces ...`);
const tr = await setFeatures(model, trainSet, { quiet: true });
const va = await setFeatures(model, valSet, { quiet: true });

const topShare = (soft: Float32Array, n: number) => Float32Array.from({ length: n }, (_, i) => Math.max(...soft.subarray(i * k, i * k + k)));
const pOfLabel = (p: Float32Array, y: Int32Array) => Float32Array.from(y, (c, i) => p[i * k + c]);

/** The uncertainty module's head fitted on frozen features towards `target` (what poi fit-confidence does). */
function fitReadout(x: Float32Array, dim: number, target: Float32Array, epochs: number): (xs: Float32Array) => Float32Array {
  const { head } = fitConfidenceHead(x, dim, target, { hidden: 64, epochs, seed: 1 });
  return (xs) => applyConfidenceHead(head, xs, dim);
}

const voteEntropyVal = entropy(valSet.soft!, k);
const rank = (conf: ArrayLike<number>) => spearman(Float64Array.from(conf, (c) => 1 - c), voteEntropyVal);
const maxP = Float32Array.from({ length: valSet.labels.length }, (_, i) => Math.max(...va.probs.subarray(i * k, i * k + k)));
const rows: [string, number][] = [
  ["the model's 1 − c", rank(va.confidence)],
  ["the model's 1 − max p", rank(maxP)],
];
const epochs = Number(v.epochs);
const targets: [string, Float32Array][] = [
  ['readout → top vote share', topShare(trainSet.soft!, trainSet.labels.length)],
  ['readout → 1 − vote entropy / log K', Float32Array.from(voteAgreement(trainSet.soft!, k))],
  ['readout → p[y] (labels only)', pOfLabel(tr.probs, trainSet.labels)],
];
for (const [name, target] of targets) {
  const predict = fitReadout(tr.features, tr.dim, target, epochs);
  rows.push([name, rank(predict(va.features))]);
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
  const predict = fitReadout(withProbs(tr.features, tr.probs, tr.dim), tr.dim + k, targets[1][1], epochs);
  rows.push(['readout of features + p → 1 − vote entropy', rank(predict(withProbs(va.features, va.probs, va.dim)))]);
}
console.log(`\n${v.model}: Spearman(uncertainty, entropy of the raw votes) on ${splits.val} (${valSet.labels.length} faces); readouts on frozen TRN features, ${epochs} epochs`);
for (const [name, r] of rows) console.log(`  ${name.padEnd(40)} ${r.toFixed(3)}`);
if (v.json) writeFileSync(v.json, JSON.stringify({ model: v.model, epochs, spearman: Object.fromEntries(rows) }, null, 2) + '\n');
