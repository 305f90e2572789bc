/**
 * Kernels written as plain loops over the wasm heap.
 *
 * MaxPoolGrad: the stock wasm kernel starts its running maximum at FLT_MIN (the smallest positive
 * float), so a window whose values are all <= 0 sends its gradient to the wrong place. This one
 * matches tfjs-backend-cpu exactly: running max from -Infinity, strict '>' (the first maximum in
 * row-major window order wins; windows with only NaN/-Infinity get no gradient), padding skipped.
 *
 * UnsortedSegmentSum: not registered in tfjs-backend-wasm 4.22 (the gradient of gather uses it).
 * Ids outside [0, numSegments) are dropped, as on the cpu backend.
 */
import * as tf from '../../tf.js';
import { f32View, i32View, type KernelArgs, type WasmBackendLike } from './util.js';

/** The pooling geometry of a MaxPoolGrad call (NHWC input, the kernel's attrs); shared with the native kernel. */
export function maxPoolGradInfo(input: tf.TensorInfo, a: tf.NamedAttrMap): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize as number | [number, number],
    a.strides as number | [number, number],
    1,
    a.pad as 'valid' | 'same' | number,
    a.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
}

function maxPoolGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const b = backend as WasmBackendLike;
  const { dy, input } = inputs;
  const a = attrs ?? {};
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`poi wasm MaxPoolGrad: float32 only (got ${input.dtype}, ${dy.dtype})`);
  }
  const info = maxPoolGradInfo(input, a);
  const { batchSize: nb, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top, left } = info.padInfo;

  const out = b.makeOutput(input.shape, 'float32');
  // Views after makeOutput: allocating may grow (and replace) the heap buffer.
  const dx = f32View(b, out);
  const x = f32View(b, input);
  const g = f32View(b, dy);
  dx.fill(0);
  const offs = new Int32Array(fh * fw); // window taps (element offsets from the image origin), row-major
  for (let n = 0; n < nb; n++) {
    const img = n * h * w * c;
    for (let i = 0; i < oh; i++) {
      const h0 = i * sh - top;
      const hs = Math.max(0, h0);
      const he = Math.min(h, h0 + fh);
      for (let j = 0; j < ow; j++) {
        const w0 = j * sw - left;
        const ws = Math.max(0, w0);
        const we = Math.min(w, w0 + fw);
        const gb = ((n * oh + i) * ow + j) * c;
        if (fh === 2 && fw === 2 && he - hs === 2 && we - ws === 2) {
          // common 2x2 window, fully inside: the four taps unrolled (same order and comparisons)
          const p0 = img + (hs * w + ws) * c;
          const p1 = p0 + c;
          const p2 = p0 + w * c;
          const p3 = p2 + c;
          for (let k = 0; k < c; k++) {
            let bv = -Infinity;
            let bp = -1;
            let v = x[p0 + k];
            if (v > bv) { bv = v; bp = p0 + k; }
            v = x[p1 + k];
            if (v > bv) { bv = v; bp = p1 + k; }
            v = x[p2 + k];
            if (v > bv) { bv = v; bp = p2 + k; }
            v = x[p3 + k];
            if (v > bv) { bv = v; bp = p3 + k; }
            if (bp >= 0) dx[bp] += g[gb + k];
          }
          continue;
        }
        let nt = 0;
        for (let r = hs; r < he; r++) {
          for (let s2 = ws; s2 < we; s2++) offs[nt++] = img + (r * w + s2) * c;
        }
        for (let k = 0; k < c; k++) {
          let bv = -Infinity;
          let bp = -1;
          for (let t = 0; t < nt; t++) {
            const p = offs[t] + k;
            const v = x[p];
            if (v > bv) {
              bv = v;
              bp = p;
            }
          }
          if (bp >= 0) dx[bp] += g[gb + k];
        }
      }
    }
  }
  return out;
}

function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const b = backend as WasmBackendLike;
  const { x, segmentIds } = inputs;
  const numSegments = (attrs ?? {}).numSegments as number;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`poi wasm UnsortedSegmentSum: float32/int32 only (got ${x.dtype})`);
  }
  if (segmentIds.dtype !== 'int32') throw new Error('poi wasm UnsortedSegmentSum: segmentIds must be int32');
  const idRank = segmentIds.shape.length;
  for (let d = 0; d < idRank; d++) {
    if (segmentIds.shape[d] !== x.shape[d]) {
      throw new Error(`poi wasm UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`);
    }
  }
  const inner = tf.util.sizeFromShape(x.shape.slice(idRank));
  const outShape = [numSegments, ...x.shape.slice(idRank)];
  const out = b.makeOutput(outShape, x.dtype);
  const ids = i32View(b, segmentIds);
  const src = x.dtype === 'float32' ? f32View(b, x) : i32View(b, x);
  const dst = x.dtype === 'float32' ? f32View(b, out) : i32View(b, out);
  dst.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const so = i * inner;
    const d0 = s * inner;
    for (let k = 0; k < inner; k++) dst[d0 + k] += src[so + k];
  }
  return out;
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
};
