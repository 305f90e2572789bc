/**
 * Refitting a saved model's uncertainty head towards annotator agreement, as `poi fit-confidence` does.
 *
 * POI's uncertainty module c has two roles: in training it is the per-face weight between the label
 * and PIN's soft label, trained towards their agreement; at inference it is the reported confidence.
 * The first role ends with training, and its target says little about whether people disagree about
 * a face. So after training the head is fitted afresh, same shape, on the frozen pooled TRN features
 * (no augmentation), by BCE towards the annotators' agreement 1 − H(votes)/log K, and written back in
 * place of the old one. The emotion head and the features are untouched, so the probabilities are too.
 *
 * Measured on the validation split: Spearman(1 − confidence, entropy of the raw votes) with the head
 * before and after, and 1 − max p of the same model for comparison. The written folder is checked to
 * give the same probabilities as before and the fitted head's confidence.
 */
import * as tf from '../tf.js';
import { initBackend } from '../backend/index.js';
import { readDataset } from '../data/detect.js';
import { defaultSplits, loadSet } from '../data/load.js';
import type { ImageSet } from '../data/types.js';
import { asStored, CONFIDENCE_LAYERS, requireConfidenceHead, writeConfidenceHead } from '../model/confidence.js';
import { loadModel, readModelFolder, storedDtype, type ConfidenceRecord, type DescribeRecord, type TensorMap } from '../model/io.js';
import { binaryCrossEntropyWithLogits } from '../model/losses.js';
import { ParamStore } from '../model/params.js';
import type { PoiModel } from '../model/poi.js';
import { ConfidenceHead } from '../model/trn.js';
import { Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { firstFaces } from './calibrate-model.js';
import { predictModelSet } from './evaluate-model.js';
import { entropy, spearman, voteAgreement } from './metrics.js';
import { toInput } from './predict.js';

export interface FitConfidenceOptions {
  /** The model folder whose uncertainty head is refitted. */
  model: string;
  /** Dataset folder with annotators' votes (FERPlus's label.csv). */
  data: string;
  /** Split the head is fitted on (default: the dataset's training split). */
  split?: string;
  /** Split the Spearman figures are measured on (default: the dataset's validation split). */
  valSplit?: string;
  /** Where to write the model (default: the model folder itself). */
  out?: string;
  /** Passes over the fitting split (default 20). */
  epochs?: number;
  /** Seed of the head's initialisation and of the shuffle (default 1). */
  seed?: number;
  /** Faces per Adam step (default 256). */
  batchSize?: number;
  /** Adam's learning rate (default 1e-3). */
  learningRate?: number;
  /** Fit and measure only; write nothing. */
  dryRun?: boolean;
  backend?: string;
  threads?: number;
  quiet?: boolean;
}

/** Spearman(1 − score, entropy of the raw votes) on the validation split. */
export interface ConfidenceRanking {
  /** 1 − c with the head the folder had. */
  before: number;
  /** 1 − c with the fitted head (as the folder stores it). */
  after: number;
  /** 1 − max p of the same model, for comparison. */
  oneMinusMaxP: number;
}

export interface FitConfidenceResult {
  model: string;
  out: string | null;
  data: string;
  /** Where the head was fitted: dataset name (e.g. ferplus:FER2013Train), split, faces with votes. */
  fittedOn: { dataset: string; split: string; n: number };
  /** Where it was measured. */
  measuredOn: { dataset: string; split: string; n: number };
  /** The fit was measured on the split it was fitted on: the "after" figure is optimistic. */
  inSample: boolean;
  epochs: number;
  seed: number;
  /** Pooled feature size and the head's hidden width. */
  dim: number;
  hidden: number;
  /** Mean BCE over the fitting split, per epoch. */
  loss: number[];
  spearman: ConfidenceRanking;
  /** The folder's head had already been refitted (its record), so "before" is that fit, not the trained c. */
  previous: Omit<ConfidenceRecord, 'previous'> | null;
  /**
   * Largest differences between the written model and what was expected, over `faces` validation faces:
   * probabilities against the model's before (tfjs), confidence against the fitted head; `onnx` the
   * same for a re-exported model.onnx when onnxruntime loads.
   */
  verified: { faces: number; maxProbDiff: number; maxConfidenceDiff: number; onnx: { maxProbDiff: number; maxConfidenceDiff: number } | null } | null;
  onnxReexported: boolean;
  /**
   * The folder's describe bands (model.json's `describe`), tuned on the c this fit replaces: dropped from
   * the written folder (a dry run writes nothing); null when it had none.
   */
  staleDescribe: DescribeRecord | null;
}

/** Pooled TRN features, probabilities and confidence of every face of a set (inference mode). */
export interface SetFeatures {
  features: Float32Array;
  dim: number;
  probs: Float32Array;
  confidence: Float32Array;
}

const FEATURE_BATCH = 128;

/** TRN's pooled features (what the uncertainty head reads), probabilities and c for a whole set. */
export async function setFeatures(model: PoiModel, set: ImageSet, o: { label?: string; quiet?: boolean } = {}): Promise<SetFeatures> {
  const { mean, std } = model.config.input;
  const n = set.labels.length;
  const k = model.numClasses;
  const probs = new Float32Array(n * k);
  const confidence = new Float32Array(n);
  let features = new Float32Array(0);
  let dim = 0;
  const bar = o.quiet ? null : new Progress({ total: n, label: o.label ?? 'features', unit: 'img' });
  for (let s = 0; s < n; s += FEATURE_BATCH) {
    const e = Math.min(n, s + FEATURE_BATCH);
    const x = toInput(set, s, e, mean, std);
    const [g, p, c] = tf.tidy(() => {
      const out = model.trn.forward(x, { training: false, bnUpdates: [] });
      const p = tf.softmax(out.logits);
      return [out.features, p, out.confLogits ? tf.sigmoid(out.confLogits) : tf.max(p, 1)];
    });
    if (!dim) {
      dim = g.shape[1]!;
      features = new Float32Array(n * dim);
    }
    features.set(await g.data(), s * dim);
    probs.set(await p.data(), s * k);
    confidence.set(await c.data(), s);
    tf.dispose([x, g, p, c]);
    bar?.tick(e - s);
  }
  bar?.done({});
  return { features, dim, probs, confidence };
}

/** Seed keys of the head's two random streams, so the init and the shuffle are independent. */
const INIT_STREAM = 0xc0f1;
const SHUFFLE_STREAM = 0x5f1e;

/**
 * Fit a fresh uncertainty head (ConfidenceHead: dim → hidden ReLU → 1) by mean BCE of sigmoid(logit)
 * against `target` in [0,1], with Adam over seeded shuffles. Returns the head's four tensors under
 * their names in a model (trn.unc.*) and the mean loss of each epoch.
 */
export function fitConfidenceHead(
  features: Float32Array,
  dim: number,
  target: Float32Array,
  o: { hidden: number; epochs: number; seed: number; batchSize?: number; learningRate?: number; onEpoch?: (epoch: number, loss: number) => void },
): { head: TensorMap; loss: number[] } {
  const n = target.length;
  if (n === 0) throw new RangeError('fitConfidenceHead: no faces to fit on');
  if (features.length !== n * dim) throw new RangeError(`fitConfidenceHead: ${features.length} feature values for ${n} faces of ${dim}`);
  const batch = o.batchSize ?? 256;
  const store = new ParamStore(Rng.derive(o.seed, INIT_STREAM));
  // the output starts at the mean target, so the steps go to ranking the faces, not to finding the level
  let meanTarget = 0;
  for (const t of target) meanTarget += t / n;
  const m = Math.min(1 - 1e-3, Math.max(1e-3, meanTarget));
  const head = new ConfidenceHead(store, dim, o.hidden, Math.log(m / (1 - m)));
  const vars = [...store.trainable.values()];
  const opt = tf.train.adam(o.learningRate ?? 1e-3);
  const x = tf.tensor2d(features, [n, dim]);
  const t = tf.tensor1d(target);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const shuffle = Rng.derive(o.seed, SHUFFLE_STREAM);
  const loss: number[] = [];
  try {
    for (let ep = 0; ep < o.epochs; ep++) {
      shuffle.shuffle(order);
      let sum = 0;
      for (let s = 0; s < n; s += batch) {
        const e = Math.min(n, s + batch);
        const idx = tf.tensor1d(order.subarray(s, e), 'int32');
        const cost = opt.minimize(
          () => tf.tidy(() => tf.mean(binaryCrossEntropyWithLogits(head.logits(tf.gather(x, idx) as tf.Tensor2D), tf.gather(t, idx))) as tf.Scalar),
          true,
          vars,
        );
        sum += cost!.dataSync()[0] * (e - s);
        tf.dispose([cost!, idx]);
      }
      loss.push(sum / n);
      o.onEpoch?.(ep + 1, sum / n);
    }
    const out: TensorMap = new Map();
    for (const [name, v] of store.trainable) out.set(name, { shape: v.shape.slice(), values: Float32Array.from(v.dataSync()) });
    return { head: out, loss };
  } finally {
    tf.dispose([x, t]);
    opt.dispose();
    store.dispose();
  }
}

/** Confidence c of each face given its pooled features, with the head's tensors (the model's own layers). */
export function applyConfidenceHead(head: TensorMap, features: Float32Array, dim: number): Float32Array {
  const hiddenW = head.get(`${CONFIDENCE_LAYERS[0]}.w`);
  if (!hiddenW) throw new Error(`the head lacks "${CONFIDENCE_LAYERS[0]}.w"`);
  const store = new ParamStore(new Rng(0));
  try {
    const layers = new ConfidenceHead(store, dim, hiddenW.shape[1], 0);
    store.load(head, 'the fitted head');
    const c = tf.tidy(() => tf.sigmoid(layers.logits(tf.tensor2d(features, [features.length / dim, dim]))));
    const out = Float32Array.from(c.dataSync());
    c.dispose();
    return out;
  } finally {
    store.dispose();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Validation faces the written folder is re-run on. */
const VERIFY_FACES = 256;

/** The written folder must give these (same weights for the probabilities; same head for c). */
const PROB_TOLERANCE = 1e-6;
const CONFIDENCE_TOLERANCE = 1e-5;
/** onnxruntime against tfjs, as test/onnx.test.ts compares them. */
const ONNX_TOLERANCE = 1e-4;

/** Spearman(1 − score, vote entropy). */
function ranking(score: ArrayLike<number>, voteEntropy: Float64Array): number {
  return spearman(Float64Array.from(score, (c) => 1 - c), voteEntropy);
}

export async function fitConfidence(o: FitConfidenceOptions): Promise<FitConfidenceResult> {
  const folder = await readModelFolder(o.model);
  const { manifest } = folder;
  requireConfidenceHead(manifest, o.model);
  const splits = defaultSplits(o.data);
  const split = o.split ?? splits.train;
  if (!split) throw new Error(`poi fit-confidence: cannot tell which split of ${o.data} is the training split; pass --split`);
  const valSplit = o.valSplit ?? splits.val;
  if (!valSplit) throw new Error(`poi fit-confidence: cannot tell which split of ${o.data} is the validation split; pass --val-split`);
  const epochs = o.epochs ?? 20;
  const seed = o.seed ?? 1;
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new RangeError(`fit-confidence: epochs must be a positive integer, got ${epochs}`);
  const k = manifest.classes.length;

  // before decoding anything: a split without votes cannot give the target
  for (const s of [split, valSplit]) {
    const ds = readDataset({ path: o.data, split: s, soft: 'raw' });
    if (!ds.samples.some((x) => x.soft)) {
      throw new Error(
        `${ds.name}: has no annotators' votes (soft labels); the target, the annotators' agreement 1 − H(votes)/log K, ` +
          `needs each face's votes (FERPlus's label.csv)`,
      );
    }
  }
  const load = (s: string) => loadSet(o.data, s, manifest.input, { classes: manifest.classes, quiet: o.quiet, votes: 'raw' });
  const train = await load(split);
  const val = await load(valSplit);

  await initBackend({ backend: o.backend, threads: o.threads });
  const { model } = await loadModel(folder);
  let tr: SetFeatures;
  let va: SetFeatures;
  try {
    tr = await setFeatures(model, train.set, { label: `features ${train.dataset.name}`, quiet: o.quiet });
    va = await setFeatures(model, val.set, { label: `features ${val.dataset.name}`, quiet: o.quiet });
  } finally {
    model.dispose();
  }

  // faces whose votes are all on unknown / not-a-face have no agreement: left out of the fit
  const agreement = voteAgreement(train.set.soft!, k);
  const rows = Int32Array.from(agreement.keys()).filter((i) => Number.isFinite(agreement[i]));
  const fitFeatures = new Float32Array(rows.length * tr.dim);
  rows.forEach((r, i) => fitFeatures.set(tr.features.subarray(r * tr.dim, (r + 1) * tr.dim), i * tr.dim));
  const target = Float32Array.from(rows, (r) => agreement[r]);
  const hidden = manifest.config.model.uncertainty.hidden;
  const bar = o.quiet ? null : new Progress({ total: epochs, label: 'fit uncertainty head', unit: 'epoch' });
  const fit = fitConfidenceHead(fitFeatures, tr.dim, target, {
    hidden,
    epochs,
    seed,
    batchSize: o.batchSize,
    learningRate: o.learningRate,
    onEpoch: (_, l) => bar?.tick(1, { bce: l.toFixed(4) }),
  });
  bar?.done({ bce: fit.loss[fit.loss.length - 1].toFixed(4) });

  // measure (and later verify) the head as the folder will hold it: a compact folder rounds it
  const stored = asStored(fit.head, storedDtype(manifest));
  const confAfter = applyConfidenceHead(stored, va.features, va.dim);
  const voteEntropy = entropy(val.set.soft!, k);
  const maxP = Float32Array.from({ length: val.set.labels.length }, (_, i) => Math.max(...va.probs.subarray(i * k, (i + 1) * k)));
  const measuredN = voteEntropy.reduce((a, h) => a + (Number.isFinite(h) ? 1 : 0), 0);
  const prev = manifest.confidence ?? null;
  const { previous: older, ...prevRest } = prev ?? ({} as Partial<ConfidenceRecord>);
  const result: FitConfidenceResult = {
    model: o.model,
    out: o.dryRun ? null : (o.out ?? o.model),
    data: o.data,
    fittedOn: { dataset: train.dataset.name, split, n: rows.length },
    measuredOn: { dataset: val.dataset.name, split: valSplit, n: measuredN },
    inSample: train.dataset.name === val.dataset.name,
    epochs,
    seed,
    dim: tr.dim,
    hidden,
    loss: fit.loss,
    spearman: { before: ranking(va.confidence, voteEntropy), after: ranking(confAfter, voteEntropy), oneMinusMaxP: ranking(maxP, voteEntropy) },
    previous: prev ? (prevRest as Omit<ConfidenceRecord, 'previous'>) : null,
    verified: null,
    onnxReexported: false,
    staleDescribe: manifest.describe ?? null,
  };
  if (o.dryRun) return result;

  const out = o.out ?? o.model;
  const record: ConfidenceRecord = {
    target: 'vote-agreement',
    layers: [...CONFIDENCE_LAYERS],
    fittedOn: { ...result.fittedOn, epochs, seed },
    spearman: { ...result.measuredOn, ...result.spearman },
    fittedAt: new Date().toISOString(),
    ...(prev ? { previous: [...(older ?? []), prevRest as Omit<ConfidenceRecord, 'previous'>] } : {}),
  };
  const written = await writeConfidenceHead(o.model, out, fit.head, record);
  result.onnxReexported = written.onnx;

  // the written folder: the probabilities it had, the confidence of the fitted head
  const m = Math.min(VERIFY_FACES, val.set.labels.length);
  const faces = firstFaces(val.set, m);
  const check = await predictModelSet(out, faces, { runtime: 'tfjs', backend: o.backend, threads: o.threads });
  const expectedProbs = va.probs.subarray(0, m * k);
  const expectedConf = confAfter.subarray(0, m);
  const verified: NonNullable<FitConfidenceResult['verified']> = {
    faces: m,
    maxProbDiff: maxAbsDiff(check.probs, expectedProbs),
    maxConfidenceDiff: maxAbsDiff(check.confidence, expectedConf),
    onnx: null,
  };
  const { onnxAvailable } = await import('../infer/ort-runner.js');
  if (written.onnx && onnxAvailable()) {
    const onnx = await predictModelSet(out, faces, { runtime: 'onnx', threads: o.threads });
    verified.onnx = { maxProbDiff: maxAbsDiff(onnx.probs, expectedProbs), maxConfidenceDiff: maxAbsDiff(onnx.confidence, expectedConf) };
  }
  result.verified = verified;
  const bad =
    verified.maxProbDiff > PROB_TOLERANCE ||
    verified.maxConfidenceDiff > CONFIDENCE_TOLERANCE ||
    (verified.onnx !== null && (verified.onnx.maxProbDiff > ONNX_TOLERANCE || verified.onnx.maxConfidenceDiff > ONNX_TOLERANCE));
  if (bad) {
    const f = (x: number) => x.toExponential(2);
    throw new Error(
      `${out}: the written model does not give the expected outputs (max differences: probabilities ${f(verified.maxProbDiff)}, ` +
        `confidence ${f(verified.maxConfidenceDiff)}` +
        (verified.onnx ? `; model.onnx: ${f(verified.onnx.maxProbDiff)}, ${f(verified.onnx.maxConfidenceDiff)}` : '') +
        ')',
    );
  }
  return result;
}
