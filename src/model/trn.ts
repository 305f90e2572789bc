/**
 * TRN — Target Recognition Network (DESIGN.md parts 3-4): a backbone on the whole face, an emotion
 * head, and the uncertainty module, a small head giving a per-sample confidence c in (0,1).
 * TRN is what runs at test time.
 */
import * as tf from '../tf.js';
import { type BackboneNet, createBackbone, dropout, globalAvgPool } from './backbones/index.js';
import type { BackboneConfig, UncertaintyConfig } from './config.js';
import { type Ctx, Dense, ParamStore } from './params.js';
import { stopGradient } from './losses.js';

export interface TrnOutput {
  logits: tf.Tensor2D;
  /** Confidence logits [B] (sigmoid → c), or null without the uncertainty module. */
  confLogits: tf.Tensor1D | null;
  /** The pooled features [B,C] both heads read (before dropout). */
  features: tf.Tensor2D;
  /** The backbone's output after the tapped stage (PIN's stem when it shares TRN's trunk). */
  tap?: tf.Tensor4D;
}

/** The uncertainty module's two layers, by name (the ONNX export and `poi fit-confidence` address them). */
export const CONFIDENCE_HIDDEN_LAYER = 'trn.unc.hidden';
export const CONFIDENCE_OUT_LAYER = 'trn.unc.out';

/**
 * The uncertainty module's head: pooled features → hidden (ReLU) → one logit, whose sigmoid is c.
 * One class so that `poi fit-confidence` fits exactly the shape TRN runs.
 */
export class ConfidenceHead {
  readonly hidden: Dense;
  readonly out: Dense;
  constructor(p: ParamStore, dim: number, hidden: number, outBias: number) {
    this.hidden = new Dense(p, CONFIDENCE_HIDDEN_LAYER, dim, hidden, 'he');
    this.out = new Dense(p, CONFIDENCE_OUT_LAYER, hidden, 1, 'glorot', outBias);
  }
  /** Confidence logits [B] of pooled features [B,dim]. */
  logits(g: tf.Tensor2D): tf.Tensor1D {
    return tf.reshape(this.out.apply(tf.relu(this.hidden.apply(g))), [-1]) as tf.Tensor1D;
  }
}

export class Trn {
  readonly backbone: BackboneNet;
  readonly head: Dense;
  readonly confidenceHead?: ConfidenceHead;
  /** Names of the backbone's trainable parameters. */
  readonly backboneParams: string[];

  constructor(p: ParamStore, readonly cfg: BackboneConfig, readonly unc: UncertaintyConfig | null, numClasses: number, inChannels: number) {
    const before = new Set(p.trainable.keys());
    this.backbone = createBackbone(p, 'trn', cfg, inChannels);
    this.backboneParams = [...p.trainable.keys()].filter((k) => !before.has(k));
    const c = this.backbone.outChannels;
    this.head = new Dense(p, 'trn.head', c, numClasses);
    // start confident-ish (c ≈ 0.73): most training labels agree with the face
    if (unc) this.confidenceHead = new ConfidenceHead(p, c, unc.hidden, 1);
  }

  /** `tapStage` > 0 also returns the feature map after that backbone stage, from the same pass. */
  forward(x: tf.Tensor4D, ctx: Ctx, tapStage = 0): TrnOutput {
    const stages = this.backbone.stageOutputs(x, ctx);
    const g = globalAvgPool(stages[stages.length - 1]);
    const logits = this.head.apply(dropout(g, this.cfg.dropout, ctx));
    let confLogits: tf.Tensor1D | null = null;
    // The module reads the features but does not train them (choice): its job is to judge the face,
    // not to reshape what the emotion head sees.
    if (this.confidenceHead) confLogits = this.confidenceHead.logits(stopGradient(g) as tf.Tensor2D);
    return tapStage > 0 ? { logits, confLogits, features: g, tap: stages[tapStage - 1] } : { logits, confLogits, features: g };
  }

  flops(h: number, w: number): number {
    return this.backbone.flops(h, w);
  }
}
