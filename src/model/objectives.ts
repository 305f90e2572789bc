/**
 * The training objectives, one row per method (DESIGN.md part 5 and the baselines): what each builds
 * (PIN, the uncertainty head) and its loss. PoiModel, the ONNX export and the report read this table
 * instead of branching on the method themselves.
 */
import * as tf from '../tf.js';
import type { Method, ModelConfig } from './config.js';
import { binaryCrossEntropyWithLogits, klDivergence, softCrossEntropy, stopGradient } from './losses.js';
import type { Ctx } from './params.js';
import type { PoiModel, TrainInputs } from './poi.js';
import type { TrnOutput } from './trn.js';

/**
 * Weight of PIN's soft label q at a (fractional) epoch: zero through warm-up, then a linear ramp to
 * maxWeight (DESIGN.md part 5).
 */
export function transferWeight(cfg: Pick<ModelConfig['transfer'], 'warmupEpochs' | 'rampEpochs' | 'maxWeight'>, epoch: number): number {
  if (epoch < cfg.warmupEpochs) return 0;
  if (cfg.rampEpochs <= 0) return cfg.maxWeight;
  return cfg.maxWeight * Math.min(1, (epoch - cfg.warmupEpochs) / cfg.rampEpochs);
}

/**
 * How far PIN's soft label q agrees with the given labels, per sample, in [0,1]: the uncertainty
 * module's training target. 'absolute' = q[y]; 'relative' = q[y] / max(q).
 */
export function labelAgreement(q: tf.Tensor2D, labels: tf.Tensor1D, mode: 'relative' | 'absolute'): tf.Tensor1D {
  const k = q.shape[1];
  const qy = tf.sum(tf.mul(q, tf.cast(tf.oneHot(tf.cast(labels, 'int32'), k), 'float32')), 1) as tf.Tensor1D;
  return mode === 'relative' ? (tf.div(qy, tf.max(q, 1)) as tf.Tensor1D) : qy;
}

/**
 * A distribution [B,K] divided by the class prior to the power tau, renormalised:
 * softmax(log p − tau·log prior). tau = 0 gives p back.
 */
export function priorCorrected(p: tf.Tensor2D, logPrior: tf.Tensor1D, tau: number): tf.Tensor2D {
  if (tau === 0) return p;
  return tf.softmax(tf.sub(tf.log(tf.maximum(p, 1e-12)), tf.mul(logPrior, tau))) as tf.Tensor2D;
}

export interface LossArgs {
  model: PoiModel;
  inp: TrainInputs;
  /** TRN's forward pass on the batch. */
  out: TrnOutput;
  /** Per-sample CE of TRN's logits on the hard labels, with logit adjustment and label smoothing applied. */
  hardCe: () => tf.Tensor1D;
  epoch: number;
  ctx: Ctx;
}

export interface Objective {
  describe: string;
  /** PIN is built and trained beside TRN. */
  usesPin: boolean;
  /** TRN carries the uncertainty head (its confidence c); otherwise confidence = the top probability. */
  uncertaintyHead(cfg: ModelConfig): boolean;
  loss(a: LossArgs): { total: tf.Scalar; parts: Record<string, tf.Scalar> };
}

const ce: Objective = {
  describe: 'cross-entropy on the hard labels (TRN alone)',
  usesPin: false,
  uncertaintyHead: () => false,
  loss({ hardCe }) {
    const total = tf.mean(hardCe()) as tf.Scalar;
    return { total, parts: { ce: total } };
  },
};

const ld: Objective = {
  describe: "cross-entropy on the annotators' vote distribution (TRN alone)",
  usesPin: false,
  uncertaintyHead: () => false,
  loss({ inp, out }) {
    if (!inp.soft) throw new Error('method "ld" (label distribution) needs soft labels (vote counts); this dataset has none');
    const total = tf.mean(softCrossEntropy(out.logits, inp.soft)) as tf.Scalar;
    return { total, parts: { ld: total } };
  },
};

const poi: Objective = {
  describe: "POI: PIN's objective soft labels transferred into TRN, weighted per face by the uncertainty module",
  usesPin: true,
  uncertaintyHead: (cfg) => cfg.uncertainty.enabled,
  loss({ model, inp, out, hardCe, epoch, ctx }) {
    const cfg = model.config;
    const parts: Record<string, tf.Scalar> = {};
    const pin = model.pin!;
    const pout = pin.forward(inp.x, ctx, out.tap);
    const T = cfg.transfer.temperature;
    const q = stopGradient(pin.aggregate(pout.logits, 1));
    const qPin = stopGradient(pin.aggregate(pout.logits, T));
    // the distillation target: PIN's q, or the ensemble of q and TRN's own prediction (transfer.teacher)
    const teacher =
      (cfg.transfer.teacher ?? 'pin') === 'pin+trn'
        ? (stopGradient(tf.div(tf.add(qPin, tf.softmax(tf.div(out.logits, T))), 2)) as tf.Tensor2D)
        : qPin;
    const tau = cfg.transfer.priorCorrection ?? 0;
    if (tau > 0 && !inp.logPrior) throw new Error('transfer.priorCorrection needs the class prior of the training labels (TrainInputs.logPrior)');
    const qT = tau > 0 ? priorCorrected(teacher, inp.logPrior!, tau) : teacher;
    const w = transferWeight(cfg.transfer, epoch);
    const ce = hardCe();
    const kd = tf.mul(klDivergence(qT, out.logits, T), T * T) as tf.Tensor1D;
    // alpha: per sample, how much of TRN's loss follows q instead of the label.
    let alpha: tf.Tensor1D;
    let uncLoss: tf.Scalar | null = null;
    if (out.confLogits) {
      const unc = cfg.uncertainty;
      const ref = unc.reference === 'pin+trn' ? stopGradient(tf.div(tf.add(q, tf.softmax(out.logits)), 2) as tf.Tensor2D) : q;
      // target: how far the reference agrees with the label (see UncertaintyConfig.target)
      const agree = labelAgreement(ref, inp.labels, unc.target ?? 'absolute');
      // c is trained by its own loss only (choice), otherwise it would learn to pick whichever teacher
      // is easier to please.
      const c = stopGradient(tf.sigmoid(out.confLogits)) as tf.Tensor1D;
      const trust = unc.weighting === 'label' ? agree : c;
      alpha = tf.mul(tf.sub(1, trust), w) as tf.Tensor1D;
      uncLoss = tf.mean(binaryCrossEntropyWithLogits(out.confLogits, agree)) as tf.Scalar;
      parts.unc = uncLoss;
      parts.c = tf.mean(c) as tf.Scalar;
      parts.trust = tf.mean(trust) as tf.Scalar;
    } else {
      alpha = tf.fill([ce.shape[0]], 0.5 * w) as tf.Tensor1D;
    }
    const pinLoss = pin.loss(pout, inp.labels, cfg.pin.labelWeighting ? (stopGradient(tf.sub(1, alpha)) as tf.Tensor1D) : undefined);
    Object.assign(parts, pinLoss.parts);
    const trnLoss = tf.mean(tf.add(tf.mul(tf.sub(1, alpha), ce), tf.mul(alpha, kd))) as tf.Scalar;
    parts.trnCe = tf.mean(ce) as tf.Scalar;
    parts.trnKd = tf.mean(kd) as tf.Scalar;
    parts.w = tf.scalar(w);
    const terms: tf.Tensor[] = [trnLoss, pinLoss.total];
    if (uncLoss) terms.push(tf.mul(uncLoss, cfg.uncertainty.lossWeight));
    const total = tf.addN(terms) as tf.Scalar;
    return { total, parts };
  },
};

export const OBJECTIVES: Record<Method, Objective> = { poi, ce, ld };

export function objectiveOf(cfg: ModelConfig): Objective {
  const o = (OBJECTIVES as Record<string, Objective>)[cfg.method];
  if (!o) throw new Error(`unknown method "${cfg.method}"; methods: ${Object.keys(OBJECTIVES).join(', ')}`);
  return o;
}

/** Does a model of this config have the uncertainty head? The rule the PoiModel constructor, the ONNX export and calibrate share. */
export function hasUncertaintyHead(cfg: ModelConfig): boolean {
  return objectiveOf(cfg).uncertaintyHead(cfg);
}
