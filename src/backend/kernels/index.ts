/**
 * poi's training kernels for tfjs-backend-wasm 4.22 (see the files next to this one):
 *   Conv2DBackpropFilter              new (stock: not registered)
 *   Conv2DBackpropInput               replaced (stock: naive single-threaded loop)
 *   DepthwiseConv2dNativeBackpropInput / ...Filter   new
 *   MaxPoolGrad                       replaced (stock: wrong for windows with all values <= 0)
 *   UnsortedSegmentSum                new (gradient of gather)
 *   BatchMatMul, _FusedMatMul         wrapped: transpose flags handled by transposing first
 *   Sum, Mean                         wrapped: leading-axes reductions as one XNNPACK average-pool
 *                                     window instead of the stock transpose + reduce (~10x faster)
 *   Identity, Cast (same dtype)       wrapped: share the data by reference count instead of copying
 * plus (gradients.ts) a tile-free FusedBatchNorm gradient.
 */
import * as tf from '../../tf.js';
import { conv2DBackpropFilterConfig, conv2DBackpropInputConfig } from './conv2d-grad.js';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-grad.js';
import { maxPoolGradConfig, unsortedSegmentSumConfig } from './loops.js';
import { transposeFirst } from './matmul.js';
import { leadingAxesReduce } from './reduce.js';
import { zeroCopy } from './zero-copy.js';

export { ensureGradients, gradientsRegistered } from './gradients.js';
export { conv2dFilterGrad, conv2dInputGrad } from './conv2d-grad.js';

let registered: string[] | null = null;

/**
 * Registers poi's kernels for the 'wasm' backend (unregistering stock ones it replaces). Call after
 * importing @tensorflow/tfjs-backend-wasm (which registers the stock kernels) and preferably before
 * tf.setBackend('wasm'). Idempotent; returns the kernel names it registered.
 */
export function registerWasmTrainingKernels(): string[] {
  if (registered != null) return registered;
  if (tf.getKernel(tf.Conv2D, 'wasm') == null) {
    throw new Error('poi: import @tensorflow/tfjs-backend-wasm before registering the wasm training kernels');
  }
  const configs: tf.KernelConfig[] = [
    conv2DBackpropFilterConfig,
    conv2DBackpropInputConfig,
    depthwiseBackpropInputConfig,
    depthwiseBackpropFilterConfig,
    maxPoolGradConfig,
    unsortedSegmentSumConfig,
  ];
  for (const name of [tf.BatchMatMul, tf._FusedMatMul]) {
    const stock = tf.getKernel(name, 'wasm');
    if (stock != null) configs.push(transposeFirst(stock));
  }
  for (const name of [tf.Sum, tf.Mean]) {
    const stock = tf.getKernel(name, 'wasm');
    if (stock != null) configs.push(leadingAxesReduce(stock, name === tf.Mean));
  }
  for (const name of [tf.Identity, tf.Cast]) {
    const stock = tf.getKernel(name, 'wasm');
    if (stock != null) configs.push(zeroCopy(stock));
  }
  for (const c of configs) {
    if (tf.getKernel(c.kernelName, 'wasm') != null) tf.unregisterKernel(c.kernelName, 'wasm');
    tf.registerKernel(c);
  }
  registered = configs.map((c) => c.kernelName);
  return registered;
}
