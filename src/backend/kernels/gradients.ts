/**
 * tfjs-core's gradient functions, made available under Node.
 *
 * The CommonJS bundle that Node loads for '@tensorflow/tfjs-core' (dist/tf-core.node.js) contains
 * no gradient registrations at all (the union package @tensorflow/tfjs normally adds them), so
 * tf.grad / tf.variableGrads / optimizer.minimize fail with "gradient function not found for ...".
 * The gradients exist only as ES modules (dist/gradients/*.js, dist/register_all_gradients.js) with
 * extensionless imports that Node cannot resolve. ensureGradients() installs a tiny resolve/load
 * hook (esm-hooks.ts) and imports dist/register_all_gradients.js. That module graph is a second
 * copy of tfjs-core's op code, but the engine, kernel registry and gradient registry are process
 * globals shared by every copy, so the gradient functions run on the same engine and tensors.
 *
 * Idempotent; a no-op when gradients are already registered (e.g. by @tensorflow/tfjs).
 */
import * as tf from '../../tf.js';
import * as nodeModule from 'node:module';
import { fusedBatchNormGradConfig } from './batchnorm-grad.js';

let pending: Promise<void> | null = null;

export function gradientsRegistered(): boolean {
  return tf.getGradient('Conv2D') != null && tf.getGradient('Sum') != null;
}

async function load(): Promise<void> {
  if (!gradientsRegistered()) {
    const register = (nodeModule as { register?: (specifier: string | URL, parentURL?: string | URL) => void }).register;
    if (typeof register !== 'function') {
      throw new Error('poi: Node >= 20.6 is needed to load tfjs-core gradients (module.register is missing)');
    }
    register(new URL('./esm-hooks.js', import.meta.url));
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js' as string);
    if (!gradientsRegistered()) throw new Error('poi: loading tfjs-core gradients did not register them');
  }
  // Faster, tile-free FusedBatchNorm gradient (same values).
  tf.registerGradient(fusedBatchNormGradConfig);
}

/** Registers tfjs-core's gradients (once per process). Safe to call from several places. */
export function ensureGradients(): Promise<void> {
  if (pending == null) {
    pending = load().catch((e) => {
      pending = null;
      throw e;
    });
  }
  return pending;
}
