/**
 * Shared helpers for poi's wasm training kernels.
 *
 * Two styles of kernel live here:
 *  - "composite" kernels (convolution gradients, batched matmul) are written with tf ops inside a
 *    tf.tidy. A kernelFunc runs with the engine's kernelDepth > 0, so nothing is recorded on the
 *    gradient tape; the tidy disposes every intermediate and the returned Tensor becomes the kernel
 *    output (the engine accepts a Tensor as kernel output and uses it as is).
 *  - "loop" kernels (MaxPoolGrad, UnsortedSegmentSum) read and write the wasm heap directly.
 */
import * as tf from '../../tf.js';

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use (it is not exported as a type). */
export interface WasmBackendLike extends tf.KernelBackend {
  wasm: {
    HEAPU8: Uint8Array;
    wasmMemory?: { buffer: ArrayBufferLike };
    PThread?: { terminateAllThreads(): void };
  };
  dataIdMap: { get(dataId: tf.DataId): { id: number; memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): tf.TensorInfo;
}

export type Attrs = tf.NamedAttrMap;

/** What a kernelFunc receives (inputs typed as present; the engine checks them). */
export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: tf.KernelBackend;
  attrs?: Attrs;
}

/**
 * The current heap buffer. With the threaded build the memory is a growable SharedArrayBuffer and
 * Module.HEAPU8 can lag behind a growth done elsewhere, so prefer wasmMemory.buffer.
 */
function heapBuffer(backend: WasmBackendLike): ArrayBufferLike {
  const mem = backend.wasm.wasmMemory;
  return mem != null ? mem.buffer : backend.wasm.HEAPU8.buffer;
}

function offsetOf(backend: WasmBackendLike, info: tf.TensorInfo): number {
  const d = backend.dataIdMap.get(info.dataId);
  if (d == null) throw new Error('poi wasm kernel: tensor data is not on the wasm backend');
  return d.memoryOffset;
}

export function f32View(backend: WasmBackendLike, info: tf.TensorInfo): Float32Array {
  return new Float32Array(heapBuffer(backend), offsetOf(backend, info), tf.util.sizeFromShape(info.shape));
}

export function i32View(backend: WasmBackendLike, info: tf.TensorInfo): Int32Array {
  return new Int32Array(heapBuffer(backend), offsetOf(backend, info), tf.util.sizeFromShape(info.shape));
}

/**
 * A Tensor over a kernel input. Kernel inputs are normally Tensors already; a bare TensorInfo (a
 * kernel called from inside another kernel) is wrapped with an extra backend reference so that
 * disposing the wrapper (the enclosing tidy does it) leaves the caller's data alone.
 */
export function asTensor<T extends tf.Tensor = tf.Tensor>(info: tf.TensorInfo, backend: tf.KernelBackend): T {
  if (info instanceof tf.Tensor) return info as T;
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend) as T;
}

export function pair(v: number | [number, number] | number[] | undefined, dflt = 1): [number, number] {
  if (v == null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  return [v[0], v.length > 1 ? v[1] : v[0]];
}

export function assertNHWC(dataFormat: unknown, kernel: string): void {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`poi wasm ${kernel}: only NHWC (channelsLast) is supported, got dataFormat=${String(dataFormat)}`);
  }
}

export function assertNoDilation(dilations: unknown, kernel: string): void {
  const [dh, dw] = pair(dilations as number | [number, number] | undefined);
  if (dh !== 1 || dw !== 1) {
    throw new Error(`poi wasm ${kernel}: dilations other than 1 are not supported (got [${dh}, ${dw}])`);
  }
}

/**
 * Pads (positive amounts) or crops (negative amounts) the two spatial axes of an NHWC tensor so
 * that a following convolution can be given non-negative explicit padding. Returns the tensor and
 * the padding that is left for the convolution.
 */
export function cropForPadding(
  x: tf.Tensor4D,
  top: number,
  bottom: number,
  left: number,
  right: number,
): { x: tf.Tensor4D; pad: [[number, number], [number, number], [number, number], [number, number]] } {
  const cropT = Math.max(0, -top);
  const cropB = Math.max(0, -bottom);
  const cropL = Math.max(0, -left);
  const cropR = Math.max(0, -right);
  let y = x;
  if (cropT + cropB + cropL + cropR > 0) {
    const [n, h, w, c] = x.shape;
    y = tf.slice(x, [0, cropT, cropL, 0], [n, h - cropT - cropB, w - cropL - cropR, c]);
  }
  return {
    x: y,
    pad: [
      [0, 0],
      [Math.max(0, top), Math.max(0, bottom)],
      [Math.max(0, left), Math.max(0, right)],
      [0, 0],
    ],
  };
}

/**
 * Inserts (sh - 1) zero rows after every row and (sw - 1) zero columns after every column of an
 * NHWC tensor: [N, H, W, C] -> [N, H * sh, W * sw, C] (the trailing zeros are kept; callers account
 * for them in their padding).
 */
export function zeroInsert(x: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return x;
  const [n, h, w, c] = x.shape;
  const r = tf.reshape(x, [n * h, 1, w, 1, c]);
  const p = tf.pad(r, [
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.reshape(p, [n, h * sh, w * sw, c]);
}

/** A wasm kernel config that replaces a stock kernel's function but keeps its setup and disposal. */
export function replacingStock(stock: tf.KernelConfig, kernelFunc: (args: never) => unknown): tf.KernelConfig {
  return {
    kernelName: stock.kernelName,
    backendName: 'wasm',
    setupFunc: stock.setupFunc,
    disposeFunc: stock.disposeFunc,
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
  };
}
