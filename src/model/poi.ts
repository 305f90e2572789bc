/**
 * The whole POI model: PIN and TRN trained together in one loop (DESIGN.md part 5), or TRN alone for
 * the CE and label-distribution baselines. Only TRN is needed at inference; PIN can explain.
 */
import * as tf from '../tf.js';
import type { ModelConfig } from './config.js';
import { crossEntropy } from './losses.js';
import { objectiveOf } from './objectives.js';
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
  /** [K] log class frequency of the training labels; needed by transfer.priorCorrection. */
  logPrior?: tf.Tensor1D | null;
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

export { labelAgreement, transferWeight } from './objectives.js';

export class PoiModel {
  readonly params: ParamStore;
  readonly trn: Trn;
  readonly pin: Pin | null;

  constructor(readonly config: ModelConfig, readonly classes: string[], seed: number) {
    if (classes.length < 2) throw new Error('a model needs at least two classes');
    this.params = new ParamStore(Rng.derive(seed, 0x5eed));
    const c = config.input.channels;
    const objective = objectiveOf(config);
    this.trn = new Trn(this.params, config.trn, objective.uncertaintyHead(config) ? config.uncertainty : null, classes.length, c);
    this.pin = objective.usesPin ? new Pin(this.params, config.pin, classes, c, this.trn.backbone) : null;
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

  /** Training loss for one batch at fractional epoch `epoch`, by the method's objective. Call inside tf.variableGrads. */
  loss(inp: TrainInputs, epoch: number, ctx: Ctx): LossParts {
    const out = this.trn.forward(inp.x, ctx, this.pin ? (this.config.pin.shareTrnStages ?? 0) : 0);
    const k = this.numClasses;
    const hardCe = () =>
      crossEntropy(inp.logitOffset ? (tf.add(out.logits, inp.logitOffset) as tf.Tensor2D) : out.logits, inp.labels, k, inp.labelSmoothing ?? 0);
    const { total, parts } = objectiveOf(this.config).loss({ model: this, inp, out, hardCe, epoch, ctx });
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
