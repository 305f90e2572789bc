/**
 * poi's native training kernels (native/, an N-API addon on oneDNN), plugged in below tfjs.
 *
 * The wasm backend stays the tensor store: every tensor lives in the wasm heap. The kernels below
 * replace the heavy wasm kernels (Conv2D, FusedConv2D, Conv2DBackpropInput/Filter, the same three for
 * depthwise convolution (DepthwiseConv2dNative, FusedDepthwiseConv2D and its two gradients, as
 * oneDNN grouped convolution), BatchMatMul, _FusedMatMul, MaxPoolGrad, broadcasting
 * Add/Sub/Multiply/RealDiv/Prelu) and, through a replacement of tfjs' Prelu gradient, PReLU's
 * gradient (one pass instead of Greater + Select + Multiply + Sum). Each one allocates its output
 * on the wasm heap (backend.makeOutput) and hands the addon a view of the heap plus byte offsets:
 * oneDNN reads the inputs and writes the output in place, with no copies. (N-API gives a native
 * pointer for typed arrays over a SharedArrayBuffer too, which the threaded wasm build uses.)
 *
 * Each kernel falls back to the kernel it replaced (poi's or the stock wasm one) for cases it does
 * not handle: non-float32 data, NCHW, PReLU activations, negative effective padding, dilated
 * depthwise gradients, unusual batch broadcasting.
 *
 * Loading: the addon is optional. loadNative() returns null (silently) when native/build has no
 * addon (not built: no oneDNN, no compiler, not Linux) or when POI_NATIVE=0; loadError() says why.
 * oneDNN's Debian build runs on OpenMP: its thread count is set to the wasm thread count
 * (POI_THREADS / --threads / all cores), so both paths use the same cores, and its threads sleep
 * between calls (OMP_WAIT_POLICY=PASSIVE unless set) instead of spinning against the wasm pool.
 */
import * as tf from '../tf.js';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { WasmBackendLike } from './kernels/util.js';
import { replacingStock } from './kernels/util.js';
import { maxPoolGradInfo } from './kernels/loops.js';

/** What the addon exports (native/src/addon.cc). */
export interface NativeAddon {
  conv2dForward(heap: Uint8Array, params: Float64Array): void;
  conv2dBackwardData(heap: Uint8Array, params: Float64Array): void;
  conv2dBackwardWeights(heap: Uint8Array, params: Float64Array): void;
  depthwiseForward(heap: Uint8Array, params: Float64Array): void;
  depthwiseBackwardData(heap: Uint8Array, params: Float64Array): void;
  depthwiseBackwardWeights(heap: Uint8Array, params: Float64Array): void;
  matMul(heap: Uint8Array, params: Float64Array): void;
  maxPoolGrad(heap: Uint8Array, params: Float64Array): void;
  binary(heap: Uint8Array, params: Float64Array): void;
  preluGrad(heap: Uint8Array, params: Float64Array): void;
  setThreads(n: number): number;
  info(): { onednn: string; threads: number; lastImpl: string };
  probe(view: Uint8Array): number | null;
}

const require = createRequire(import.meta.url);
let addon: NativeAddon | null | undefined;
let whyNot = '';

/** Where `npm run build:native` puts the addon, from dist/src/backend or src/backend. */
function addonPath(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'native', 'build', 'Release', 'poi_native.node');
    if (existsSync(p)) return p;
    if (existsSync(join(dir, 'package.json'))) break;
    dir = dirname(dir);
  }
  return null;
}

/** The addon, or null when it is not built or disabled (POI_NATIVE=0). Never throws. */
export function loadNative(): NativeAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.POI_NATIVE === '0') {
    whyNot = 'disabled by POI_NATIVE=0';
    return null;
  }
  const p = addonPath();
  if (p == null) {
    whyNot = 'not built (npm run build:native; needs libdnnl-dev and a C++ compiler)';
    return null;
  }
  // OpenMP threads that spin-wait between oneDNN calls steal the cores from the wasm thread pool
  // running the kernels in between (measured: 2-5x slower steps). libgomp reads this when it loads.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    addon = require(p) as NativeAddon;
  } catch (e) {
    whyNot = `${p}: ${(e as Error).message.split('\n')[0]}`;
    addon = null;
  }
  return addon;
}

/** Why loadNative() returned null ('' when it did not). */
export function loadError(): string {
  return whyNot;
}

// ------------------------------------------------------------------------------------- plumbing

let enabled = true;
let active = false;

/** Turns the native kernels off (each falls back to the kernel it replaced) or back on. */
export function setNativeEnabled(on: boolean): void {
  enabled = on;
}

/** True when the native kernels are registered and enabled. */
export function nativeActive(): boolean {
  return active && enabled;
}

let heapView: Uint8Array | null = null;
/** A byte view of the current wasm heap (the buffer is replaced when the heap grows). */
function heap(b: WasmBackendLike): Uint8Array {
  const buf = b.wasm.wasmMemory != null ? b.wasm.wasmMemory.buffer : b.wasm.HEAPU8.buffer;
  if (heapView == null || heapView.buffer !== buf) heapView = new Uint8Array(buf);
  return heapView;
}

function off(b: WasmBackendLike, t: tf.TensorInfo): number {
  const d = b.dataIdMap.get(t.dataId);
  if (d == null) throw new Error('poi native kernel: tensor data is not on the wasm backend');
  return d.memoryOffset;
}

const P = new Float64Array(32);
function params(...xs: number[]): Float64Array {
  for (let i = 0; i < xs.length; i++) P[i] = xs[i];
  return P;
}

const size = (s: number[]) => tf.util.sizeFromShape(s);
const f32 = (...ts: (tf.TensorInfo | null | undefined)[]) => ts.every((t) => t == null || t.dtype === 'float32');

type Args = { inputs: Record<string, tf.TensorInfo | null | undefined>; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };
type Fn = (a: Args, fallback: () => tf.TensorInfo | tf.TensorInfo[]) => tf.TensorInfo | tf.TensorInfo[];

function wrap(stock: tf.KernelConfig, fn: Fn): tf.KernelConfig {
  return replacingStock(stock, (args: Args) => {
    const fallback = () => stock.kernelFunc(args as never) as tf.TensorInfo | tf.TensorInfo[];
    return enabled ? fn(args, fallback) : fallback();
  });
}

const warned = new Set<string>();
/**
 * Runs a native call that fills `out`; if oneDNN refuses the case (no implementation for some
 * geometry), frees `out`, warns once per kernel and returns the fallback's result instead.
 */
function exec(
  b: WasmBackendLike,
  out: tf.TensorInfo,
  call: () => void,
  fallback: () => tf.TensorInfo | tf.TensorInfo[],
): tf.TensorInfo | tf.TensorInfo[] {
  try {
    call();
    return out;
  } catch (e) {
    b.disposeData(out.dataId);
    const msg = (e as Error).message;
    const kernel = msg.split(':')[0];
    if (!warned.has(kernel)) {
      warned.add(kernel);
      process.emitWarning(`${msg}; using the wasm kernel for this case`);
    }
    return fallback();
  }
}

const ACT: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, leakyrelu: 4, sigmoid: 5 };

function nhwc(df: unknown): boolean {
  return df == null || df === 'NHWC' || df === 'channelsLast';
}

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
/** tfjs' conv geometry; `depthwise`: the filter is [kh, kw, C, multiplier] and outChannels = C * multiplier. */
function convInfo(xShape: number[], fShape: number[], a: tf.NamedAttrMap, dilations: unknown, depthwise = false): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    fShape as [number, number, number, number],
    a.strides as number | [number, number],
    (dilations ?? 1) as number | [number, number],
    a.pad as Pad,
    a.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
    'channelsLast',
  );
}

/** The 15 geometry numbers of native/src/conv.cc, or null when oneDNN cannot take them. */
function geometry(c: tf.backend_util.Conv2DInfo): number[] | null {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, outHeight: oh, outWidth: ow } = c;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = c;
  const { top, left } = c.padInfo;
  const pb = (oh - 1) * sh + (kh - 1) * dh + 1 - h - top;
  const pr = (ow - 1) * sw + (kw - 1) * dw + 1 - w - left;
  // pb/pr < 0: trailing rows/columns the window never reaches (oneDNN accepts negative right padding)
  if (top < 0 || left < 0 || pb < -sh * 4 || pr < -sw * 4) return null;
  if (n * h * w * ci * co * oh * ow === 0) return null;
  return [n, h, w, ci, kh, kw, co, sh, sw, dh, dw, top, left, oh, ow];
}

// ------------------------------------------------------------------------------------- kernels

/**
 * Conv2D / FusedConv2D, or (depthwise) DepthwiseConv2dNative / FusedDepthwiseConv2D: the same
 * geometry, with Co = C * multiplier, run as oneDNN grouped convolution (groups = C). Dilations
 * are passed through (oneDNN supports them in the forward pass).
 */
function conv2d(nat: NativeAddon, fused: boolean, depthwise = false): Fn {
  return ({ inputs, backend, attrs }, fallback) => {
    const a = attrs ?? {};
    const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const bias = fused ? inputs.bias : null;
    const activation = fused ? ((a.activation as string | undefined) ?? 'linear') : 'linear';
    if (!f32(x, filter, bias) || !nhwc(a.dataFormat) || !(activation in ACT)) return fallback();
    if (x.shape.length !== 4 || filter.shape.length !== 4) return fallback();
    const info = convInfo(x.shape, filter.shape, a, a.dilations, depthwise);
    const co = info.outChannels;
    if (bias != null && (size(bias.shape) !== co || bias.shape[bias.shape.length - 1] !== co)) return fallback();
    const g = geometry(info);
    if (g == null) return fallback();
    const b = backend as WasmBackendLike;
    const out = b.makeOutput(info.outShape, 'float32');
    const biasOff = bias != null ? off(b, bias) : -1;
    const alpha = (a.leakyreluAlpha as number | undefined) ?? 0.2;
    const run = depthwise ? nat.depthwiseForward : nat.conv2dForward;
    return exec(b, out, () => run(heap(b), params(off(b, x), off(b, filter), biasOff, off(b, out), ...g, ACT[activation], alpha)), fallback);
  };
}

/** Depthwise gradients with dilations: tfjs' own gradient refuses them and its cpu kernels ignore them. */
function dilated(a: tf.NamedAttrMap): boolean {
  const d = a.dilations as number | number[] | undefined;
  return d != null && (Array.isArray(d) ? d.some((v) => v !== 1) : d !== 1);
}

function conv2dBackpropInput(nat: NativeAddon, depthwise = false): Fn {
  return ({ inputs, backend, attrs }, fallback) => {
    const a = attrs ?? {};
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    if (!f32(dy, filter) || !nhwc(a.dataFormat) || (depthwise && dilated(a))) return fallback();
    const inShape = a.inputShape as number[];
    if (inShape.length !== 4 || filter.shape.length !== 4) return fallback();
    const info = convInfo(inShape, filter.shape, a, 1, depthwise);
    const g = geometry(info);
    if (g == null || !tf.util.arraysEqual(dy.shape, info.outShape)) return fallback();
    const b = backend as WasmBackendLike;
    const out = b.makeOutput(inShape, 'float32');
    const run = depthwise ? nat.depthwiseBackwardData : nat.conv2dBackwardData;
    return exec(b, out, () => run(heap(b), params(off(b, dy), off(b, filter), off(b, out), -1, ...g)), fallback);
  };
}

function conv2dBackpropFilter(nat: NativeAddon, depthwise = false): Fn {
  return ({ inputs, backend, attrs }, fallback) => {
    const a = attrs ?? {};
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    if (!f32(x, dy) || !nhwc(a.dataFormat) || (depthwise && dilated(a))) return fallback();
    const fShape = a.filterShape as number[];
    if (x.shape.length !== 4 || fShape.length !== 4) return fallback();
    const info = convInfo(x.shape, fShape, a, 1, depthwise);
    const g = geometry(info);
    if (g == null || !tf.util.arraysEqual(dy.shape, info.outShape)) return fallback();
    const b = backend as WasmBackendLike;
    const out = b.makeOutput(fShape, 'float32');
    const run = depthwise ? nat.depthwiseBackwardWeights : nat.conv2dBackwardWeights;
    return exec(b, out, () => run(heap(b), params(off(b, x), off(b, dy), off(b, out), -1, ...g)), fallback);
  };
}

function matMul(nat: NativeAddon, fused: boolean): Fn {
  return ({ inputs, backend, attrs }, fallback) => {
    const at = attrs ?? {};
    const { a, b: bm } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const bias = fused ? inputs.bias : null;
    const activation = fused ? ((at.activation as string | undefined) ?? 'linear') : 'linear';
    if (!f32(a, bm, bias) || !(activation in ACT) || a.shape.length < 2 || bm.shape.length < 2) return fallback();
    const ta = at.transposeA === true;
    const tb = at.transposeB === true;
    const ra = a.shape.length;
    const rb = bm.shape.length;
    const m = ta ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
    const k2 = tb ? bm.shape[rb - 1] : bm.shape[rb - 2];
    const n = tb ? bm.shape[rb - 2] : bm.shape[rb - 1];
    if (k !== k2 || m * n * k === 0) return fallback();
    const outerA = a.shape.slice(0, -2);
    const outerB = bm.shape.slice(0, -2);
    const batchA = size(outerA);
    const batchB = size(outerB);
    let outer: number[];
    try {
      outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
    } catch {
      return fallback();
    }
    const batch = Math.max(batchA, batchB);
    if (size(outer) !== batch || (batchA !== batchB && batchA !== 1 && batchB !== 1)) return fallback();
    if (bias != null && (size(bias.shape) !== n || bias.shape[bias.shape.length - 1] !== n)) return fallback();
    const back = backend as WasmBackendLike;
    const out = back.makeOutput([...outer, m, n], 'float32');
    const alpha = (at.leakyreluAlpha as number | undefined) ?? 0.2;
    const biasOff = bias != null ? off(back, bias) : -1;
    return exec(back, out, () =>
      nat.matMul(heap(back), params(off(back, a), off(back, bm), biasOff, off(back, out), batchA, batchB, m, k, n, +ta, +tb, ACT[activation], alpha)),
    fallback);
  };
}

function maxPoolGrad(nat: NativeAddon): Fn {
  return ({ inputs, backend, attrs }, fallback) => {
    const a = attrs ?? {};
    const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    if (!f32(dy, input) || input.shape.length !== 4) return fallback();
    const info = maxPoolGradInfo(input, a);
    if (!tf.util.arraysEqual(dy.shape, info.outShape) || size(input.shape) === 0) return fallback();
    const b = backend as WasmBackendLike;
    const out = b.makeOutput(input.shape, 'float32');
    const [n, h, w, c] = input.shape;
    const p = params(off(b, input), off(b, dy), off(b, out), n, h, w, c, info.outHeight, info.outWidth, info.strideHeight,
      info.strideWidth, info.effectiveFilterHeight, info.effectiveFilterWidth, info.padInfo.top, info.padInfo.left);
    return exec(b, out, () => nat.maxPoolGrad(heap(b), p), fallback);
  };
}

/** Below this many output elements an elementwise op stays on the stock wasm kernel (small ones too are
 * faster natively: the stock broadcasting path costs ~1 ms per call even for [64, 8]). */
const BINARY_MIN = 1;

/**
 * Output dims and per-input element strides (0 = broadcast) collapsed to at most 4 dims, or null.
 */
export function collapseBroadcast(aShape: number[], bShape: number[]): { dims: number[]; sa: number[]; sb: number[] } | null {
  let out: number[];
  try {
    out = tf.broadcast_util.assertAndGetBroadcastShape(aShape, bShape);
  } catch {
    return null;
  }
  const r = out.length;
  const strides = (s: number[]): number[] => {
    const st = new Array<number>(r).fill(0);
    let acc = 1;
    for (let i = s.length - 1, j = r - 1; i >= 0; i--, j--) {
      st[j] = s[i] === 1 ? 0 : acc;
      acc *= s[i];
    }
    return st;
  };
  const sa0 = strides(aShape);
  const sb0 = strides(bShape);
  const dims: number[] = [];
  const sa: number[] = [];
  const sb: number[] = [];
  for (let i = 0; i < r; i++) {
    if (out[i] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && sa[last] === sa0[i] * out[i] && sb[last] === sb0[i] * out[i]) {
      // merge into the previous dim (both inputs walk it contiguously, or both broadcast it)
      dims[last] *= out[i];
      sa[last] = sa0[i];
      sb[last] = sb0[i];
    } else {
      dims.push(out[i]);
      sa.push(sa0[i]);
      sb.push(sb0[i]);
    }
  }
  if (dims.length > 4) return null;
  while (dims.length < 4) {
    dims.unshift(1);
    sa.unshift(0);
    sb.unshift(0);
  }
  return { dims, sa, sb };
}

/** Add/Sub/Multiply/RealDiv (inputs a, b), or Prelu (inputs x, alpha; alpha broadcast into x's shape). */
function binary(nat: NativeAddon, op: number, names: [string, string] = ['a', 'b']): Fn {
  return ({ inputs, backend }, fallback) => {
    const a = inputs[names[0]] as tf.TensorInfo;
    const bb = inputs[names[1]] as tf.TensorInfo;
    if (a.dtype !== 'float32' || bb.dtype !== 'float32') return fallback();
    const c = collapseBroadcast(a.shape, bb.shape);
    if (c == null) return fallback();
    const outShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, bb.shape);
    if (size(outShape) < BINARY_MIN) return fallback();
    if (op === OP_PRELU && !tf.util.arraysEqual(outShape, a.shape)) return fallback();
    const back = backend as WasmBackendLike;
    const out = back.makeOutput(outShape, 'float32');
    const p = params(off(back, a), off(back, bb), off(back, out), op, ...c.dims, ...c.sa, ...c.sb);
    return exec(back, out, () => nat.binary(heap(back), p), fallback);
  };
}

const OP_PRELU = 4;

/** The kernel behind the native PReLU gradient: inputs dy, x, alpha; outputs [dx, dalpha]. */
const PRELU_GRAD = 'PoiNativePreluGrad';

/** Can preluGradKernel take these? dy and x of the same shape, float32, alpha broadcast into it. */
function preluGradFits(dy: tf.TensorInfo, x: tf.TensorInfo, alpha: tf.TensorInfo): boolean {
  if (!f32(dy, x, alpha) || !tf.util.arraysEqual(dy.shape, x.shape) || size(x.shape) === 0 || size(alpha.shape) === 0) return false;
  try {
    if (!tf.util.arraysEqual(tf.broadcast_util.assertAndGetBroadcastShape(x.shape, alpha.shape), x.shape)) return false;
  } catch {
    return false;
  }
  return collapseBroadcast(x.shape, alpha.shape) != null;
}

function preluGradKernel(nat: NativeAddon): tf.KernelConfig {
  return {
    kernelName: PRELU_GRAD,
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend }: Args) => {
      const { dy, x, alpha } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo; alpha: tf.TensorInfo };
      const c = collapseBroadcast(x.shape, alpha.shape);
      if (c == null || !preluGradFits(dy, x, alpha)) throw new Error(`${PRELU_GRAD}: unsupported shapes [${x.shape}] [${alpha.shape}]`);
      const b = backend as WasmBackendLike;
      const dx = b.makeOutput(x.shape, 'float32');
      const da = b.makeOutput(alpha.shape, 'float32');
      try {
        nat.preluGrad(heap(b), params(off(b, x), off(b, alpha), off(b, dy), off(b, dx), off(b, da), size(alpha.shape), ...c.dims, ...c.sb));
      } catch (e) {
        b.disposeData(dx.dataId);
        b.disposeData(da.dataId);
        throw e;
      }
      return [dx, da];
    }) as unknown as tf.KernelFunc,
  };
}

/**
 * tfjs' Prelu gradient, replaced by one that runs PRELU_GRAD on wasm+native (one pass computing
 * both dx and dalpha) and tfjs' own gradient otherwise (other backends, native kernels off,
 * shapes it does not take). The gradient registry is global, hence the check on every call.
 */
function preluGradient(stock: tf.GradConfig): tf.GradConfig {
  return {
    kernelName: tf.Prelu,
    inputsToSave: ['x', 'alpha'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x, alpha] = saved;
      const g = dy as tf.Tensor;
      if (!nativeActive() || tf.getBackend() !== 'wasm' || !preluGradFits(g, x, alpha)) return stock.gradFunc(dy, saved, attrs);
      // computed here, not in the thunks: tfjs runs each thunk in its own tidy, which would dispose
      // the other output (this scope is the backward pass's, which frees whatever goes unused)
      const [dx, dalpha] = tf.engine().runKernel(PRELU_GRAD, { dy: g, x, alpha }) as unknown as tf.Tensor[];
      return { x: () => dx, alpha: () => dalpha };
    },
  };
}

// ------------------------------------------------------------------------------------- registration

let registered: string[] | null = null;

/**
 * Loads the addon and registers its kernels for 'wasm' on top of the kernels registered now (which
 * become the fallbacks). Call after registerWasmTrainingKernels(). Returns the kernel names, or null
 * when the addon is unavailable. `threads` sets oneDNN's (OpenMP) thread count.
 */
export function registerNativeKernels(threads: number): string[] | null {
  const nat = loadNative();
  if (nat == null) return null;
  nat.setThreads(threads);
  if (registered != null) {
    active = true;
    return registered;
  }
  const table: Array<[string, Fn]> = [
    [tf.Conv2D, conv2d(nat, false)],
    [tf.FusedConv2D, conv2d(nat, true)],
    [tf.Conv2DBackpropInput, conv2dBackpropInput(nat)],
    [tf.Conv2DBackpropFilter, conv2dBackpropFilter(nat)],
    [tf.DepthwiseConv2dNative, conv2d(nat, false, true)],
    [tf.FusedDepthwiseConv2D, conv2d(nat, true, true)],
    [tf.DepthwiseConv2dNativeBackpropInput, conv2dBackpropInput(nat, true)],
    [tf.DepthwiseConv2dNativeBackpropFilter, conv2dBackpropFilter(nat, true)],
    [tf.BatchMatMul, matMul(nat, false)],
    [tf._FusedMatMul, matMul(nat, true)],
    [tf.MaxPoolGrad, maxPoolGrad(nat)],
    [tf.Add, binary(nat, 0)],
    [tf.Sub, binary(nat, 1)],
    [tf.Multiply, binary(nat, 2)],
    [tf.RealDiv, binary(nat, 3)],
    [tf.Prelu, binary(nat, OP_PRELU, ['x', 'alpha'])],
  ];
  const names: string[] = [];
  for (const [name, fn] of table) {
    const stock = tf.getKernel(name, 'wasm');
    if (stock == null) continue;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(wrap(stock, fn));
    names.push(name);
  }
  const stockPreluGrad = tf.getGradient(tf.Prelu);
  if (stockPreluGrad != null) {
    tf.registerKernel(preluGradKernel(nat));
    tf.registerGradient(preluGradient(stockPreluGrad));
    names.push(PRELU_GRAD);
  }
  registered = names;
  active = true;
  return names;
}

/** Addon facts for logs and the bench: oneDNN version, threads, last primitive implementation. */
export function nativeInfo(): { onednn: string; threads: number; lastImpl: string } | null {
  return loadNative()?.info() ?? null;
}

