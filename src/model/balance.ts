/**
 * Post-hoc logit adjustment (Menon et al. 2021, "Long-tail learning via logit adjustment"): a model
 * trained on imbalanced labels predicts argmax p(y|x), which favours the frequent classes; subtracting
 * τ·log π(y) from the logits (π = the training labels' class frequencies) moves it towards the
 * classifier of the balanced error, so the rare classes (disgust, contempt, fear) get predicted. Baked
 * into TRN's head bias like the temperature, so every runtime and the browser follow.
 */
import { readDataset } from '../data/detect.js';
import { describeStaleAfterHeadEdit, HEAD_LAYER, shiftHeadBias } from './calibration.js';
import type { BalanceRecord, ModelManifest } from './format.js';
import { readModelManifest, rewriteModelFolder } from './io.js';

/** Class frequencies of a dataset split's labels, in `classes` order (matched by name, any case). */
export function classPrior(path: string, split: string | undefined, classes: string[]): { prior: number[]; dataset: string; n: number } {
  const ds = readDataset({ path, split });
  const index = new Map(ds.classes.map((c, i) => [c.toLowerCase(), i]));
  const counts = new Array(classes.length).fill(0);
  let n = 0;
  const order = classes.map((c) => {
    const i = index.get(c.toLowerCase());
    if (i === undefined) throw new Error(`${ds.name}: has no class "${c}" (its classes: ${ds.classes.join(', ')})`);
    return i;
  });
  const byTheirs = new Map(order.map((theirs, ours) => [theirs, ours]));
  for (const s of ds.samples) {
    const ours = byTheirs.get(s.label);
    if (ours === undefined) continue;
    counts[ours]++;
    n++;
  }
  if (n === 0) throw new Error(`${ds.name}: no labelled samples to count classes from`);
  // a class never seen gets half a count, so its log is finite
  return { prior: counts.map((c) => Math.max(c, 0.5) / n), dataset: ds.name, n };
}

/**
 * Write `srcDir`'s model with τ·log π subtracted from its head bias into `outDir` (may be srcDir); a
 * model.onnx is re-exported (rewriteModelFolder).
 * A model already balanced is refused: balance the unbalanced folder with the τ you want.
 */
export async function writeBalancedModel(
  srcDir: string,
  outDir: string,
  tau: number,
  prior: { prior: number[]; dataset: string; split: string; n: number },
): Promise<ModelManifest> {
  if (!(tau >= 0 && Number.isFinite(tau))) throw new RangeError(`balance: τ must be a finite number ≥ 0, got ${tau}`);
  const m = await readModelManifest(srcDir);
  if (m.balance) throw new Error(`${srcDir}: already balanced (τ ${m.balance.tau}); balance the unbalanced model instead`);
  if (prior.prior.length !== m.classes.length) throw new Error(`${srcDir}: ${prior.prior.length} class frequencies for ${m.classes.length} classes`);
  // with a temperature already baked in, the logits are z/T: the offset applies to those, as it reads
  const offsets = prior.prior.map((p) => tau * Math.log(p));
  const record: BalanceRecord = {
    method: 'logit-adjustment',
    tau,
    prior: prior.prior,
    priorFrom: { dataset: prior.dataset, split: prior.split, n: prior.n },
    balancedAt: new Date().toISOString(),
  };
  // the describe bands stay, except for a model whose c is its top probability, which the offsets move
  const drop = describeStaleAfterHeadEdit(m);
  return (await rewriteModelFolder(srcDir, outDir, { edit: (t, source) => shiftHeadBias(t, offsets, source), patch: { balance: record }, drop })).manifest;
}

export { HEAD_LAYER };
