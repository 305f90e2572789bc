/**
 * BatchMatMul / _FusedMatMul with transpose flags.
 *
 * The stock wasm kernels send any transposed operand down a naive loop, 20-70x slower than the
 * XNNPACK path taken without flags (and every dense-layer gradient passes a flag). These wrappers
 * transpose the flagged operand with the wasm Transpose kernel and call the stock kernel without
 * flags. Everything stays at the TensorInfo level: the intermediates are released with
 * backend.disposeData.
 */
import * as tf from '../../tf.js';
import { type KernelArgs, replacingStock } from './util.js';


function swapLast(info: tf.TensorInfo, backend: tf.KernelBackend): tf.TensorInfo {
  const rank = info.shape.length;
  const perm = [...Array(rank).keys()];
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  const transpose = tf.getKernel(tf.Transpose, 'wasm');
  return transpose.kernelFunc({ inputs: { x: info }, backend, attrs: { perm } }) as tf.TensorInfo;
}

/** Wraps a stock kernel whose inputs `a`, `b` carry transposeA / transposeB attributes. */
export function transposeFirst(stock: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const a = attrs ?? {};
    const ta = a.transposeA === true;
    const tb = a.transposeB === true;
    if (!ta && !tb) return stock.kernelFunc({ inputs, backend, attrs: a });
    const tmp: tf.TensorInfo[] = [];
    try {
      const A = ta ? swapLast(inputs.a, backend) : inputs.a;
      if (ta) tmp.push(A);
      const B = tb ? swapLast(inputs.b, backend) : inputs.b;
      if (tb) tmp.push(B);
      return stock.kernelFunc({
        inputs: { ...inputs, a: A, b: B },
        backend,
        attrs: { ...a, transposeA: false, transposeB: false },
      });
    } finally {
      for (const t of tmp) backend.disposeData(t.dataId);
    }
  };
  return replacingStock(stock, kernelFunc);
}
