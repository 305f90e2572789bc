/**
 * Post-hoc temperature scaling (Guo et al., 2017): one scalar T > 0 so that softmax(z / T) is
 * calibrated, fitted by minimising the negative log-likelihood of the labels. Dividing every logit by
 * the same positive T never changes the argmax, so accuracy and the predicted class are untouched.
 *
 * Fitting works from the model's probabilities: log p = z − logsumexp(z), i.e. the logits up to a
 * per-row constant, and softmax is blind to per-row constants, so softmax(log p / T) = softmax(z / T).
 * No access to the network is needed. Probabilities are clamped at PROB_FLOOR before the log: a class
 * whose float32 probability underflowed to 0 is >~100 nats below the top one either way.
 *
 * Pure functions over typed arrays (no tfjs, no Node APIs); conventions as in metrics.ts
 * (probs N*K row-major, label −1 = unlabelled and skipped).
 */
import { entropy, expectedCalibrationError, numClasses, ranks, spearman, type Labels, type Probs } from './metrics.js';
import { Rng } from '../util/rng.js';

/** Clamp under probabilities before taking logs (smallest normal float32 is ~1.2e-38). */
export const PROB_FLOOR = 1e-38;

export interface TemperatureFitOptions {
  /** Search range for T (default 0.05 .. 20); an optimum on the edge is reported with atBound. */
  min?: number;
  max?: number;
  /** Stop when the bracket in log T is narrower than this (default 1e-7). */
  tol?: number;
}

export interface TemperatureFit {
  temperature: number;
  /** Mean NLL (nats) at T = 1 and at the fitted T, over the labelled samples. */
  nllBefore: number;
  nllAfter: number;
  /** Labelled samples used. */
  n: number;
  /** True when the optimum sits on the search range's edge (the data want a T outside it). */
  atBound: boolean;
}

/** log(max(p, PROB_FLOOR)) of each entry: the logits up to a per-row constant. */
export function logitsFromProbs(probs: Probs): Float64Array {
  const z = new Float64Array(probs.length);
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (!(p >= 0)) throw new RangeError(`probability ${i} is ${p}`);
    z[i] = Math.log(Math.max(p, PROB_FLOOR));
  }
  return z;
}

/** Indices of the labelled rows (optionally restricted to `rows`), checking labels are in [0, k). */
function labelledRows(labels: Labels, k: number, rows?: ArrayLike<number>): Int32Array {
  const src = rows ?? Int32Array.from({ length: labels.length }, (_, i) => i);
  const out: number[] = [];
  for (let t = 0; t < src.length; t++) {
    const i = src[t];
    const y = labels[i];
    if (y === -1) continue;
    if (!(Number.isInteger(y) && y >= 0 && y < k)) throw new RangeError(`label ${i} is ${y}, not in [0, ${k}) or -1`);
    out.push(i);
  }
  return Int32Array.from(out);
}

/** Mean NLL (nats) of softmax(z / T) for the given labelled rows. */
function nllAt(z: Float64Array, labels: Labels, k: number, rows: Int32Array, T: number): number {
  const inv = 1 / T;
  let sum = 0;
  for (const i of rows) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, z[i * k + j] * inv);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(z[i * k + j] * inv - m);
    sum += m + Math.log(s) - z[i * k + labels[i]] * inv;
  }
  return sum / rows.length;
}

/** Mean NLL (nats) of the labelled rows of `logits` (N*K) divided by T. */
export function temperatureNll(logits: ArrayLike<number>, labels: Labels, T: number): number {
  const k = numClasses(logits, labels);
  const rows = labelledRows(labels, k);
  if (rows.length === 0) throw new RangeError('temperature NLL: no labelled samples');
  return nllAt(Float64Array.from(logits), labels, k, rows, T);
}

/**
 * Fit T by minimising the mean NLL of softmax(logits / T) over the labelled rows (or `rows`).
 * The NLL is convex in 1/T, hence unimodal in log T, so a golden-section search on log T over
 * [min, max] finds the global minimum without derivatives or step sizes to tune.
 */
export function fitTemperature(logits: ArrayLike<number>, labels: Labels, opts: TemperatureFitOptions & { rows?: ArrayLike<number> } = {}): TemperatureFit {
  const k = numClasses(logits, labels);
  const rows = labelledRows(labels, k, opts.rows);
  if (rows.length === 0) throw new RangeError('temperature fit: no labelled samples (every label is -1)');
  const min = opts.min ?? 0.05;
  const max = opts.max ?? 20;
  if (!(min > 0 && max > min)) throw new RangeError(`temperature fit: bad range [${min}, ${max}]`);
  const tol = opts.tol ?? 1e-7;
  const z = logits instanceof Float64Array ? logits : Float64Array.from(logits);
  const f = (u: number) => nllAt(z, labels, k, rows, Math.exp(u));
  const g = (Math.sqrt(5) - 1) / 2;
  let a = Math.log(min);
  let b = Math.log(max);
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > tol) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  let u = (a + b) / 2;
  // the edges themselves are candidates (golden section never evaluates them)
  const lo = Math.log(min);
  const hi = Math.log(max);
  let best = f(u);
  for (const e of [lo, hi]) {
    const fe = f(e);
    if (fe < best) {
      best = fe;
      u = e;
    }
  }
  const atBound = u - lo < 1e-4 || hi - u < 1e-4;
  return { temperature: Math.exp(u), nllBefore: f(0), nllAfter: best, n: rows.length, atBound };
}

/** softmax(log p / T) row by row: the probabilities a model gives once its logits are divided by T. */
export function scaleProbs(probs: Probs, k: number, T: number): Float32Array {
  if (!(T > 0 && Number.isFinite(T))) throw new RangeError(`temperature must be positive and finite, got ${T}`);
  if (probs.length % k !== 0) throw new RangeError(`scaleProbs: ${probs.length} values are not rows of ${k}`);
  const out = new Float32Array(probs.length);
  const inv = 1 / T;
  const row = new Float64Array(k);
  for (let i = 0; i < probs.length / k; i++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) {
      row[j] = Math.log(Math.max(probs[i * k + j], PROB_FLOOR)) * inv;
      m = Math.max(m, row[j]);
    }
    let s = 0;
    for (let j = 0; j < k; j++) s += (row[j] = Math.exp(row[j] - m));
    for (let j = 0; j < k; j++) out[i * k + j] = row[j] / s;
  }
  return out;
}

/** Mean NLL (nats) of the labelled rows of `probs` (clamped at PROB_FLOOR). */
export function meanNll(probs: Probs, labels: Labels): number {
  const k = numClasses(probs, labels);
  const rows = labelledRows(labels, k);
  if (rows.length === 0) return NaN;
  let s = 0;
  for (const i of rows) s -= Math.log(Math.max(probs[i * k + labels[i]], PROB_FLOOR));
  return s / rows.length;
}

export interface CrossFit {
  folds: number;
  seed: number;
  /** The temperature fitted on each fold's complement, in fold order. */
  temperatures: number[];
  /** ECE and NLL of the pooled out-of-fold calibrated probabilities. */
  ece: number;
  nll: number;
  n: number;
}

/**
 * Cross-fitted calibration: the labelled rows are shuffled with `seed` and cut into `folds` parts;
 * each part is calibrated with the T fitted on the other parts, and ECE/NLL are measured once on all
 * the out-of-fold probabilities pooled. Unlike the same-split "after" numbers, no sample's T has
 * seen that sample, so this is an honest estimate of the calibration on fresh data.
 */
export function crossFitTemperature(
  probs: Probs,
  labels: Labels,
  opts: { folds?: number; seed?: number; bins?: number } & TemperatureFitOptions = {},
): CrossFit {
  const k = numClasses(probs, labels);
  const folds = opts.folds ?? 2;
  const seed = opts.seed ?? 1;
  const rows = labelledRows(labels, k);
  if (!(Number.isInteger(folds) && folds >= 2)) throw new RangeError(`cross-fit: folds must be an integer >= 2, got ${folds}`);
  if (rows.length < folds) throw new RangeError(`cross-fit: ${rows.length} labelled samples cannot make ${folds} folds`);
  const order = new Rng(seed).shuffle(Int32Array.from(rows)) as Int32Array;
  const z = logitsFromProbs(probs);
  const out = new Float32Array(rows.length * k);
  const outLabels = new Int32Array(rows.length);
  const temperatures: number[] = [];
  let w = 0;
  for (let f = 0; f < folds; f++) {
    const lo = Math.floor((f * order.length) / folds);
    const hi = Math.floor(((f + 1) * order.length) / folds);
    const test = order.subarray(lo, hi);
    const train = Int32Array.from([...order.subarray(0, lo), ...order.subarray(hi)]);
    const T = fitTemperature(z, labels, { ...opts, rows: train }).temperature;
    temperatures.push(T);
    const part = new Float32Array(test.length * k);
    for (let t = 0; t < test.length; t++) for (let j = 0; j < k; j++) part[t * k + j] = probs[test[t] * k + j];
    out.set(scaleProbs(part, k, T), w * k);
    for (let t = 0; t < test.length; t++) outLabels[w + t] = labels[test[t]];
    w += test.length;
  }
  return {
    folds,
    seed,
    temperatures,
    ece: expectedCalibrationError(out, outLabels, opts.bins ?? 15).ece,
    nll: meanNll(out, outLabels),
    n: rows.length,
  };
}

/** Candidate per-face uncertainty scores (higher = less sure), for comparing against vote entropy. */
export function uncertaintyScores(probs: Probs, confidence: ArrayLike<number>, k: number): Record<string, Float64Array> {
  const n = confidence.length;
  if (probs.length !== n * k) throw new RangeError(`uncertaintyScores: ${probs.length} probabilities for ${n} faces and ${k} classes`);
  const oneMinusC = Float64Array.from(confidence, (c) => 1 - c);
  const oneMinusMax = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let j = 0; j < k; j++) m = Math.max(m, probs[i * k + j]);
    oneMinusMax[i] = 1 - m;
  }
  const h = entropy(probs, k);
  // ranks put the two scores on one scale before averaging
  const r1 = ranks(oneMinusC);
  const r2 = ranks(h);
  const rankAvg = Float64Array.from(r1, (r, i) => (r + r2[i]) / 2);
  return { '1-c': oneMinusC, '1-max p': oneMinusMax, entropy: h, '(1-c)+entropy rank-avg': rankAvg };
}

/** Spearman correlation of each uncertainty score with the vote entropy (rows without votes skipped). */
export function uncertaintyVsVotes(probs: Probs, confidence: ArrayLike<number>, votes: Probs, k: number): Record<string, number> {
  const ve = entropy(votes, k);
  const out: Record<string, number> = {};
  for (const [name, u] of Object.entries(uncertaintyScores(probs, confidence, k))) out[name] = spearman(u, ve);
  return out;
}
