/**
 * Gradient registrations poi's training relies on.
 *
 * tfjs-core's own Node bundle (dist/tf-core.node.js) registers no gradients at all; they come from
 * the union package @tensorflow/tfjs, which src/tf.ts re-exports. ensureGradients() checks that
 * they are there (with a clear error otherwise, instead of tfjs' "gradient function not found" in
 * the middle of a training step) and replaces the FusedBatchNorm gradient with a tile-free one.
 *
 * Gradients are keyed by kernel name, not backend: the replacement applies to every backend (it is
 * plain tf ops and gives the same values).
 */
import * as tf from '../../tf.js';
import { fusedBatchNormGradConfig } from './batchnorm-grad.js';

let done = false;

export function gradientsRegistered(): boolean {
  return tf.getGradient('Conv2D') != null && tf.getGradient('Sum') != null;
}

/** Idempotent; safe to call from several places. */
export async function ensureGradients(): Promise<void> {
  if (done) return;
  if (!gradientsRegistered()) {
    throw new Error(
      "poi: tfjs gradients are not registered. tfjs-core's Node bundle has none; import tfjs through " +
        "src/tf.ts, which re-exports @tensorflow/tfjs (the union package registers them).",
    );
  }
  tf.registerGradient(fusedBatchNormGradConfig);
  done = true;
}
