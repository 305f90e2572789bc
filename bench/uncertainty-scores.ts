/**
 * Which per-face score ranks ambiguity best? Runs a model over a labelled split and prints, for
 * 1-c (the uncertainty module), 1-max p, 1-c·max p and the entropy of p: Spearman correlation with the
 * entropy of the votes (as cast, and with single votes dropped), the area under the risk-coverage
 * curve, and accuracy by fifth of the faces (most sure first) — a usable confidence rises monotonically.
 *
 *   node dist/bench/uncertainty-scores.js [--model models/poi-ferplus] [--data ../shared/data/ferplus] [--split FER2013Train]
 */
import { parseArgs } from 'node:util';
import { readModelManifest } from '../src/model/io.js';
import { defaultSplits, loadSet } from '../src/cli/data.js';
import { predictModelSet } from '../src/cli/eval.js';
import { initBackend } from '../src/backend/index.js';
import { entropy, riskCoverage, spearman } from '../src/eval/metrics.js';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/poi-ferplus' },
    data: { type: 'string', default: '../shared/data/ferplus' },
    split: { type: 'string' },
  },
});

await initBackend({});
const manifest = await readModelManifest(v.model!);
const split = v.split ?? defaultSplits(v.data!).val;
const k = manifest.classes.length;
const raw = await loadSet(v.data!, split, manifest.input, { classes: manifest.classes, quiet: true, votes: 'raw' });
const dropped = await loadSet(v.data!, split, manifest.input, { classes: manifest.classes, quiet: true });
const set = raw.set;
const { probs, confidence, runtime } = await predictModelSet(v.model!, set);
const n = set.labels.length;
const maxP = Float64Array.from({ length: n }, (_, i) => Math.max(...probs.subarray(i * k, i * k + k)));
const scores: Record<string, Float64Array> = {
  '1-c': Float64Array.from(confidence, (c) => 1 - c),
  '1-max p': Float64Array.from(maxP, (m) => 1 - m),
  '1-c*max p': Float64Array.from(confidence, (c, i) => 1 - c * maxP[i]),
  'entropy p': entropy(probs, k),
};
const right = Array.from({ length: n }, (_, i) => {
  let a = 0;
  for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + a]) a = j;
  return a === set.labels[i];
});
const veRaw = entropy(set.soft!, k);
const veDrop = entropy(dropped.set.soft!, k);
console.log(`${v.model} on ${split} (${n} faces, ${runtime}); accuracy ${(100 * right.filter(Boolean).length / n).toFixed(2)}%`);
console.log('score          rho(raw)  rho(drop-single)  AURC    accuracy by fifth, most sure first');
for (const [name, u] of Object.entries(scores)) {
  const rc = riskCoverage(probs, set.labels, u);
  const order = Array.from(u.keys()).sort((a, b) => u[a] - u[b]);
  const fifths = [0, 1, 2, 3, 4].map((f) => {
    const idx = order.slice(Math.floor((f * n) / 5), Math.floor(((f + 1) * n) / 5));
    return `${((100 * idx.filter((i) => right[i]).length) / idx.length).toFixed(1)}`;
  });
  console.log(`${name.padEnd(14)} ${spearman(u, veRaw).toFixed(4).padStart(8)}  ${spearman(u, veDrop).toFixed(4).padStart(16)}  ${rc.aurc.toFixed(4)}  ${fifths.join(' ')}`);
}

// Does the confidence follow the face or mostly its class? Per true class,
// mean c against mean max p and the vote entropy.
console.log('\nclass        faces  mean c  mean max p  mean vote entropy');
manifest.classes.forEach((name, c) => {
  const idx = Array.from(set.labels.keys()).filter((i) => set.labels[i] === c);
  if (!idx.length) return;
  const mean = (f: (i: number) => number) => idx.reduce((s, i) => s + f(i), 0) / idx.length;
  console.log(`${name.padEnd(12)} ${String(idx.length).padStart(5)}  ${mean((i) => confidence[i]).toFixed(3)}  ${mean((i) => maxP[i]).toFixed(3).padStart(10)}  ${mean((i) => veRaw[i]).toFixed(3).padStart(17)}`);
});
