/**
 * poi's native (oneDNN) kernels, checked numerically against @tensorflow/tfjs-backend-cpu, and a
 * whole POI training step with and without them. Skipped when the addon is not built.
 *
 * Each case also checks that the native entry point actually ran (the addon's functions are
 * counted), so a silent fallback to the wasm kernel cannot pass for a native result.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../src/tf.js';
import { setupWasm } from '../src/backend/wasm.js';
import { loadError, loadNative, nativeActive, setNativeEnabled, collapseBroadcast, type NativeAddon } from '../src/backend/native.js';
import { presetConfig } from '../src/model/config.js';
import { PoiModel } from '../src/model/poi.js';
import { discardBnUpdates, type Ctx } from '../src/model/params.js';
import { FER_CLASSES } from './helpers.js';

const nat = loadNative();
const skip = nat == null ? `native addon unavailable: ${loadError()}` : false;

// ---------------------------------------------------------------- helpers

let seed = 777;
function rand(): number {
  let t = (seed = (seed + 0x6d2b79f5) >>> 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
type Arr = { shape: number[]; data: Float32Array };
function randn(shape: number[], scale = 1): Arr {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = scale * (rand() + rand() + rand() - 1.5) * 2;
  return { shape, data };
}
const t = (a: Arr) => tf.tensor(a.data, a.shape);

/** Calls of each addon entry point (the addon's methods are wrapped once). */
const calls: Record<string, number> = {};
function countCalls(addon: NativeAddon): void {
  const a = addon as unknown as Record<string, (...xs: unknown[]) => unknown>;
  const entries = ['conv2dForward', 'conv2dBackwardData', 'conv2dBackwardWeights', 'depthwiseForward', 'depthwiseBackwardData',
    'depthwiseBackwardWeights', 'matMul', 'maxPoolGrad', 'binary', 'preluGrad'];
  for (const k of entries) {
    const f = a[k];
    calls[k] = 0;
    a[k] = (...xs: unknown[]) => {
      calls[k]++;
      return f(...xs);
    };
  }
}

async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor | tf.Tensor[]): Promise<Arr[]> {
  await tf.setBackend(backend);
  const n0 = tf.memory().numTensors;
  const outs = tf.tidy(() => {
    const r = fn();
    return Array.isArray(r) ? r : [r];
  });
  const res = outs.map((o) => ({ shape: o.shape.slice(), data: Float32Array.from(o.dataSync() as Float32Array) }));
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, n0, `${backend}: tensors leaked`);
  return res;
}

function assertClose(got: Arr[], want: Arr[], tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: outputs`);
  for (let k = 0; k < want.length; k++) {
    assert.deepEqual(got[k].shape, want[k].shape, `${what}[${k}]: shape`);
    let ref = 0;
    let diff = 0;
    for (let i = 0; i < want[k].data.length; i++) {
      ref = Math.max(ref, Math.abs(want[k].data[i]));
      const d = Math.abs(got[k].data[i] - want[k].data[i]);
      if (!(d <= diff)) diff = d; // NaN propagates into diff
    }
    const rel = diff / Math.max(ref, 1e-3);
    assert.ok(rel <= tol, `${what}[${k}] [${want[k].shape}]: rel err ${rel.toExponential(2)} > ${tol}`);
  }
}

/** fn on cpu vs wasm+native; `entries` must each have been called during the native run. */
async function compare(what: string, entries: string[], fn: () => tf.Tensor | tf.Tensor[], tol = 1e-4): Promise<void> {
  const want = await on('cpu', fn);
  const before = entries.map((e) => calls[e]);
  const got = await on('wasm', fn);
  entries.forEach((e, i) => assert.ok(calls[e] > before[i], `${what}: native ${e} was not used`));
  assertClose(got, want, tol, what);
}

before(async () => {
  if (nat == null) return;
  countCalls(nat);
  await import('@tensorflow/tfjs-backend-cpu');
  await setupWasm({ threads: 2 });
  assert.ok(await tf.setBackend('wasm'));
  await tf.ready();
});

// ---------------------------------------------------------------- conv2d

type PadArg = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

async function convCase(x: number[], f: number[], strides: number | [number, number], pad: PadArg, dil: number | [number, number] = 1): Promise<void> {
  const xa = randn(x);
  const fa = randn(f, 0.5);
  const what = `conv2d x[${x}] f[${f}] s=${strides} pad=${JSON.stringify(pad)} d=${dil}`;
  await compare(what, ['conv2dForward'], () => tf.conv2d(t(xa) as tf.Tensor4D, t(fa) as tf.Tensor4D, strides, pad, 'NHWC', dil));
  if (dil !== 1) return; // tfjs has no conv2d gradient with dilations
  const y = tf.tidy(() => tf.conv2d(t(xa) as tf.Tensor4D, t(fa) as tf.Tensor4D, strides, pad));
  const dy = randn(y.shape);
  y.dispose();
  await compare(`${what} grads`, ['conv2dBackwardData', 'conv2dBackwardWeights'], () =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad))([t(xa), t(fa)], t(dy)),
  );
}

test('native addon registered under the wasm backend', { skip }, () => {
  assert.ok(nativeActive());
  assert.match(nat!.info().onednn, /^\d+\.\d+/);
});

test('conv2d forward and both gradients: odd shapes, strides 1/2, same/valid/explicit', { skip }, async () => {
  for (const s of [1, 2]) {
    for (const pad of ['same', 'valid'] as const) {
      await convCase([2, 7, 9, 3], [3, 3, 3, 5], s, pad);
      await convCase([3, 8, 5, 1], [5, 5, 1, 4], s, pad);
      await convCase([2, 5, 6, 6], [1, 1, 6, 3], s, pad);
    }
    await convCase([2, 9, 7, 3], [2, 3, 3, 4], s, [[0, 0], [1, 2], [0, 1], [0, 0]]);
  }
  await convCase([2, 10, 9, 4], [3, 2, 4, 6], [2, 1], 'same');
  await convCase([2, 12, 12, 16], [3, 3, 16, 32], 1, 'same'); // a blocked-format (16-channel) layer
});

test('conv2d with dilations', { skip }, async () => {
  await convCase([2, 11, 9, 3], [3, 3, 3, 4], 1, 'same', 2);
  await convCase([1, 10, 12, 2], [3, 2, 2, 5], 1, 'valid', [2, 3]);
});

test('fused conv2d: bias and activations', { skip }, async () => {
  const x = randn([2, 7, 8, 3]);
  const f = randn([3, 3, 3, 6], 0.5);
  const b = randn([6]);
  for (const activation of ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid'] as const) {
    for (const s of [1, 2]) {
      await compare(`fused conv2d ${activation} s=${s}`, ['conv2dForward'], () =>
        tf.fused.conv2d({ x: t(x) as tf.Tensor4D, filter: t(f) as tf.Tensor4D, strides: s, pad: 'same', bias: t(b), activation, leakyreluAlpha: 0.3 }),
      );
    }
  }
});

// ---------------------------------------------------------------- depthwise conv2d

async function depthwiseCase(x: number[], f: number[], strides: number | [number, number], pad: PadArg, dil: number | [number, number] = 1): Promise<void> {
  const xa = randn(x);
  const fa = randn(f, 0.5);
  const what = `depthwise x[${x}] f[${f}] s=${strides} pad=${JSON.stringify(pad)} d=${dil}`;
  const dw = (a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad, 'NHWC', dil);
  await compare(what, ['depthwiseForward'], () => dw(t(xa), t(fa)));
  if (dil !== 1) return; // tfjs has no depthwise gradient with dilations
  const y = tf.tidy(() => dw(t(xa), t(fa)));
  const dy = randn(y.shape);
  y.dispose();
  await compare(`${what} grads`, ['depthwiseBackwardData', 'depthwiseBackwardWeights'], () => tf.grads(dw)([t(xa), t(fa)], t(dy)));
}

test('depthwise conv2d forward and both gradients: multipliers 1/2, strides 1/2, same/valid/explicit, odd shapes', { skip }, async () => {
  for (const s of [1, 2]) {
    for (const pad of ['same', 'valid'] as const) {
      await depthwiseCase([2, 7, 9, 3], [3, 3, 3, 1], s, pad);
      await depthwiseCase([3, 8, 5, 5], [3, 3, 5, 2], s, pad);
      await depthwiseCase([2, 6, 11, 4], [5, 5, 4, 1], s, pad);
      await depthwiseCase([2, 5, 6, 6], [1, 1, 6, 2], s, pad);
    }
    await depthwiseCase([2, 9, 7, 3], [2, 3, 3, 2], s, [[0, 0], [1, 2], [0, 1], [0, 0]]);
  }
  await depthwiseCase([2, 10, 9, 4], [3, 3, 4, 1], [2, 1], 'same');
  await depthwiseCase([1, 13, 14, 3], [3, 3, 3, 3], 2, 'same'); // multiplier 3
  await depthwiseCase([2, 12, 12, 32], [3, 3, 32, 1], 1, 'same'); // a blocked-format (16-channel) layer
  await depthwiseCase([2, 15, 15, 24], [3, 3, 24, 1], 2, 'same');
});

test('depthwise conv2d forward with dilations; dilated gradients stay on the wasm kernel', { skip }, async () => {
  await depthwiseCase([2, 11, 9, 3], [3, 3, 3, 2], 1, 'same', 2);
  await depthwiseCase([1, 10, 12, 4], [3, 2, 4, 1], 1, 'valid', [2, 3]);
  // dilated gradients are not native (tfjs' gradient refuses them; poi's wasm kernel asserts too)
  await tf.setBackend('wasm');
  const before = calls.depthwiseBackwardWeights;
  const attrs = { strides: 1, pad: 'same', dilations: [2, 2], filterShape: [3, 3, 2, 1] };
  assert.throws(() => tf.tidy(() => tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropFilter, { x: t(randn([1, 7, 7, 2])), dy: t(randn([1, 7, 7, 2])) }, attrs)), /dilation/i);
  assert.equal(calls.depthwiseBackwardWeights, before);
});

test('fused depthwise conv2d: bias and activations', { skip }, async () => {
  const x = randn([2, 7, 8, 4]);
  const f = randn([3, 3, 4, 2], 0.5);
  const b = randn([8]);
  for (const activation of ['linear', 'relu', 'relu6', 'leakyrelu'] as const) {
    for (const s of [1, 2]) {
      await compare(`fused depthwise ${activation} s=${s}`, ['depthwiseForward'], () =>
        tf.fused.depthwiseConv2d({ x: t(x) as tf.Tensor4D, filter: t(f) as tf.Tensor4D, strides: s, pad: 'same', bias: t(b), activation, leakyreluAlpha: 0.3 }),
      );
    }
  }
  // tfjs' fused gradient (linear/relu) goes through the two depthwise gradient kernels
  const y = tf.tidy(() => tf.depthwiseConv2d(t(x) as tf.Tensor4D, t(f) as tf.Tensor4D, 2, 'same'));
  const dy = randn(y.shape);
  y.dispose();
  await compare('fused depthwise relu grads', ['depthwiseForward', 'depthwiseBackwardData', 'depthwiseBackwardWeights'], () =>
    tf.grads((xx: tf.Tensor, ff: tf.Tensor, bb: tf.Tensor) =>
      tf.fused.depthwiseConv2d({ x: xx as tf.Tensor4D, filter: ff as tf.Tensor4D, strides: 2, pad: 'same', bias: bb, activation: 'relu' }),
    )([t(x), t(f), t(b)], t(dy)),
  );
});

test('a depthwise-separable block (depthwise 3x3, prelu, pointwise 1x1, relu): gradients with and without native kernels', { skip }, async () => {
  await tf.setBackend('wasm');
  const x = t(randn([4, 14, 13, 16]));
  const dwF = tf.variable(t(randn([3, 3, 16, 1], 0.3)));
  const alpha = tf.variable(t(randn([16], 0.3)));
  const pwF = tf.variable(t(randn([1, 1, 16, 24], 0.3)));
  const loss = () => tf.tidy(() => {
    const h = tf.prelu(tf.depthwiseConv2d(x as tf.Tensor4D, dwF as tf.Tensor4D, 2, 'same'), alpha as unknown as tf.Tensor4D);
    return tf.mean(tf.square(tf.relu(tf.conv2d(h, pwF as tf.Tensor4D, 1, 'same')))) as tf.Scalar;
  });
  const step = (native: boolean) => {
    setNativeEnabled(native);
    try {
      const n0 = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(loss);
      assert.equal(tf.memory().numTensors, n0 + 4, 'loss and 3 gradients, nothing else kept');
      const out = [value, grads[dwF.name], grads[alpha.name], grads[pwF.name]].map((g) => ({ shape: g.shape.slice(), data: g.dataSync().slice() as Float32Array }));
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    } finally {
      setNativeEnabled(true);
    }
  };
  const n0 = calls.depthwiseBackwardWeights;
  const n1 = calls.depthwiseBackwardData;
  const n3 = calls.preluGrad;
  const withNative = step(true);
  assert.ok(calls.depthwiseBackwardWeights > n0 && calls.depthwiseBackwardData === n1, 'native depthwise filter gradient ran (x is no variable: no input gradient)');
  assert.ok(calls.preluGrad > n3, 'native prelu gradient ran');
  const n2 = calls.depthwiseBackwardWeights;
  const without = step(false);
  assert.equal(calls.depthwiseBackwardWeights, n2, 'setNativeEnabled(false) falls back');
  assertClose(withNative, without, 1e-4, 'separable block');
  tf.dispose([x, dwF, alpha, pwF]);
});

// ---------------------------------------------------------------- matmul

test('batched matmul: transposes, batch broadcasting, ranks 2-4', { skip }, async () => {
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[5, 7], [7, 3], false, false],
    [[7, 5], [7, 3], true, false],
    [[5, 7], [3, 7], false, true],
    [[7, 5], [3, 7], true, true],
    [[4, 5, 7], [4, 7, 3], false, false],
    [[4, 7, 5], [4, 3, 7], true, true],
    [[1, 5, 7], [4, 7, 3], false, false],
    [[4, 5, 7], [7, 3], false, false],
    [[2, 3, 5, 7], [2, 3, 6, 7], false, true],
    [[33, 65], [65, 17], false, false],
  ];
  for (const [as, bs, ta, tb] of cases) {
    const a = randn(as); // shapes as stored (before the transpose flags apply)
    const b = randn(bs);
    await compare(`matMul [${as}]${ta ? 'T' : ''} x [${b.shape}]${tb ? 'T' : ''}`, ['matMul'], () => tf.matMul(t(a), t(b), ta, tb));
  }
});

test('fused matmul (bias, relu) and dense-layer gradients', { skip }, async () => {
  const a = randn([6, 9]);
  const w = randn([9, 5]);
  const b = randn([5]);
  for (const activation of ['linear', 'relu', 'sigmoid'] as const) {
    await compare(`fused matMul ${activation}`, ['matMul'], () =>
      tf.fused.matMul({ a: t(a) as tf.Tensor2D, b: t(w) as tf.Tensor2D, bias: t(b), activation }),
    );
  }
  const dy = randn([6, 5]);
  await compare('dense gradients', ['matMul'], () =>
    tf.grads((x: tf.Tensor, k: tf.Tensor) => tf.matMul(x as tf.Tensor2D, k as tf.Tensor2D))([t(a), t(w)], t(dy)),
  );
});

// ---------------------------------------------------------------- max-pool gradient, elementwise

test('max-pool gradient: windows 2/3, strides 1/2, same/valid, all-negative windows', { skip }, async () => {
  for (const [k, s, pad] of [[2, 2, 'same'], [3, 2, 'same'], [3, 1, 'valid'], [2, 2, 'valid']] as const) {
    const x = randn([2, 7, 9, 3]);
    for (let i = 0; i < 40; i++) x.data[i] = -1 - i * 1e-3; // a corner of negatives only
    const y = tf.tidy(() => tf.maxPool(t(x) as tf.Tensor4D, k, s, pad));
    const dy = randn(y.shape);
    y.dispose();
    await compare(`maxPool grad k=${k} s=${s} ${pad}`, ['maxPoolGrad'], () =>
      tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, k, s, pad))(t(x), t(dy)),
    1e-6);
  }
});

test('broadcast collapsing', () => {
  assert.deepEqual(collapseBroadcast([2, 3, 4, 5], [5]), { dims: [1, 1, 24, 5], sa: [0, 0, 5, 1], sb: [0, 0, 0, 1] });
  assert.deepEqual(collapseBroadcast([2, 3], [2, 3]), { dims: [1, 1, 1, 6], sa: [0, 0, 0, 1], sb: [0, 0, 0, 1] });
  assert.deepEqual(collapseBroadcast([4, 1], [1, 6]), { dims: [1, 1, 4, 6], sa: [0, 0, 1, 0], sb: [0, 0, 0, 1] });
  assert.equal(collapseBroadcast([2, 1, 2, 1, 2], [1, 2, 1, 2, 1]), null); // 5 dims after collapsing
  assert.equal(collapseBroadcast([2, 3], [4]), null);
});

test('elementwise add/sub/mul/div with broadcasting', { skip }, async () => {
  const shapes: Array<[number[], number[]]> = [
    [[2, 3, 4, 5], [2, 3, 4, 5]],
    [[2, 3, 4, 5], [5]],
    [[5], [2, 3, 4, 5]],
    [[2, 3, 4, 5], [3, 1, 5]],
    [[4, 1], [1, 6]],
    [[6, 8], [6, 1]],
    [[2, 3, 4, 5], []],
    [[64, 24, 24, 8], [1, 1, 1, 8]],
  ];
  for (const [as, bs] of shapes) {
    const a = randn(as);
    const b = randn(bs);
    for (let i = 0; i < b.data.length; i++) if (Math.abs(b.data[i]) < 0.1) b.data[i] = 0.5; // for div
    for (const [name, f] of [['add', tf.add], ['sub', tf.sub], ['mul', tf.mul], ['div', tf.div]] as const) {
      await compare(`${name} [${as}] [${bs}]`, ['binary'], () => f(t(a), t(b)), 1e-6);
    }
  }
  // int32 stays on the wasm kernel and is still right
  await tf.setBackend('wasm');
  assert.deepEqual(tf.add(tf.tensor1d([1, 2], 'int32'), tf.scalar(3, 'int32')).arraySync(), [4, 5]);
});

// ---------------------------------------------------------------- PReLU

test('prelu forward and gradients (x and alpha): per-channel, per-position, scalar alpha; zeros in x', { skip }, async () => {
  const cases: Array<[number[], number[]]> = [
    [[2, 7, 9, 5], [5]],
    [[2, 7, 9, 5], [1, 1, 5]],
    [[3, 6, 5, 4], [6, 5, 4]],
    [[2, 5, 3, 3], [5, 1, 1]],
    [[4, 9], [9]],
    [[2, 3, 4, 6], []],
    [[16, 24, 24, 32], [32]], // above the size where the loops go parallel
  ];
  for (const [xs, as] of cases) {
    const x = randn(xs);
    for (let i = 0; i < x.data.length; i += 7) x.data[i] = 0; // x = 0 takes the alpha branch, as in tfjs
    const alpha = randn(as, 0.5);
    const dy = randn(xs);
    await compare(`prelu [${xs}] alpha [${as}]`, ['binary'], () => tf.prelu(t(x), t(alpha)), 1e-6);
    await compare(`prelu grads [${xs}] alpha [${as}]`, ['preluGrad'], () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.prelu(a, b))([t(x), t(alpha)], t(dy)));
  }
  // with the native kernels off, tfjs' own gradient runs (and agrees)
  await tf.setBackend('wasm');
  const x = randn([2, 5, 5, 3]);
  const alpha = randn([3], 0.5);
  const grads = () => tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.prelu(a, b))([t(x), t(alpha)]).map((g) => ({ shape: g.shape, data: g.dataSync() as Float32Array })));
  const n0 = calls.preluGrad;
  const native = grads();
  assert.equal(calls.preluGrad, n0 + 1);
  setNativeEnabled(false);
  try {
    assertClose(native, grads(), 1e-5, 'prelu grads native vs stock');
  } finally {
    setNativeEnabled(true);
  }
  assert.equal(calls.preluGrad, n0 + 1);
});

// ---------------------------------------------------------------- training step

test('a POI training step (tiny preset): loss and gradients agree with and without native kernels', { skip }, async () => {
  await tf.setBackend('wasm');
  const cfg = presetConfig('tiny');
  const m = new PoiModel(cfg.model, FER_CLASSES, 3);
  const { height: h, width: w } = cfg.model.input;
  const x = tf.tensor(randn([8, h, w, 1]).data, [8, h, w, 1]) as tf.Tensor4D;
  const labels = tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32');
  const step = (native: boolean) => {
    setNativeEnabled(native);
    try {
      const ctx: Ctx = { training: true, bnUpdates: [], seed: 5 };
      const { value, grads } = tf.variableGrads(() => m.loss({ x, labels }, 2, ctx).total);
      const out = { loss: value.dataSync()[0], grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync().slice() as Float32Array])) };
      tf.dispose([value, ...Object.values(grads)]);
      discardBnUpdates(ctx.bnUpdates); // both steps see the same weights and statistics
      return out;
    } finally {
      setNativeEnabled(true);
    }
  };
  const n0 = calls.conv2dBackwardWeights;
  const withNative = step(true);
  assert.ok(calls.conv2dBackwardWeights > n0, 'native kernels ran');
  const without = step(false);
  assert.ok(Number.isFinite(withNative.loss));
  assert.ok(Math.abs(withNative.loss - without.loss) <= 1e-4 * Math.max(1, Math.abs(without.loss)), `loss ${withNative.loss} vs ${without.loss}`);
  const names = Object.keys(without.grads);
  assert.ok(names.length > 10);
  assert.deepEqual(Object.keys(withNative.grads).sort(), names.slice().sort());
  for (const k of names) {
    assertClose([{ shape: [without.grads[k].length], data: withNative.grads[k] }], [{ shape: [without.grads[k].length], data: without.grads[k] }], 2e-3, `grad ${k}`);
  }
  m.dispose();
  tf.dispose([x, labels]);
});
