/**
 * Gradient of FusedBatchNorm (tf.batchNorm) without Tile.
 *
 * tfjs-core's gradient builds d/dx by tiling rsqrt(var + eps) from [C] to the full [N, H, W, C]
 * shape (slow on wasm) and computes d/dmean and d/dvariance as full-size products reduced
 * afterwards. This one is the same mathematics with broadcasting, and reduces dy (and dy*(x-mean))
 * first so that the per-channel factors are applied to [C]-sized tensors.
 *
 * Gradients are kernel-name keyed, not backend keyed: registering this replaces the FusedBatchNorm
 * gradient for every backend (it is backend-neutral tf ops).
 */
import * as tf from '../../tf.js';

export const fusedBatchNormGradConfig: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const g0 = Array.isArray(dy) ? dy[0] : dy;
    const eps = (attrs?.varianceEpsilon as number | undefined) ?? 0.001;
    const [x, mean, variance, scale] = saved;
    const scaleValue: tf.Tensor = scale == null ? tf.scalar(1) : scale;
    const axes = tf.broadcast_util.getReductionAxes(mean.shape, x.shape);
    const perChannel = mean.rank === 1 && axes.length > 0;
    const reduce = (t: tf.Tensor, shape: number[]): tf.Tensor => tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, shape);
    const rstd = tf.rsqrt(tf.add(variance, tf.scalar(eps)));
    return {
      x: () => tf.reshape(tf.mul(g0, tf.mul(rstd, scaleValue)), x.shape),
      mean: () => {
        if (perChannel) return tf.reshape(tf.mul(tf.neg(tf.mul(rstd, scaleValue)), tf.sum(g0, axes)), mean.shape);
        return reduce(tf.mul(tf.neg(rstd), tf.mul(g0, scaleValue)), mean.shape);
      },
      variance: () => {
        const minusHalfRCube = tf.mul(tf.mul(tf.mul(rstd, rstd), rstd), tf.scalar(-0.5));
        if (perChannel) {
          const s = tf.sum(tf.mul(g0, tf.sub(x, mean)), axes);
          return tf.reshape(tf.mul(tf.mul(minusHalfRCube, scaleValue), s), mean.shape);
        }
        return reduce(tf.mul(tf.mul(minusHalfRCube, tf.sub(x, mean)), tf.mul(g0, scaleValue)), mean.shape);
      },
      scale: () => {
        if (perChannel) {
          const s = tf.sum(tf.mul(g0, tf.sub(x, mean)), axes);
          return tf.reshape(tf.mul(rstd, s), mean.shape);
        }
        return reduce(tf.mul(g0, tf.mul(tf.sub(x, mean), rstd)), mean.shape);
      },
      offset: () => reduce(g0, mean.shape),
    };
  },
};
