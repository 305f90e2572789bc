/**
 * Conv2D gradients for the wasm backend, expressed as forward convolutions (XNNPACK, threaded).
 *
 * Forward (NHWC, dilation 1): y[n,i,j,o] = sum_{a,b,c} x[n, i*sh + a - pt, j*sw + b - pl, c] f[a,b,c,o].
 *
 * Filter gradient: dF[a,b,c,o] = sum_{n,i,j} x[n, a + i*sh - pt, b + j*sw - pl, c] dy[n,i,j,o]
 *   = a stride-1 convolution whose "batch" is c, whose reduction channel is n and whose kernel is dy
 *     (Ho x Wo taps, dilated by the forward stride): conv(x^T [C,H,W,N], dy^T [Ho,Wo,N,O]).
 * Input gradient: dx = conv(zero-inserted dy, filter flipped in space with in/out channels swapped),
 *   padded by (k - 1 - p_before) before and whatever makes the output H x W after.
 */
import * as tf from '../../tf.js';
import { asTensor, assertNHWC, cropForPadding, zeroInsert, type Attrs, type KernelArgs } from './util.js';

type Conv2DInfo = tf.backend_util.Conv2DInfo;
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

function conv2dInfo(
  xShape: number[],
  filterShape: number[],
  attrs: Attrs,
  depthwise: boolean,
): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
    'channelsLast',
  );
}

/** dF for a regular convolution: [kh, kw, Ci, Co]. */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  const [n, h, w, ci] = x.shape;
  const co = dy.shape[3];
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && top === 0 && left === 0 && oh === h && ow === w) {
    // 1x1, stride 1: a plain matrix product over the N*H*W positions.
    const x2 = tf.transpose(tf.reshape(x, [n * h * w, ci]));
    const g = tf.matMul(x2, tf.reshape(dy, [n * h * w, co]));
    return tf.reshape(g, [1, 1, ci, co]);
  }
  // Rows of x that the forward pass touched: [-top, kh + (oh-1)*sh - top).
  const needH = kh + (oh - 1) * sh - top;
  const needW = kw + (ow - 1) * sw - left;
  const xT = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D; // [Ci, H, W, N]
  const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [Ho, Wo, N, Co]
  const { x: xc, pad } = cropForPadding(xT, top, needH - h, left, needW - w);
  const g = tf.conv2d(xc, dyT, 1, pad, 'NHWC', [sh, sw]); // [Ci, kh, kw, Co]
  return tf.transpose(g, [1, 2, 0, 3]);
}

/** dx for a regular convolution: [N, H, W, Ci]. */
export function conv2dInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, info: Conv2DInfo): tf.Tensor4D {
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info;
  const { top, left } = info.padInfo;
  const d = zeroInsert(dy, sh, sw); // [N, Ho*sh, Wo*sw, Co]
  const hd = d.shape[1];
  const wd = d.shape[2];
  const fT = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D; // [kh, kw, Co, Ci]
  const { x: dc, pad } = cropForPadding(d, kh - 1 - top, h - hd + top, kw - 1 - left, w - wd + left);
  return tf.conv2d(dc, fT, 1, pad);
}

function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.Tensor {
  const a = attrs ?? {};
  assertNHWC(a.dataFormat, 'Conv2DBackpropFilter');
  return tf.tidy(() => {
    const x = asTensor<tf.Tensor4D>(inputs.x, backend);
    const dy = asTensor<tf.Tensor4D>(inputs.dy, backend);
    const info = conv2dInfo(x.shape, a.filterShape as number[], a, false);
    return conv2dFilterGrad(x, dy, info);
  });
}

function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.Tensor {
  const a = attrs ?? {};
  assertNHWC(a.dataFormat, 'Conv2DBackpropInput');
  return tf.tidy(() => {
    const dy = asTensor<tf.Tensor4D>(inputs.dy, backend);
    const filter = asTensor<tf.Tensor4D>(inputs.filter, backend);
    const info = conv2dInfo(a.inputShape as number[], filter.shape, a, false);
    return conv2dInputGrad(dy, filter, info);
  });
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
};

export { conv2dInfo };
