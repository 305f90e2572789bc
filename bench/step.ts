/** What the training benches time: a random batch for a model, one training step, one inference pass. */
import * as tf from '../src/tf.js';
import type { PoiModel } from '../src/model/poi.js';
import { applyBnUpdates, type Ctx } from '../src/model/params.js';

/** Random input of the model's shape and labels cycling through 8 classes. */
export function randomBatch(m: PoiModel, batch: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const { height: h, width: w, channels: c } = m.config.input;
  return {
    x: tf.randomNormal([batch, h, w, c]) as tf.Tensor4D,
    y: tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 8), 'int32'),
  };
}

/** Forward + POI loss (epoch 5: transfer on) + gradients, then the optimizer's update when one is given. */
export function trainStep(m: PoiModel, x: tf.Tensor4D, y: tf.Tensor1D, opt?: tf.Optimizer): () => void {
  return () => {
    const ctx: Ctx = { training: true, bnUpdates: [], seed: 1 };
    const { value, grads } = tf.variableGrads(() => m.loss({ x, labels: y }, 5, ctx).total);
    opt?.applyGradients(grads);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
    applyBnUpdates(ctx.bnUpdates);
  };
}

/** TRN's inference on x, read back. */
export function inferStep(m: PoiModel, x: tf.Tensor4D): () => void {
  return () => {
    const p = m.predict(x);
    p.probs.dataSync();
    tf.dispose([p.probs, p.confidence]);
  };
}

/** Images per second of `steps` calls of fn, each over `batch` images. */
export function imagesPerSec(fn: () => void, steps: number, batch: number): number {
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) fn();
  return (steps * batch) / ((performance.now() - t0) / 1000);
}
