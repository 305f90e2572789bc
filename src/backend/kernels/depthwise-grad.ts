/**
 * DepthwiseConv2dNative gradients for the wasm backend (NHWC, dilation 1, any channel multiplier).
 *
 * Forward: y[n,i,j,c*M+q] = sum_{a,b} x[n, i*sh + a - pt, j*sw + b - pl, c] f[a,b,c,q].
 * Input gradient: a depthwise convolution (XNNPACK) of the zero-inserted dy with the spatially
 *   flipped filter over all C*M channels, then a sum over the M multipliers.
 * Filter gradient: one strided slice of the padded input per filter tap, multiplied by dy and
 *   summed over batch and space (kh*kw passes over the data; no cross-channel work is wasted).
 */
import * as tf from '../../tf.js';
import { conv2dInfo } from './conv2d-grad.js';
import { asTensor, assertNHWC, assertNoDilation, cropForPadding, zeroInsert, type Attrs, type KernelArgs } from './util.js';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

export function depthwiseInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info;
  const { top, left } = info.padInfo;
  const [, , c, m] = filter.shape;
  const d = zeroInsert(dy, sh, sw);
  const hd = d.shape[1];
  const wd = d.shape[2];
  const fR = tf.reshape(tf.reverse(filter, [0, 1]), [kh, kw, c * m, 1]) as tf.Tensor4D;
  const { x: dc, pad } = cropForPadding(d, kh - 1 - top, h - hd + top, kw - 1 - left, w - wd + left);
  const g = tf.depthwiseConv2d(dc, fR, 1, pad); // [N, H, W, C*M]
  if (m === 1) return g;
  const [n] = g.shape;
  return tf.sum(tf.reshape(g, [n, h, w, c, m]), 4) as tf.Tensor4D;
}

export function depthwiseFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: Conv2DInfo, filterShape: number[]): tf.Tensor4D {
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  const [n, h, w, c] = x.shape;
  const m = filterShape[3];
  const needH = kh + (oh - 1) * sh; // padded rows that the taps reach
  const needW = kw + (ow - 1) * sw;
  const { x: xc, pad } = cropForPadding(x, top, needH - top - h, left, needW - left - w);
  const xp = tf.pad(xc, pad);
  const dy5 = m === 1 ? dy : tf.reshape(dy, [n, oh, ow, c, m]);
  const taps: tf.Tensor[] = [];
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      let xs: tf.Tensor = tf.stridedSlice(xp, [0, a, b, 0], [n, a + (oh - 1) * sh + 1, b + (ow - 1) * sw + 1, c], [1, sh, sw, 1]);
      if (m > 1) xs = tf.reshape(xs, [n, oh, ow, c, 1]);
      taps.push(tf.sum(tf.mul(xs, dy5), [0, 1, 2])); // [C] or [C, M]
    }
  }
  return tf.reshape(tf.stack(taps), [kh, kw, c, m]);
}

function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.Tensor {
  const a = attrs ?? {};
  assertNHWC(a.dataFormat, 'DepthwiseConv2dNativeBackpropInput');
  assertNoDilation(a.dilations, 'DepthwiseConv2dNativeBackpropInput');
  return tf.tidy(() => {
    const dy = asTensor<tf.Tensor4D>(inputs.dy, backend);
    const filter = asTensor<tf.Tensor4D>(inputs.filter, backend);
    const info = conv2dInfo(a.inputShape as number[], filter.shape, a, true);
    return depthwiseInputGrad(dy, filter, info);
  });
}

function depthwiseBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.Tensor {
  const a = attrs ?? {};
  assertNHWC(a.dataFormat, 'DepthwiseConv2dNativeBackpropFilter');
  assertNoDilation(a.dilations, 'DepthwiseConv2dNativeBackpropFilter');
  return tf.tidy(() => {
    const x = asTensor<tf.Tensor4D>(inputs.x, backend);
    const dy = asTensor<tf.Tensor4D>(inputs.dy, backend);
    const filterShape = a.filterShape as number[];
    const info = conv2dInfo(x.shape, filterShape, a, true);
    return depthwiseFilterGrad(x, dy, info, filterShape);
  });
}

export const depthwiseBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput as unknown as tf.KernelFunc,
};

export const depthwiseBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter as unknown as tf.KernelFunc,
};
