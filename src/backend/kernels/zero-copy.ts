/**
 * Identity and same-dtype Cast without copying; Cast to bool fixed.
 *
 * The engine clones every tensor it saves for the backward pass (Engine.clone -> Identity kernel),
 * and tfjs-core casts ReLU's mask float32 -> float32. The stock wasm kernels copy the data each
 * time (~50 ms per training step of the bench CNN); the cpu and webgl backends share it by
 * reference count instead, which is what these do (tensor data is immutable in tfjs).
 *
 * The stock wasm Cast to 'bool' stores the numbers themselves into the byte array (2 -> 2,
 * -1 -> 255); tfjs' meaning is x != 0, computed here with the NotEqual kernel.
 */
import * as tf from '../../tf.js';
import { type KernelArgs, replacingStock } from './util.js';

function share(x: tf.TensorInfo, backend: tf.KernelBackend): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

export function zeroCopy(stock: tf.KernelConfig): tf.KernelConfig {
  const isCast = stock.kernelName === tf.Cast;
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const x = args.inputs.x;
    if (isCast && args.attrs?.dtype === 'bool' && (x.dtype === 'float32' || x.dtype === 'int32')) {
      const zero = tf
        .getKernel(tf.Fill, 'wasm')
        .kernelFunc({ inputs: {}, backend: args.backend, attrs: { shape: [], value: 0, dtype: x.dtype } }) as tf.TensorInfo;
      try {
        return tf.getKernel(tf.NotEqual, 'wasm').kernelFunc({ inputs: { a: x, b: zero }, backend: args.backend, attrs: {} });
      } finally {
        args.backend.disposeData(zero.dataId);
      }
    }
    const same = isCast ? args.attrs?.dtype === x.dtype : true;
    if (!same || x.dtype === 'string' || x.dtype === 'complex64') return stock.kernelFunc(args as never);
    return share(x, args.backend);
  };
  return replacingStock(stock, kernelFunc);
}
