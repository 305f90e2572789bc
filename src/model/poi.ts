/**
 * The whole POI model: PIN and TRN trained together in one loop (DESIGN.md part 5), or TRN alone for
 * the CE and label-distribution baselines. Only TRN is needed at inference; PIN can explain.
 */
import * as tf from '../tf.js';
import type { ModelConfig } from './config.js';
import { binaryCrossEntropyWithLogits, crossEntropy, klDivergence, softCrossEntropy, stopGradient } from './losses.js';
import { type Ctx, ParamStore } from './params.js';
import { Pin } from './pin.js';
import { Trn } from './trn.js';
import { Rng } from '../util/rng.js';

export interface TrainInputs {
  x: tf.Tensor4D;
  /** Hard (possibly noisy) labels [B] int32. */
  labels: tf.Tensor1D;
  /** Soft labels [B,K] (votes), needed by method 'ld'. */
  soft?: tf.Tensor2D | null;
  /** [K] added to TRN's logits in the hard-label CE only: τ·log(class prior) for logit adjustment. */
  logitOffset?: tf.Tensor1D | null;
  /** Label smoothing of the hard-label CE (train.labelSmoothing). */
  labelSmoothing?: number;
}

export interface LossParts {
  total: tf.Scalar;
  /** Named scalar parts for logging. */
  parts: Record<string, tf.Scalar>;
  /** TRN logits (for training accuracy). */
  logits: tf.Tensor2D;
}

export interface Prediction {
  /** [B,K] emotion distribution. */
  probs: tf.Tensor2D;
  /** [B] confidence in (0,1): the uncertainty module's c, or the top probability without one. */
  confidence: tf.Tensor1D;
}

/**
 * Weight of PIN's soft label q at a (fractional) epoch: zero through warm-up, then a linear ramp to
 * maxWeight (DESIGN.md part 5).
 */
export function transferWeight(cfg: ModelConfig['transfer'], epoch: number): number {
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

export class PoiModel {
  readonly params: ParamStore;
  readonly trn: Trn;
  readonly pin: Pin | null;

  constructor(readonly config: ModelConfig, readonly classes: string[], seed: number) {
    if (classes.length < 2) throw new Error('a model needs at least two classes');
    this.params = new ParamStore(Rng.derive(seed, 0x5eed));
    const c = config.input.channels;
    const poi = config.method === 'poi';
    this.trn = new Trn(this.params, config.trn, poi && config.uncertainty.enabled ? config.uncertainty : null, classes.length, c);
    this.pin = poi ? new Pin(this.params, config.pin, classes, c) : null;
  }

  /** Names of the parameters that start from pretrained weights (given a learning-rate factor). */
  pretrainedParams(): Set<string> {
    const out = new Set<string>();
    if (this.config.trn.pretrained) for (const n of this.trn.backboneParams) out.add(n);
    if (this.pin && this.config.pin.stem.pretrained) for (const n of this.pin.stemParams) out.add(n);
    return out;
  }

  get numClasses(): number {
    return this.classes.length;
  }

  /** Training loss for one batch at fractional epoch `epoch`. Call inside tf.variableGrads. */
  loss(inp: TrainInputs, epoch: number, ctx: Ctx): LossParts {
    const k = this.numClasses;
    const cfg = this.config;
    const out = this.trn.forward(inp.x, ctx);
    const parts: Record<string, tf.Scalar> = {};
    const hardCe = () =>
      crossEntropy(inp.logitOffset ? (tf.add(out.logits, inp.logitOffset) as tf.Tensor2D) : out.logits, inp.labels, k, inp.labelSmoothing ?? 0);
    if (cfg.method === 'ce') {
      const total = tf.mean(hardCe()) as tf.Scalar;
      parts.ce = total;
      return { total, parts, logits: out.logits };
    }
    if (cfg.method === 'ld') {
      if (!inp.soft) throw new Error('method "ld" (label distribution) needs soft labels (vote counts); this dataset has none');
      const total = tf.mean(softCrossEntropy(out.logits, inp.soft)) as tf.Scalar;
      parts.ld = total;
      return { total, parts, logits: out.logits };
    }
    // POI
    const pin = this.pin!;
    const pout = pin.forward(inp.x, ctx);
    const T = cfg.transfer.temperature;
    const q = stopGradient(pin.aggregate(pout.logits, 1));
    const qT = stopGradient(pin.aggregate(pout.logits, T));
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
    return { total, parts, logits: out.logits };
  }

  /** Inference with TRN only. */
  predict(x: tf.Tensor4D): Prediction {
    return tf.tidy(() => {
      const out = this.trn.forward(x, { training: false, bnUpdates: [] });
      const probs = tf.softmax(out.logits) as tf.Tensor2D;
      const confidence = out.confLogits ? (tf.sigmoid(out.confLogits) as tf.Tensor1D) : (tf.max(probs, 1) as tf.Tensor1D);
      return { probs, confidence };
    });
  }

  /** PIN's view of the faces: per-region distributions, AU activations, and the aggregate q. */
  explain(x: tf.Tensor4D): { regions: { name: string; aus: number[]; probs: tf.Tensor2D; auProbs: tf.Tensor2D }[]; q: tf.Tensor2D } | null {
    const pin = this.pin;
    if (!pin) return null;
    return tf.tidy(() => {
      const out = pin.forward(x, { training: false, bnUpdates: [] });
      return {
        regions: pin.branches.map((b, r) => ({
          name: b.region.name,
          aus: [...b.region.aus],
          probs: tf.softmax(out.logits[r]) as tf.Tensor2D,
          auProbs: tf.sigmoid(out.auLogits[r]) as tf.Tensor2D,
        })),
        q: pin.aggregate(out.logits, 1),
      };
    });
  }

  /** Forward FLOPs per image: TRN alone, and PIN. */
  flops(): { trn: number; pin: number } {
    const { height, width } = this.config.input;
    return { trn: this.trn.flops(height, width), pin: this.pin ? this.pin.flops(height, width) : 0 };
  }

  dispose(): void {
    this.pin?.dispose();
    this.params.dispose();
  }
}
