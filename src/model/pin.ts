/**
 * PIN — Prior Inference Network (DESIGN.md part 2). A shared stem reads the whole face; one branch per
 * facial region reads the stem's features inside that region's box and predicts (a) the activations of
 * the AUs the region can show and (b) an emotion distribution, part of which is inferred from its AUs
 * through a learnable AU→emotion matrix initialised from the prior table. The branches' distributions,
 * weighted per sample by their confidence, make the objective soft label q.
 */
import * as tf from '../tf.js';
import { type BackboneNet, createBackbone, globalAvgPool } from './backbones/index.js';
import type { PinConfig } from './config.js';
import { binaryCrossEntropyWithLogits, entropy, klDivergence, softCrossEntropy, stopGradient } from './losses.js';
import { BatchNorm, Conv, type Ctx, Dense, ParamStore } from './params.js';
import { auPatterns, priorAuToEmotion, regionalTargets, type RegionSpec } from './prior.js';

interface Branch {
  region: RegionSpec;
  convs: { conv: Conv; bn: BatchNorm }[];
  auHead: Dense;
  emoHead: Dense;
  /** AU→emotion matrix [nAU, K]. */
  auToEmotion: tf.Variable;
  /** Prior-consistent targets [K, K] (row = label). */
  targets: tf.Tensor2D;
  /** AU prototype patterns [K, nAU] and a [K] mask of classes the prior knows. */
  patterns: tf.Tensor2D;
  patternMask: tf.Tensor1D;
}

export interface PinOutput {
  /** Per-branch emotion logits [B, K], in config.regions order. */
  logits: tf.Tensor2D[];
  /** Per-branch AU logits [B, nAU_r]. */
  auLogits: tf.Tensor2D[];
}

export class Pin {
  readonly stem: BackboneNet;
  readonly branches: Branch[] = [];
  /** Names of the stem's trainable parameters. */
  readonly stemParams: string[];

  /** `trnTrunk`: TRN's backbone, whose first cfg.shareTrnStages stages are the stem when that is > 0. */
  constructor(p: ParamStore, readonly cfg: PinConfig, readonly classes: string[], inChannels: number, trnTrunk?: BackboneNet) {
    const k = classes.length;
    const before = new Set(p.trainable.keys());
    const shared = cfg.shareTrnStages ?? 0;
    if (shared > 0) {
      if (!trnTrunk) throw new Error('pin.shareTrnStages > 0 needs TRN\'s backbone');
      if (shared > trnTrunk.stageChannels.length) {
        throw new Error(`pin.shareTrnStages ${shared}: TRN's backbone has only ${trnTrunk.stageChannels.length} stages`);
      }
      this.stem = trunkPrefix(trnTrunk, shared);
    } else {
      this.stem = createBackbone(p, 'pin.stem', cfg.stem, inChannels);
    }
    this.stemParams = [...p.trainable.keys()].filter((k) => !before.has(k));
    for (const region of cfg.regions) {
      const name = `pin.${region.name}`;
      let cin = this.stem.outChannels;
      const convs = cfg.branchWidths.map((w, i) => {
        const u = { conv: new Conv(p, `${name}.c${i}.conv`, cin, w), bn: new BatchNorm(p, `${name}.c${i}.bn`, w) };
        cin = w;
        return u;
      });
      const nAu = region.aus.length;
      const m = cfg.useAuPrior
        ? priorAuToEmotion(classes, region.aus, cfg.priorScale)
        : Float32Array.from({ length: nAu * k }, () => p.rng.normal() * 0.1);
      const pats = auPatterns(classes, region.aus);
      const patFlat = new Float32Array(k * nAu);
      const mask = new Float32Array(k);
      pats.forEach((row, e) => {
        if (row) {
          patFlat.set(row, e * nAu);
          mask[e] = 1;
        }
      });
      const tgt = cfg.useAuPrior && region.name !== 'global' ? regionalTargets(classes, region.aus, cfg.targetTau) : eye(k);
      this.branches.push({
        region,
        convs,
        auHead: new Dense(p, `${name}.au`, cin, nAu),
        emoHead: new Dense(p, `${name}.emo`, cin, k),
        auToEmotion: p.const(`${name}.au2emo`, [nAu, k], m, cfg.learnPriorMatrix || !cfg.useAuPrior),
        targets: tf.keep(tf.tensor2d(tgt, [k, k])),
        patterns: tf.keep(tf.tensor2d(patFlat, [k, nAu])),
        patternMask: tf.keep(tf.tensor1d(mask)),
      });
    }
  }

  /** Region slice of a feature map [B,h,w,C] from a fractional box; at least one cell each way. */
  private slice(f: tf.Tensor4D, box: RegionSpec['box']): tf.Tensor4D {
    const [, h, w] = f.shape;
    const y0 = Math.min(h - 1, Math.floor(box[0] * h));
    const x0 = Math.min(w - 1, Math.floor(box[1] * w));
    const y1 = Math.max(y0 + 1, Math.ceil(box[2] * h));
    const x1 = Math.max(x0 + 1, Math.ceil(box[3] * w));
    if (y0 === 0 && x0 === 0 && y1 === h && x1 === w) return f;
    return tf.slice(f, [0, y0, x0, 0], [-1, y1 - y0, x1 - x0, -1]);
  }

  /** `stemFeatures`: the stem's output when already computed (TRN's pass over a shared trunk). */
  forward(x: tf.Tensor4D, ctx: Ctx, stemFeatures?: tf.Tensor4D): PinOutput {
    const f = stemFeatures ?? this.stem.features(x, ctx);
    const logits: tf.Tensor2D[] = [];
    const auLogits: tf.Tensor2D[] = [];
    for (const b of this.branches) {
      let h = this.slice(f, b.region.box);
      b.convs.forEach((u, i) => {
        h = tf.relu(u.bn.apply(u.conv.apply(h), ctx) as tf.Tensor4D);
        if (i < b.convs.length - 1 && h.shape[1] > 2 && h.shape[2] > 2) h = tf.maxPool(h, 2, 2, 'same');
      });
      const g = globalAvgPool(h);
      const au = b.auHead.apply(g);
      // emotion = direct evidence + evidence inferred from the AUs through the prior matrix
      const fromAus = tf.matMul(tf.sub(tf.mul(tf.sigmoid(au), 2), 1), b.auToEmotion as tf.Tensor2D);
      logits.push(tf.add(b.emoHead.apply(g), fromAus) as tf.Tensor2D);
      auLogits.push(au);
    }
    return { logits, auLogits };
  }

  /**
   * Objective soft label q [B,K]: branch distributions (at temperature T) weighted per sample by
   * exp(-entropy/aggTau), so confident regions count more (choice).
   */
  aggregate(logits: tf.Tensor2D[], temperature = 1): tf.Tensor2D {
    const probs = logits.map((z) => tf.softmax(temperature === 1 ? z : tf.div(z, temperature)) as tf.Tensor2D);
    const sharp = logits.map((z) => entropy(tf.softmax(z) as tf.Tensor2D));
    const w = tf.softmax(tf.div(tf.neg(tf.stack(sharp, 1)), this.cfg.aggTau)) as tf.Tensor2D; // [B, R]
    let q: tf.Tensor2D = tf.zerosLike(probs[0]);
    probs.forEach((p, r) => {
      q = tf.add(q, tf.mul(p, tf.slice(w, [0, r], [-1, 1]))) as tf.Tensor2D;
    });
    return q;
  }

  /**
   * PIN's training loss for (possibly noisy) hard labels y [B] (int32):
   * Σ_regions CE(prior-consistent target, p_r) + auLossWeight·BCE(AUs, label prototype)
   * + mutualWeight·T²·KL(ensemble of the other branches ‖ p_r at T).
   * `weights` [B] (optional) weight the two label terms per sample (normalised to mean 1).
   */
  loss(out: PinOutput, labels: tf.Tensor1D, weights?: tf.Tensor1D): { total: tf.Scalar; parts: Record<string, tf.Scalar> } {
    const y = tf.cast(labels, 'int32') as tf.Tensor1D;
    let ce: tf.Tensor = tf.scalar(0);
    let au: tf.Tensor = tf.scalar(0);
    let mutual: tf.Tensor = tf.scalar(0);
    const R = this.branches.length;
    const wn = weights ? (tf.div(weights, tf.maximum(tf.mean(weights), 1e-6)) as tf.Tensor1D) : null;
    this.branches.forEach((b, r) => {
      const t = tf.gather(b.targets, y) as tf.Tensor2D;
      const l = softCrossEntropy(out.logits[r], t);
      ce = tf.add(ce, tf.mean(wn ? tf.mul(l, wn) : l));
      if (this.cfg.useAuPrior && this.cfg.auLossWeight > 0) {
        const pat = tf.gather(b.patterns, y);
        const m0 = tf.gather(b.patternMask, y) as tf.Tensor1D;
        const m = wn ? (tf.mul(m0, wn) as tf.Tensor1D) : m0;
        const l = binaryCrossEntropyWithLogits(out.auLogits[r], pat);
        au = tf.add(au, tf.div(tf.sum(tf.mul(l, m)), tf.maximum(tf.sum(m), 1)));
      }
    });
    if (this.cfg.mutual && R > 1) {
      const T = this.cfg.mutualTemperature;
      const probs = out.logits.map((z) => tf.softmax(tf.div(z, T)));
      out.logits.forEach((z, r) => {
        const others = probs.filter((_, j) => j !== r);
        const ens = stopGradient(tf.div(tf.addN(others), others.length)) as tf.Tensor2D;
        mutual = tf.add(mutual, tf.mul(tf.mean(klDivergence(ens, z, T)), T * T));
      });
    }
    ce = tf.div(ce, R);
    au = tf.div(au, R);
    mutual = tf.div(mutual, R);
    const total = tf.addN([ce, tf.mul(au, this.cfg.auLossWeight), tf.mul(mutual, this.cfg.mutualWeight)]) as tf.Scalar;
    return { total, parts: { pinCe: ce as tf.Scalar, pinAu: au as tf.Scalar, pinMutual: mutual as tf.Scalar } };
  }

  flops(h: number, w: number): number {
    let f = this.stem.flops(h, w);
    const { h: fh, w: fw } = this.stem.outputSize(h, w);
    for (const b of this.branches) {
      let rh = Math.max(1, Math.round((b.region.box[2] - b.region.box[0]) * fh));
      let rw = Math.max(1, Math.round((b.region.box[3] - b.region.box[1]) * fw));
      b.convs.forEach((u, i) => {
        f += u.conv.flops(rh, rw);
        if (i < b.convs.length - 1 && rh > 2 && rw > 2) {
          rh = Math.ceil(rh / 2);
          rw = Math.ceil(rw / 2);
        }
      });
    }
    return f;
  }

  dispose(): void {
    for (const b of this.branches) {
      b.targets.dispose();
      b.patterns.dispose();
      b.patternMask.dispose();
    }
  }
}

/**
 * The first n stages of TRN's backbone as PIN's stem. Its FLOPs count as zero: in training and in
 * explain-with-predict the trunk pass is TRN's, so PIN's own cost is its branches.
 */
function trunkPrefix(trunk: BackboneNet, n: number): BackboneNet {
  const cap = (upTo?: number) => Math.min(upTo ?? n, n);
  return {
    outChannels: trunk.stageChannels[n - 1],
    stageChannels: trunk.stageChannels.slice(0, n),
    stageOutputs: (x, ctx, upTo) => trunk.stageOutputs(x, ctx, cap(upTo)),
    features: (x, ctx, upTo) => trunk.features(x, ctx, cap(upTo)),
    flops: () => 0,
    outputSize: (h, w, upTo) => trunk.outputSize(h, w, cap(upTo)),
  };
}

function eye(k: number): Float32Array {
  const m = new Float32Array(k * k);
  for (let i = 0; i < k; i++) m[i * k + i] = 1;
  return m;
}
