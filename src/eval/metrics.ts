/**
 * Evaluation metrics for poi (DESIGN.md, "Data and protocols"): accuracy, mean class accuracy,
 * per-class precision/recall/F1, confusion matrix; against the annotator votes: KL divergence; for the
 * uncertainty: Spearman correlation with the entropy of the votes, expected calibration error and
 * risk-coverage.
 *
 * Pure functions over typed arrays (no tfjs, no Node APIs), so they run in the browser too.
 *
 * Conventions shared by every function here:
 * - `probs` is N*K, row-major: row i is sample i's predicted distribution over the K classes.
 * - `labels` has N entries; -1 means "no label" and the sample is skipped by every label-based metric.
 *   Any other value outside [0, K) is an error (RangeError).
 * - The prediction is the argmax of the row; ties go to the lowest class index.
 * - K is inferred as probs.length / labels.length; a mismatch (or N = 0) throws a RangeError.
 * - Logarithms are natural (entropies and KL are in nats).
 */

/** Clamp applied to predicted probabilities inside logarithms (KL to the votes). */
export const KL_EPS = 1e-8;

/** Coverages at which risk-coverage reports the accuracy of the most-sure samples. */
export const DEFAULT_COVERAGES: readonly number[] = [0.5, 0.8, 1.0];

export type Probs = ArrayLike<number>;
export type Labels = ArrayLike<number>;

/** Precision, recall, F1 and support of one class. */
export interface ClassMetrics {
  /** TP / (samples predicted as this class); 0 when nothing was predicted as it. */
  precision: number;
  /** TP / support; 0 when the class has no labelled samples (see `support`). */
  recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  f1: number;
  /** Labelled samples whose true class is this one. */
  support: number;
}

/** One equal-width confidence bin of a reliability diagram. */
export interface ReliabilityBin {
  /** Bin covers confidences in (lower, upper]; the first bin also takes confidence 0. */
  lower: number;
  upper: number;
  count: number;
  /** Mean top-label confidence of the bin's samples; NaN when count = 0. */
  meanConfidence: number;
  /** Fraction of the bin's samples predicted correctly; NaN when count = 0. */
  accuracy: number;
}

/** Top-label calibration. */
export interface Calibration {
  /** Expected calibration error: sum over bins of (count / n) * |accuracy - meanConfidence|. */
  ece: number;
  /** Maximum calibration error: the largest |accuracy - meanConfidence| over non-empty bins. */
  mce: number;
  /** Labelled samples counted. */
  n: number;
  bins: ReliabilityBin[];
}

/** Accuracy of the most-sure fraction of the samples. */
export interface CoveragePoint {
  /** The requested coverage (fraction of labelled samples kept). */
  coverage: number;
  /** Samples kept: ceil(coverage * n), at least 1. */
  kept: number;
  /** Accuracy over the kept samples (expected value where uncertainty ties straddle the cut). */
  accuracy: number;
}

/** Selective prediction: keep the most-sure samples first and watch the error rate. */
export interface RiskCoverage {
  /** Labelled samples counted. */
  n: number;
  /** Accuracy at the requested coverages (by default 50%, 80%, 100%). */
  points: CoveragePoint[];
  /** The full curve: curve.coverage[m-1] = m / n, curve.risk[m-1] = error rate of the m most-sure. */
  curve: { coverage: number[]; risk: number[] };
  /** Area under the risk-coverage curve: mean of curve.risk (Geifman et al., 2019). Lower is better. */
  aurc: number;
  /** AURC of the ideal ordering (all correct samples before all errors) for the same predictions. */
  optimalAurc: number;
  /** Excess AURC: aurc - optimalAurc; 0 for a perfect ranking. */
  eAurc: number;
}

/** Everything `evaluate` measures; JSON-serialisable (NaN becomes null in JSON). */
export interface EvalReport {
  classes: string[];
  /** Samples given. */
  n: number;
  /** Samples with a label (label != -1). */
  labelled: number;
  accuracy: number;
  /** Mean of per-class recall over the classes that have labelled samples. */
  meanClassAccuracy: number;
  /** One entry per class, in `classes` order. */
  perClass: (ClassMetrics & { name: string })[];
  /** K rows of K counts: confusion[true][predicted]. */
  confusion: number[][];
  /** Top-label calibration from the max probability (always present). */
  calibration: Calibration;
  /** Present when votes were given. */
  votes?: {
    /** Samples with at least one vote. */
    n: number;
    /** Mean KL(votes || probs) in nats, probabilities clamped at KL_EPS. */
    kl: number;
    /** The clamp used. */
    eps: number;
    /** Mean entropy of the normalised votes (nats): how ambiguous the set is. */
    meanEntropy: number;
  };
  /** Present when uncertainty (or confidence) was given. */
  uncertainty?: {
    /** Which input it came from; confidence c is used as uncertainty -c (only the order matters). */
    source: 'uncertainty' | 'confidence';
    riskCoverage: RiskCoverage;
    /**
     * Spearman correlation between the uncertainty and the entropy of the votes, over samples with
     * votes; present when votes were given. Positive = the model is less sure where people disagree.
     */
    spearmanVoteEntropy?: number;
    /** The same for 1 − max p of the same predictions: the baseline the reported uncertainty must beat. */
    maxProbSpearmanVoteEntropy?: number;
  };
}

export interface EvaluateInput {
  /** N*K predicted probabilities. */
  probs: Probs;
  /** N labels, -1 = none. */
  labels: Labels;
  /** K class names. */
  classes: string[];
  /** N*K annotator votes or soft labels (rows are normalised; all-zero rows are skipped). */
  votes?: Probs | null;
  /** N per-sample uncertainties, higher = less sure. */
  uncertainty?: ArrayLike<number> | null;
  /** N per-sample confidences, higher = more sure (alternative to `uncertainty`). */
  confidence?: ArrayLike<number> | null;
  /** Bins for the calibration error (default 15). */
  bins?: number;
  /** Coverages for the risk-coverage points (default DEFAULT_COVERAGES). */
  coverages?: readonly number[];
}

// ---------------------------------------------------------------------------------------------
// shapes

/** Number of classes implied by probs and labels; throws a RangeError when they do not agree. */
export function numClasses(probs: Probs, labels: Labels): number {
  const n = labels.length;
  if (n === 0) throw new RangeError('metrics: no samples (labels is empty)');
  const k = probs.length / n;
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`metrics: probs has ${probs.length} values, not a multiple of ${n} labels`);
  }
  return k;
}

function checkLabels(labels: Labels, k: number): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== -1 && !(Number.isInteger(y) && y >= 0 && y < k)) {
      throw new RangeError(`metrics: label ${y} at index ${i} is outside [0, ${k}) and not -1`);
    }
  }
}

function checkRows(name: string, a: ArrayLike<number>, n: number, k: number): void {
  if (a.length !== n * k) throw new RangeError(`metrics: ${name} has ${a.length} values, expected ${n}*${k}`);
}

function checkPerSample(name: string, a: ArrayLike<number>, n: number): void {
  if (a.length !== n) throw new RangeError(`metrics: ${name} has ${a.length} values, expected ${n}`);
}

/** Argmax of each row of an N*K array (ties: lowest index). */
export function argmaxRows(probs: Probs, k: number): Int32Array {
  const n = probs.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = probs[i * k];
    for (let j = 1; j < k; j++) {
      const v = probs[i * k + j];
      if (v > bv) {
        bv = v;
        best = j;
      }
    }
    out[i] = best;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// classification

/** Fraction of labelled samples whose argmax equals the label; NaN when none is labelled. */
export function accuracy(probs: Probs, labels: Labels): number {
  const k = numClasses(probs, labels);
  checkLabels(labels, k);
  const pred = argmaxRows(probs, k);
  let correct = 0;
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0) continue;
    count++;
    if (pred[i] === labels[i]) correct++;
  }
  return count === 0 ? NaN : correct / count;
}

/** K x K counts over labelled samples: rows are the true class, columns the predicted class. */
export function confusionMatrix(probs: Probs, labels: Labels): number[][] {
  const k = numClasses(probs, labels);
  checkLabels(labels, k);
  const pred = argmaxRows(probs, k);
  const m: number[][] = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y >= 0) m[y][pred[i]]++;
  }
  return m;
}

/** Precision, recall, F1 and support per class (zero-division gives 0, as scikit-learn's default). */
export function perClass(probs: Probs, labels: Labels): ClassMetrics[] {
  return perClassFromConfusion(confusionMatrix(probs, labels));
}

/** perClass from an existing confusion matrix (rows = true). */
export function perClassFromConfusion(confusion: number[][]): ClassMetrics[] {
  const k = confusion.length;
  const out: ClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const tp = confusion[c][c];
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < k; j++) {
      support += confusion[c][j];
      predicted += confusion[j][c];
    }
    const precision = predicted === 0 ? 0 : tp / predicted;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    out.push({ precision, recall, f1, support });
  }
  return out;
}

/** Mean of per-class recall over the classes present among the labels; NaN when none is labelled. */
export function meanClassAccuracy(probs: Probs, labels: Labels): number {
  return meanRecallPresent(perClass(probs, labels));
}

function meanRecallPresent(stats: ClassMetrics[]): number {
  let sum = 0;
  let present = 0;
  for (const s of stats) {
    if (s.support === 0) continue;
    sum += s.recall;
    present++;
  }
  return present === 0 ? NaN : sum / present;
}

// ---------------------------------------------------------------------------------------------
// distributions

/**
 * Entropy (nats) of each row of an N*K array. Rows are normalised by their sum first, so raw vote
 * counts work; 0·log 0 = 0. A row summing to 0 (or less) has entropy NaN.
 */
export function entropy(dist: ArrayLike<number>, k: number): Float64Array {
  if (!(Number.isInteger(k) && k >= 1) || dist.length % k !== 0) {
    throw new RangeError(`entropy: ${dist.length} values are not rows of ${k}`);
  }
  const n = dist.length / k;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += dist[i * k + j];
    if (!(s > 0)) {
      out[i] = NaN;
      continue;
    }
    let h = 0;
    for (let j = 0; j < k; j++) {
      const p = dist[i * k + j] / s;
      if (p > 0) h -= p * Math.log(p);
    }
    out[i] = h;
  }
  return out;
}

/**
 * How far each face's annotators agree, in [0,1]: 1 − H(votes)/log K (natural log, each row of the
 * N*K vote counts or shares normalised first). 1 when every vote names one class, 0 when the votes
 * spread evenly over all K. A row without votes gives NaN. `poi fit-confidence`'s target.
 */
export function voteAgreement(votes: ArrayLike<number>, k: number): Float64Array {
  if (!(Number.isInteger(k) && k >= 2)) throw new RangeError(`voteAgreement: needs at least 2 classes, got ${k}`);
  const logK = Math.log(k);
  return entropy(votes, k).map((h) => 1 - h / logK);
}

/**
 * Mean KL(votes || probs) in nats over the rows that have votes, for N*K `probs` and `votes`.
 * Each votes row is normalised by its sum (raw counts are fine); rows summing to 0 are skipped.
 * Predicted probabilities are clamped below at `eps` (default KL_EPS = 1e-8; not renormalised), so a
 * class the annotators chose but the model gave 0 costs v·ln(v / 1e-8) instead of infinity.
 * Terms with vote 0 contribute 0. NaN when no row has votes.
 */
export function klToVotes(probs: Probs, votes: Probs, k: number, eps: number = KL_EPS): number {
  const r = klStats(probs, votes, k, eps);
  return r.n === 0 ? NaN : r.sum / r.n;
}

function klStats(probs: Probs, votes: Probs, k: number, eps: number): { sum: number; n: number } {
  if (!(Number.isInteger(k) && k >= 1) || probs.length % k !== 0) {
    throw new RangeError(`klToVotes: probs has ${probs.length} values, not rows of ${k}`);
  }
  if (votes.length !== probs.length) {
    throw new RangeError(`klToVotes: votes has ${votes.length} values, probs has ${probs.length}`);
  }
  const n = probs.length / k;
  let sum = 0;
  let rows = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += votes[i * k + j];
    if (!(s > 0)) continue;
    let kl = 0;
    for (let j = 0; j < k; j++) {
      const v = votes[i * k + j] / s;
      if (v > 0) kl += v * Math.log(v / Math.max(probs[i * k + j], eps));
    }
    sum += kl;
    rows++;
  }
  return { sum, n: rows };
}

// ---------------------------------------------------------------------------------------------
// ranking

/** 1-based ranks of `a`, tied values sharing the average of their ranks. */
export function ranks(a: ArrayLike<number>): Float64Array {
  const n = a.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((x, y) => a[x] - a[y]);
  const r = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && a[idx[j]] === a[idx[i]]) j++;
    const avg = (i + 1 + j) / 2; // mean of ranks i+1 .. j
    for (let t = i; t < j; t++) r[idx[t]] = avg;
    i = j;
  }
  return r;
}

/**
 * Spearman's rank correlation: Pearson correlation of the ranks, ties given average ranks (as
 * scipy.stats.spearmanr). Pairs where either value is NaN or infinite are dropped. NaN when fewer than
 * 2 pairs remain or when either side is constant.
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`spearman: lengths differ (${a.length} vs ${b.length})`);
  const xa: number[] = [];
  const xb: number[] = [];
  for (let i = 0; i < a.length; i++) {
    if (Number.isFinite(a[i]) && Number.isFinite(b[i])) {
      xa.push(a[i]);
      xb.push(b[i]);
    }
  }
  const n = xa.length;
  if (n < 2) return NaN;
  const ra = ranks(xa);
  const rb = ranks(xb);
  const mean = (n + 1) / 2; // mean of average ranks is always (n+1)/2
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    const da = ra[i] - mean;
    const db = rb[i] - mean;
    cov += da * db;
    va += da * da;
    vb += db * db;
  }
  if (va === 0 || vb === 0) return NaN;
  return cov / Math.sqrt(va * vb);
}

// ---------------------------------------------------------------------------------------------
// calibration

/**
 * Top-label expected calibration error with `bins` equal-width bins over [0, 1] (Guo et al., 2017):
 * confidence = max probability of the row, bin b holds confidences in (b/bins, (b+1)/bins] (the first
 * bin also takes 0), ECE = Σ_b (n_b / n)·|acc_b − conf_b| over the labelled samples. Also returns the
 * maximum gap (MCE) and the per-bin data for a reliability diagram. NaN when nothing is labelled.
 */
export function expectedCalibrationError(probs: Probs, labels: Labels, bins = 15): Calibration {
  if (!(Number.isInteger(bins) && bins >= 1)) throw new RangeError(`ECE: bins must be a positive integer, got ${bins}`);
  const k = numClasses(probs, labels);
  checkLabels(labels, k);
  const pred = argmaxRows(probs, k);
  const count = new Float64Array(bins);
  const confSum = new Float64Array(bins);
  const correct = new Float64Array(bins);
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0) continue;
    const conf = probs[i * k + pred[i]];
    const b = binOf(conf, bins);
    count[b]++;
    confSum[b] += conf;
    if (pred[i] === labels[i]) correct[b]++;
    n++;
  }
  let ece = 0;
  let mce = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const c = count[b];
    const meanConfidence = c === 0 ? NaN : confSum[b] / c;
    const acc = c === 0 ? NaN : correct[b] / c;
    if (c > 0) {
      const gap = Math.abs(acc - meanConfidence);
      ece += (c / n) * gap;
      if (gap > mce) mce = gap;
    }
    out.push({ lower: b / bins, upper: (b + 1) / bins, count: c, meanConfidence, accuracy: acc });
  }
  return { ece: n === 0 ? NaN : ece, mce: n === 0 ? NaN : mce, n, bins: out };
}

/** Bin of a confidence: (b/bins, (b+1)/bins], consistent with the edges as computed (b / bins). */
function binOf(conf: number, bins: number): number {
  if (!(conf > 0)) return 0;
  let b = Math.min(bins - 1, Math.max(0, Math.ceil(conf * bins) - 1));
  while (b > 0 && conf <= b / bins) b--;
  while (b < bins - 1 && conf > (b + 1) / bins) b++;
  return b;
}

// ---------------------------------------------------------------------------------------------
// selective prediction

/**
 * Risk-coverage over the labelled samples, most sure (lowest `uncertainty`) first. The m most-sure
 * samples have risk = errors / m; curve point m is (m / n, risk). Samples with equal uncertainty form
 * one block whose order is undefined, so within a block errors are counted at their expected rate
 * (the block's error fraction per sample): the result does not depend on the input order, and a
 * constant uncertainty gives risk = overall error rate at every coverage.
 * `coverages` (default 50/80/100%) report the accuracy of the ceil(c·n) most-sure samples.
 * Throws on a non-finite uncertainty of a labelled sample. With no labelled sample: NaNs, empty curve.
 */
export function riskCoverage(
  probs: Probs,
  labels: Labels,
  uncertainty: ArrayLike<number>,
  coverages: readonly number[] = DEFAULT_COVERAGES,
): RiskCoverage {
  const k = numClasses(probs, labels);
  checkLabels(labels, k);
  checkPerSample('uncertainty', uncertainty, labels.length);
  for (const c of coverages) {
    if (!(c > 0 && c <= 1)) throw new RangeError(`riskCoverage: coverage ${c} is not in (0, 1]`);
  }
  const pred = argmaxRows(probs, k);
  const idx: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0) continue;
    if (!Number.isFinite(uncertainty[i])) {
      throw new RangeError(`riskCoverage: uncertainty[${i}] = ${uncertainty[i]} is not finite`);
    }
    idx.push(i);
  }
  const n = idx.length;
  if (n === 0) {
    return {
      n: 0,
      points: coverages.map((coverage) => ({ coverage, kept: 0, accuracy: NaN })),
      curve: { coverage: [], risk: [] },
      aurc: NaN,
      optimalAurc: NaN,
      eAurc: NaN,
    };
  }
  idx.sort((x, y) => uncertainty[x] - uncertainty[y]);
  const risk = new Array<number>(n);
  const coverage = new Array<number>(n);
  let errorsBefore = 0;
  let s = 0;
  let totalErrors = 0;
  while (s < n) {
    let e = s + 1;
    while (e < n && uncertainty[idx[e]] === uncertainty[idx[s]]) e++;
    let blockErrors = 0;
    for (let t = s; t < e; t++) if (pred[idx[t]] !== labels[idx[t]]) blockErrors++;
    const g = e - s;
    for (let m = s + 1; m <= e; m++) {
      const expected = errorsBefore + (blockErrors * (m - s)) / g;
      risk[m - 1] = expected / m;
      coverage[m - 1] = m / n;
    }
    errorsBefore += blockErrors;
    totalErrors += blockErrors;
    s = e;
  }
  let aurc = 0;
  for (const r of risk) aurc += r;
  aurc /= n;
  const nCorrect = n - totalErrors;
  let optimal = 0;
  for (let m = nCorrect + 1; m <= n; m++) optimal += (m - nCorrect) / m;
  optimal /= n;
  const points = coverages.map((c) => {
    const kept = Math.min(n, Math.max(1, Math.ceil(c * n - 1e-9)));
    return { coverage: c, kept, accuracy: 1 - risk[kept - 1] };
  });
  return { n, points, curve: { coverage, risk }, aurc, optimalAurc: optimal, eAurc: aurc - optimal };
}

// ---------------------------------------------------------------------------------------------
// everything at once

/**
 * All metrics for one set of predictions. Calibration always uses the max probability; the
 * uncertainty section is present only when `uncertainty` or `confidence` is given (not both), and its
 * Spearman correlation with the vote entropy only when `votes` are given too.
 */
export function evaluate(input: EvaluateInput): EvalReport {
  const { probs, labels, classes } = input;
  const k = classes.length;
  const n = labels.length;
  if (k === 0) throw new RangeError('evaluate: no classes');
  checkRows('probs', probs, n, k);
  checkLabels(labels, k);
  const confusion = confusionMatrix(probs, labels);
  const stats = perClassFromConfusion(confusion);
  let labelled = 0;
  let correct = 0;
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < k; j++) labelled += confusion[c][j];
    correct += confusion[c][c];
  }
  const report: EvalReport = {
    classes: [...classes],
    n,
    labelled,
    accuracy: labelled === 0 ? NaN : correct / labelled,
    meanClassAccuracy: meanRecallPresent(stats),
    perClass: stats.map((s, c) => ({ name: classes[c], ...s })),
    confusion,
    calibration: expectedCalibrationError(probs, labels, input.bins ?? 15),
  };

  let voteEntropy: Float64Array | null = null;
  if (input.votes) {
    checkRows('votes', input.votes, n, k);
    const kl = klStats(probs, input.votes, k, KL_EPS);
    voteEntropy = entropy(input.votes, k);
    let hs = 0;
    for (const h of voteEntropy) if (!Number.isNaN(h)) hs += h;
    report.votes = {
      n: kl.n,
      kl: kl.n === 0 ? NaN : kl.sum / kl.n,
      eps: KL_EPS,
      meanEntropy: kl.n === 0 ? NaN : hs / kl.n,
    };
  }

  if (input.uncertainty && input.confidence) {
    throw new RangeError('evaluate: give uncertainty or confidence, not both');
  }
  let u: ArrayLike<number> | null = null;
  let source: 'uncertainty' | 'confidence' = 'uncertainty';
  if (input.uncertainty) {
    checkPerSample('uncertainty', input.uncertainty, n);
    u = input.uncertainty;
  } else if (input.confidence) {
    checkPerSample('confidence', input.confidence, n);
    const c = input.confidence;
    u = Float64Array.from({ length: n }, (_, i) => -c[i]);
    source = 'confidence';
  }
  if (u) {
    report.uncertainty = {
      source,
      riskCoverage: riskCoverage(probs, labels, u, input.coverages ?? DEFAULT_COVERAGES),
    };
    if (voteEntropy) {
      report.uncertainty.spearmanVoteEntropy = spearman(u, voteEntropy);
      const maxP = Float64Array.from({ length: n }, (_, i) => {
        let m = 0;
        for (let j = 0; j < k; j++) m = Math.max(m, probs[i * k + j]);
        return 1 - m;
      });
      report.uncertainty.maxProbSpearmanVoteEntropy = spearman(maxP, voteEntropy);
    }
  }
  return report;
}

/** How much of a label-noise list a model fits (see bench/noise-fit.ts). */
export interface NoiseFit {
  flipped: number;
  clean: number;
  /** Share of flipped faces predicted as their flipped label. */
  memorised: number;
  /** Share of flipped faces predicted as their original label. */
  recovered: number;
  /** Accuracy on the faces the list left alone. */
  cleanAccuracy: number;
}

/** The counts behind NoiseFit, from predictions, the original labels and the flips. */
export function noiseFit(pred: Int32Array, labels: Int32Array, flips: { index: number; from: number; to: number }[]): NoiseFit {
  const isFlipped = new Uint8Array(labels.length);
  let memorised = 0;
  let recovered = 0;
  for (const f of flips) {
    isFlipped[f.index] = 1;
    if (pred[f.index] === f.to) memorised++;
    else if (pred[f.index] === f.from) recovered++;
  }
  let clean = 0;
  let right = 0;
  labels.forEach((y, i) => {
    if (y < 0 || isFlipped[i]) return;
    clean++;
    if (pred[i] === y) right++;
  });
  const n = flips.length;
  return { flipped: n, clean, memorised: memorised / n, recovered: recovered / n, cleanAccuracy: right / clean };
}
