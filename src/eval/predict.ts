/** Run a model over a whole decoded image set, in batches, with TRN only. */
import * as tf from '../tf.js';
import type { ImageSet } from '../data/types.js';
import type { InputSpec } from '../model/config.js';
import type { PoiModel } from '../model/poi.js';
import { createTfjsRunner, type TrnRunner } from '../infer/runner.js';

export interface SetPredictions {
  /** N*K probabilities. */
  probs: Float32Array;
  /** N confidences in (0,1). */
  confidence: Float32Array;
}

/** uint8 NHWC pixels of faces [start, end) as the model's float input, (px/255 - mean)/std. */
function normalised(set: ImageSet, start: number, end: number, mean: number, std: number): Float32Array {
  const per = set.height * set.width * set.channels;
  const px = set.pixels.subarray(start * per, end * per);
  const x = new Float32Array(px.length);
  const a = 1 / (255 * std);
  const b = -mean / std;
  for (let i = 0; i < px.length; i++) x[i] = px[i] * a + b;
  return x;
}

/** Normalise uint8 NHWC pixels [start, end) to the model's float input. */
export function toInput(set: ImageSet, start: number, end: number, mean: number, std: number): tf.Tensor4D {
  return tf.tensor4d(normalised(set, start, end, mean, std), [end - start, set.height, set.width, set.channels]);
}

/** TRN of an in-memory model over the set: predictSetWithRunner on tfjs. */
export async function predictSet(
  model: PoiModel,
  set: ImageSet,
  opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<SetPredictions> {
  return predictSetWithRunner(createTfjsRunner(model), set, model.config.input, model.numClasses, opts);
}

/** Any TrnRunner (onnxruntime, tfjs, flip TTA) over a whole decoded set, in batches. */
export async function predictSetWithRunner(
  runner: TrnRunner,
  set: ImageSet,
  input: InputSpec,
  numClasses: number,
  opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<SetPredictions> {
  if (set.height !== input.height || set.width !== input.width || set.channels !== input.channels) {
    throw new Error(`images are ${set.height}x${set.width}x${set.channels}, the model expects ${input.height}x${input.width}x${input.channels}`);
  }
  const n = set.labels.length;
  const bs = opts.batchSize ?? 128;
  const probs = new Float32Array(n * numClasses);
  const confidence = new Float32Array(n);
  for (let s = 0; s < n; s += bs) {
    const e = Math.min(n, s + bs);
    const out = await runner.run(normalised(set, s, e, input.mean, input.std), e - s);
    probs.set(out.probs, s * numClasses);
    confidence.set(out.confidence, s);
    opts.onProgress?.(e, n);
  }
  return { probs, confidence };
}
