/**
 * Losses, batch-averaged. Distributions are rows of [B, K] tensors; logits are unnormalised.
 * Every function is checked against hand-computed values in test/losses.test.ts.
 */
import * as tf from '../tf.js';

/** Per-sample cross-entropy H(target, softmax(logits)) for soft targets. [B] */
export function softCrossEntropy(logits: tf.Tensor2D, target: tf.Tensor2D): tf.Tensor1D {
  return tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1)) as tf.Tensor1D;
}

/** Per-sample CE with hard labels, optional label smoothing eps. [B] */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, k: number, smoothing = 0): tf.Tensor1D {
  let t = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), k), 'float32') as tf.Tensor2D;
  if (smoothing > 0) t = tf.add(tf.mul(t, 1 - smoothing), smoothing / k) as tf.Tensor2D;
  return softCrossEntropy(logits, t);
}

/**
 * Per-sample KL(target ‖ softmax(logits / T)), with 0·log 0 = 0. Scaled by T² by the caller where it
 * distils (the gradient magnitude of softened targets falls as 1/T²). [B]
 */
export function klDivergence(target: tf.Tensor2D, logits: tf.Tensor2D, temperature = 1): tf.Tensor1D {
  const logp = tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature));
  const safe = tf.maximum(target, 1e-12);
  const tlogt = tf.mul(target, tf.log(safe));
  return tf.sum(tf.sub(tlogt, tf.mul(target, logp)), 1) as tf.Tensor1D;
}

/** Per-sample binary cross-entropy of sigmoid(logits) against targets in [0,1], averaged over the last axis. [B] */
export function binaryCrossEntropyWithLogits(logits: tf.Tensor, target: tf.Tensor): tf.Tensor1D {
  // max(z,0) - z*t + log(1 + exp(-|z|)), numerically stable
  const z = logits;
  const l = tf.add(tf.sub(tf.relu(z), tf.mul(z, target)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
  return (l.rank === 1 ? l : tf.mean(l, -1)) as tf.Tensor1D;
}

/** Row entropies of probability rows (nats). [B] */
export function entropy(p: tf.Tensor2D): tf.Tensor1D {
  return tf.neg(tf.sum(tf.mul(p, tf.log(tf.maximum(p, 1e-12))), 1)) as tf.Tensor1D;
}

/** Weighted mean of per-sample losses, weights optional. Scalar. */
export function weightedMean(perSample: tf.Tensor1D, weights?: tf.Tensor1D): tf.Scalar {
  return (weights ? tf.mean(tf.mul(perSample, weights)) : tf.mean(perSample)) as tf.Scalar;
}

/** Identity in the forward pass, zero gradient backwards (tfjs-core has no stopGradient op). */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as <T extends tf.Tensor>(x: T) => T;
