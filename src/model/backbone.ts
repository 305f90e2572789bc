/**
 * Convolutional backbones. 'vgg' (stages of conv-BN-ReLU, then 2x2 max-pool) is cheap per FLOP on a
 * CPU; 'resnet' (basic blocks, stride-2 stages, 3x3 stem and no max-pool for small faces) is deeper.
 */
import * as tf from '../tf.js';
import type { BackboneConfig } from './config.js';
import { BatchNorm, Conv, type Ctx, ParamStore } from './params.js';

interface ConvBn {
  conv: Conv;
  bn: BatchNorm;
}

function convBn(p: ParamStore, name: string, cin: number, cout: number, k = 3, stride: 1 | 2 = 1): ConvBn {
  return { conv: new Conv(p, `${name}.conv`, cin, cout, k, stride), bn: new BatchNorm(p, `${name}.bn`, cout) };
}

function runConvBn(u: ConvBn, x: tf.Tensor4D, ctx: Ctx, relu = true): tf.Tensor4D {
  const y = u.bn.apply(u.conv.apply(x), ctx) as tf.Tensor4D;
  return relu ? tf.relu(y) : y;
}

interface ResBlock {
  a: ConvBn;
  b: ConvBn;
  down?: ConvBn;
}

export class Backbone {
  private readonly vggStages: ConvBn[][] = [];
  private readonly stem?: ConvBn;
  private readonly resStages: ResBlock[][] = [];
  readonly outChannels: number;
  /** Total spatial downsampling factor of the feature map. */
  readonly stride: number;

  constructor(p: ParamStore, name: string, readonly cfg: BackboneConfig, readonly inChannels: number) {
    if (cfg.widths.length !== cfg.depths.length) throw new Error(`${name}: widths and depths differ in length`);
    let cin = inChannels;
    if (cfg.kind === 'vgg') {
      cfg.widths.forEach((w, s) => {
        const stage: ConvBn[] = [];
        for (let i = 0; i < cfg.depths[s]; i++) {
          stage.push(convBn(p, `${name}.s${s}.c${i}`, cin, w));
          cin = w;
        }
        this.vggStages.push(stage);
      });
      this.stride = 2 ** cfg.widths.length;
    } else {
      this.stem = convBn(p, `${name}.stem`, cin, cfg.widths[0]);
      cin = cfg.widths[0];
      cfg.widths.forEach((w, s) => {
        const stage: ResBlock[] = [];
        for (let i = 0; i < cfg.depths[s]; i++) {
          const stride: 1 | 2 = s > 0 && i === 0 ? 2 : 1;
          const blk: ResBlock = {
            a: convBn(p, `${name}.s${s}.b${i}.a`, cin, w, 3, stride),
            b: convBn(p, `${name}.s${s}.b${i}.b`, w, w),
          };
          if (stride !== 1 || cin !== w) blk.down = convBn(p, `${name}.s${s}.b${i}.down`, cin, w, 1, stride);
          stage.push(blk);
          cin = w;
        }
        this.resStages.push(stage);
      });
      this.stride = 2 ** (cfg.widths.length - 1);
    }
    this.outChannels = cin;
  }

  /** Feature map [B, H/stride, W/stride, C]. */
  features(x: tf.Tensor4D, ctx: Ctx): tf.Tensor4D {
    if (this.cfg.kind === 'vgg') {
      for (const stage of this.vggStages) {
        for (const u of stage) x = runConvBn(u, x, ctx);
        x = tf.maxPool(x, 2, 2, 'same');
      }
      return x;
    }
    x = runConvBn(this.stem!, x, ctx);
    for (const stage of this.resStages) {
      for (const blk of stage) {
        const h = runConvBn(blk.b, runConvBn(blk.a, x, ctx), ctx, false);
        const sc = blk.down ? runConvBn(blk.down, x, ctx, false) : x;
        x = tf.relu(tf.add(h, sc));
      }
    }
    return x;
  }

  /** Multiply-accumulate count ×2 of one forward pass at the given input size. */
  flops(h: number, w: number): number {
    let f = 0;
    if (this.cfg.kind === 'vgg') {
      for (const stage of this.vggStages) {
        for (const u of stage) f += u.conv.flops(h, w);
        h = Math.ceil(h / 2);
        w = Math.ceil(w / 2);
      }
      return f;
    }
    f += this.stem!.conv.flops(h, w);
    for (const stage of this.resStages) {
      for (const blk of stage) {
        f += blk.a.conv.flops(h, w);
        if (blk.down) f += blk.down.conv.flops(h, w);
        if (blk.a.conv.stride === 2) {
          h = Math.ceil(h / 2);
          w = Math.ceil(w / 2);
        }
        f += blk.b.conv.flops(h, w);
      }
    }
    return f;
  }
}

/** Global average pooling [B,H,W,C] → [B,C]. */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]) as tf.Tensor2D;
}

/** Inverted dropout with a seeded mask (tf.dropout's own seed handling is not resumable). */
export function dropout(x: tf.Tensor2D, rate: number, ctx: Ctx): tf.Tensor2D {
  if (!ctx.training || rate <= 0) return x;
  const mask = tf.div(tf.step(tf.sub(tf.randomUniform(x.shape, 0, 1, 'float32', ctx.seed), rate)), 1 - rate);
  return tf.mul(x, mask) as tf.Tensor2D;
}
