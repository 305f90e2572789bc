/** Layers shared by the backbone kinds: conv + batch norm for training and for ONNX, pooling heads. */
import * as tf from '../../tf.js';
import { type Feat, type GraphBuilder, onnxConv } from '../../onnx/graph.js';
import { BatchNorm, Conv, type Ctx, ParamStore } from '../params.js';

/** Epsilon of poi's BatchNorm (params.ts default; backbones never override it). */
const BN_EPS = 1e-5;

export interface ConvBn {
  conv: Conv;
  bn: BatchNorm;
}

export function convBn(p: ParamStore, name: string, cin: number, cout: number, k = 3, stride: 1 | 2 = 1): ConvBn {
  return { conv: new Conv(p, `${name}.conv`, cin, cout, k, stride), bn: new BatchNorm(p, `${name}.bn`, cout) };
}

export function runConvBn(u: ConvBn, x: tf.Tensor4D, ctx: Ctx, relu = true): tf.Tensor4D {
  const y = u.bn.apply(u.conv.apply(x), ctx) as tf.Tensor4D;
  return relu ? tf.relu(y) : y;
}

/**
 * Conv ('same') with its batch norm folded in. BN at inference is y = conv(x)·scale + shift with
 * scale = γ/√(var+ε), shift = β − mean·scale; conv is linear in its kernel, so this is one conv with
 * kernel·scale and bias shift. Folded in float64, rounded once.
 */
export function onnxConvBn(g: GraphBuilder, name: string, f: Feat, cout: number, k: number, stride: 1 | 2, relu: boolean): Feat {
  const kw = g.weight(`${name}.conv.w`, [k, k, f.c, cout]);
  const gamma = g.weight(`${name}.bn.gamma`, [cout]);
  const beta = g.weight(`${name}.bn.beta`, [cout]);
  const mean = g.weight(`${name}.bn.mean`, [cout]);
  const variance = g.weight(`${name}.bn.var`, [cout]);
  const scale = new Float64Array(cout);
  const bias = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    scale[o] = gamma[o] / Math.sqrt(variance[o] + BN_EPS);
    bias[o] = beta[o] - mean[o] * scale[o];
  }
  const kernel = new Float32Array(kw.length);
  for (let i = 0; i < kw.length; i++) kernel[i] = kw[i] * scale[i % cout];
  return onnxConv(g, name, f, kernel, bias, { k, cout, stride, pad: 'same', relu });
}

/** Global average pooling [B,H,W,C] → [B,C]. */
/** The last feature map of a stage list (a backbone has at least one stage). */
export function lastOf(outs: tf.Tensor4D[]): tf.Tensor4D {
  if (!outs.length) throw new Error('a backbone needs at least one stage');
  return outs[outs.length - 1];
}

export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]) as tf.Tensor2D;
}

/** Inverted dropout with a seeded mask (tf.dropout's own seed handling is not resumable). */
export function dropout(x: tf.Tensor2D, rate: number, ctx: Ctx): tf.Tensor2D {
  if (!ctx.training || rate <= 0) return x;
  const mask = tf.div(tf.step(tf.sub(tf.randomUniform(x.shape, 0, 1, 'float32', ctx.seed), rate)), 1 - rate);
  return tf.mul(x, mask) as tf.Tensor2D;
}

/** widths and depths must pair up, with positive integers. */
export function checkStages(cfg: { widths: number[]; depths: number[] }, where: string): void {
  if (!Array.isArray(cfg.widths) || !Array.isArray(cfg.depths) || cfg.widths.length !== cfg.depths.length || cfg.widths.length === 0) {
    throw new Error(`${where}: widths and depths must be non-empty lists of the same length`);
  }
  for (const v of [...cfg.widths, ...cfg.depths]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${where}: widths and depths must be positive integers, got ${v}`);
  }
}
