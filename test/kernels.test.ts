/**
 * poi's wasm training kernels, checked numerically against @tensorflow/tfjs-backend-cpu.
 *
 * Every case builds the same inputs (seeded) on both backends, computes the same gradient (through
 * tf.grads, i.e. the registered kernels) or calls the kernel directly, and compares.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../src/tf.js';
import { setupWasm } from '../src/backend/wasm.js';
import { fusedBatchNormGradConfig } from '../src/backend/kernels/batchnorm-grad.js';

// ---------------------------------------------------------------- helpers

let seed = 12345;
function rand(): number {
  // mulberry32
  let t = (seed = (seed + 0x6d2b79f5) >>> 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function randn(shape: number[], scale = 1, shift = 0): { shape: number[]; data: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - rand();
    const v = rand();
    data[i] = shift + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return { shape, data };
}
type Arr = { shape: number[]; data: Float32Array };
type Result = { shape: number[]; data: Float32Array }[];

const t = (a: Arr) => tf.tensor(a.data, a.shape);

/** Runs fn on a backend inside a tidy and brings the results back as arrays. */
async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor | tf.Tensor[]): Promise<Result> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const outs = tf.tidy(() => {
    const r = fn();
    return Array.isArray(r) ? r : [r];
  });
  const res = outs.map((o) => ({ shape: o.shape.slice(), data: Float32Array.from(o.dataSync() as Float32Array) }));
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  return res;
}

/** max |a - b| / max(max |b|, 1e-3) over each output must be <= tol. */
function assertClose(got: Result, want: Result, tol = 1e-4, what = ''): void {
  assert.equal(got.length, want.length, `${what}: number of outputs`);
  for (let k = 0; k < want.length; k++) {
    assert.deepEqual(got[k].shape, want[k].shape, `${what}[${k}]: shape`);
    let maxRef = 0;
    let maxDiff = 0;
    let at = -1;
    for (let i = 0; i < want[k].data.length; i++) {
      const r = want[k].data[i];
      const g = got[k].data[i];
      maxRef = Math.max(maxRef, Math.abs(r));
      const d = Math.abs(g - r);
      if (!(d <= maxDiff)) {
        maxDiff = d;
        at = i;
      }
    }
    const rel = maxDiff / Math.max(maxRef, 1e-3);
    assert.ok(rel <= tol, `${what}[${k}] shape [${want[k].shape}]: rel err ${rel.toExponential(2)} (|diff| ${maxDiff} at ${at}, max |ref| ${maxRef})`);
  }
}

async function compare(what: string, fn: () => tf.Tensor | tf.Tensor[], tol = 1e-4): Promise<void> {
  const want = await on('cpu', fn);
  const got = await on('wasm', fn);
  assertClose(got, want, tol, what);
}

before(async () => {
  await import('@tensorflow/tfjs-backend-cpu');
  await setupWasm({ threads: 2, native: false }); // poi's wasm kernels themselves (test/native.test.ts covers the native ones)
  assert.ok(await tf.setBackend('wasm'));
  await tf.ready();
});

// ---------------------------------------------------------------- registration

test('poi kernels are registered for wasm and gradients exist', () => {
  for (const k of [
    'Conv2DBackpropFilter',
    'Conv2DBackpropInput',
    'DepthwiseConv2dNativeBackpropInput',
    'DepthwiseConv2dNativeBackpropFilter',
    'MaxPoolGrad',
    'UnsortedSegmentSum',
    'BatchMatMul',
    '_FusedMatMul',
    'Sum',
    'Mean',
    'Identity',
    'Cast',
  ]) {
    assert.ok(tf.getKernel(k, 'wasm') != null, `${k} registered`);
  }
  for (const k of ['Conv2D', 'MaxPool', 'AvgPool', 'Relu', 'BatchMatMul', 'FusedBatchNorm', 'Sum', 'Mean', 'GatherV2']) {
    assert.ok(tf.getGradient(k) != null, `gradient of ${k}`);
  }
  assert.equal(tf.getGradient('FusedBatchNorm'), fusedBatchNormGradConfig, 'tile-free FusedBatchNorm gradient installed');
});

// ---------------------------------------------------------------- conv2d

type PadArg = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

async function convCase(n: number, h: number, w: number, ci: number, kh: number, kw: number, co: number, strides: number | [number, number], pad: PadArg): Promise<void> {
  const x = randn([n, h, w, ci]);
  const f = randn([kh, kw, ci, co], 0.5);
  const probe = tf.tidy(() => tf.conv2d(t(x) as tf.Tensor4D, t(f) as tf.Tensor4D, strides, pad));
  const dy = randn(probe.shape);
  probe.dispose();
  await compare(`conv2d x[${x.shape}] f[${f.shape}] s=${strides} pad=${JSON.stringify(pad)}`, () =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad))([t(x), t(f)], t(dy)),
  );
}

test('conv2d filter and input gradients, odd shapes, strides 1/2, same/valid', async () => {
  for (const k of [1, 3, 5]) {
    for (const ci of [3, 5]) {
      for (const s of [1, 2]) {
        for (const pad of ['same', 'valid'] as const) {
          await convCase(ci === 3 ? 2 : 3, 7, 9, ci, k, k, 4, s, pad);
        }
      }
    }
  }
});

test('conv2d gradients: non-square filter/stride, explicit padding, 1 channel, larger layer', async () => {
  await convCase(2, 7, 9, 3, 3, 2, 5, [1, 2], 'same');
  await convCase(2, 8, 6, 3, 2, 3, 4, [2, 1], 'valid');
  await convCase(2, 7, 9, 3, 3, 3, 4, 1, [[0, 0], [2, 1], [0, 2], [0, 0]]);
  await convCase(2, 7, 9, 3, 3, 3, 4, 2, [[0, 0], [1, 0], [2, 1], [0, 0]]);
  await convCase(2, 7, 9, 3, 3, 3, 4, 2, 1);
  await convCase(1, 8, 10, 3, 3, 3, 4, 2, 'valid'); // last row/column unused by the forward pass
  await convCase(1, 8, 10, 2, 4, 4, 3, 2, 'same'); // even kernel: asymmetric SAME padding
  await convCase(3, 12, 12, 1, 3, 3, 8, 1, 'same');
  await convCase(2, 24, 24, 16, 3, 3, 32, 1, 'same');
});

test('conv2dTranspose (Conv2DBackpropInput called as an op)', async () => {
  const x = randn([2, 4, 5, 6]);
  const f = randn([3, 3, 3, 6]);
  await compare('conv2dTranspose same s2', () => tf.conv2dTranspose(t(x) as tf.Tensor4D, t(f) as tf.Tensor4D, [2, 8, 10, 3], 2, 'same'));
  await compare('conv2dTranspose valid s1', () => tf.conv2dTranspose(t(x) as tf.Tensor4D, t(f) as tf.Tensor4D, [2, 6, 7, 3], 1, 'valid'));
});

// ---------------------------------------------------------------- depthwise

test('depthwise conv filter and input gradients (multiplier 1 and 2)', async () => {
  for (const m of [1, 2]) {
    for (const s of [1, 2]) {
      for (const pad of ['same', 'valid'] as const) {
        for (const k of [3, 2]) {
          const x = randn([2, 7, 9, 3]);
          const f = randn([k, k, 3, m]);
          const probe = tf.tidy(() => tf.depthwiseConv2d(t(x) as tf.Tensor4D, t(f) as tf.Tensor4D, s, pad));
          const dy = randn(probe.shape);
          probe.dispose();
          await compare(`depthwise k=${k} m=${m} s=${s} ${pad}`, () =>
            tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad))([t(x), t(f)], t(dy)),
          );
        }
      }
    }
  }
});

test('depthwise backprop kernels reject dilation != 1 with a clear error', async () => {
  await tf.setBackend('wasm');
  const x = tf.ones([1, 5, 5, 2]);
  const dy = tf.ones([1, 5, 5, 2]);
  assert.throws(
    () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides: 1, dilations: 2, pad: 'same', filterShape: [3, 3, 2, 1] }),
    /dilations other than 1/,
  );
  tf.dispose([x, dy]);
});

// ---------------------------------------------------------------- pooling

test('maxPool gradient: mixed, all-negative and tied (post-ReLU) inputs', async () => {
  const cases: [number, number, 'same' | 'valid'][] = [
    [2, 2, 'valid'],
    [2, 2, 'same'],
    [3, 2, 'same'],
    [3, 1, 'valid'],
    [3, 2, 'valid'],
  ];
  const inputs: [string, Arr][] = [
    ['mixed', randn([2, 7, 9, 3])],
    ['all-negative', (() => { const a = randn([2, 7, 9, 3]); a.data.forEach((v, i) => (a.data[i] = -Math.abs(v) - 0.01)); return a; })()],
    ['relu ties', (() => { const a = randn([2, 7, 9, 3]); a.data.forEach((v, i) => (a.data[i] = Math.max(0, v))); return a; })()],
  ];
  for (const [name, x] of inputs) {
    for (const [fs, s, pad] of cases) {
      const probe = tf.tidy(() => tf.maxPool(t(x) as tf.Tensor4D, fs, s, pad));
      const dy = randn(probe.shape);
      probe.dispose();
      await compare(`maxPool ${name} f=${fs} s=${s} ${pad}`, () => tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, fs, s, pad))(t(x), t(dy)), 1e-6);
    }
  }
});

test('maxPool gradient on an all-negative window goes to the window maximum', async () => {
  // One 2x2 window [-3, -1, -2, -4]: the gradient belongs to -1 (index 1).
  const [g] = await on('wasm', () => tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'))(tf.tensor4d([-3, -1, -2, -4], [1, 2, 2, 1]), tf.tensor4d([5], [1, 1, 1, 1])));
  assert.deepEqual(Array.from(g.data), [0, 5, 0, 0]);
});

test('avgPool and mean gradients', async () => {
  const x = randn([2, 7, 9, 3]);
  for (const [fs, s, pad] of [[2, 2, 'valid'], [3, 2, 'same'], [3, 1, 'same']] as [number, number, 'same' | 'valid'][]) {
    const probe = tf.tidy(() => tf.avgPool(t(x) as tf.Tensor4D, fs, s, pad));
    const dy = randn(probe.shape);
    probe.dispose();
    await compare(`avgPool f=${fs} s=${s} ${pad}`, () => tf.grad((a: tf.Tensor) => tf.avgPool(a as tf.Tensor4D, fs, s, pad))(t(x), t(dy)));
  }
  const dy = randn([2, 3]);
  await compare('mean over H,W', () => tf.grad((a: tf.Tensor) => tf.mean(a, [1, 2]))(t(x), t(dy)));
});

// ---------------------------------------------------------------- segment sum / gather

test('unsortedSegmentSum (float32 and int32, ids out of range dropped) and gather gradient', async () => {
  const x = randn([7, 4, 3]);
  const ids = [0, 2, 2, 4, -1, 0, 5];
  await compare('unsortedSegmentSum f32', () => tf.unsortedSegmentSum(t(x), tf.tensor1d(ids, 'int32'), 5));
  const xi = Int32Array.from({ length: 12 }, (_, i) => (i * 7) % 11 - 5);
  await compare('unsortedSegmentSum i32', () => tf.cast(tf.unsortedSegmentSum(tf.tensor2d(xi, [6, 2], 'int32'), tf.tensor1d([1, 1, 0, 3, 2, 1], 'int32'), 4), 'float32'));
  const table = randn([6, 5]);
  const dy = randn([8, 5]);
  const idx = [0, 3, 3, 5, 1, 0, 0, 2];
  await compare('gather gradient', () => tf.grad((a: tf.Tensor) => tf.gather(a, tf.tensor1d(idx, 'int32')))(t(table), t(dy)));
});

// ---------------------------------------------------------------- reductions

test('sum/mean: leading axes (avg-pool path), keepDims, other axes and int32 (stock path), gradients', async () => {
  const x = randn([4, 5, 6, 7], 1, 0.5);
  for (const axis of [[0], [0, 1], [0, 1, 2], [1, 0], [1, 2], [3], [0, 2], -1]) {
    for (const keepDims of [false, true]) {
      await compare(`sum/mean axis=${JSON.stringify(axis)} keepDims=${keepDims}`, () => [tf.sum(t(x), axis, keepDims), tf.mean(t(x), axis, keepDims)]);
    }
  }
  await compare('sum all', () => [tf.sum(t(x)), tf.mean(t(x))]);
  await compare('sum int32 leading', () => tf.cast(tf.sum(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), 0), 'float32'));
  const big = randn([64, 12, 12, 16]);
  await compare('moments of a batch of activations', () => { const m = tf.moments(t(big), [0, 1, 2]); return [m.mean, m.variance]; });
  const dy = randn([7]);
  await compare('sum/mean gradients', () => tf.grads((a: tf.Tensor) => tf.add(tf.sum(a, [0, 1, 2]), tf.mean(a, [0, 1, 2])))([t(x)], t(dy)));
});

test('identity/cast share data (no copy) and stay correct; cast to bool is x != 0; memory is released', async () => {
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  const x = tf.tensor2d([1.5, -2.25, 3, 4], [2, 2]);
  const c = tf.clone(x);
  const f = tf.cast(x, 'float32');
  const i = tf.cast(x, 'int32');
  const bf = tf.tensor1d([0, 2, -1, 0.5, NaN]);
  const bint = tf.tensor1d([0, 3, -7], 'int32');
  const b = tf.cast(bf, 'bool');
  const bi = tf.cast(bint, 'bool');
  x.dispose();
  assert.deepEqual(Array.from(c.dataSync()), [1.5, -2.25, 3, 4]);
  assert.deepEqual(Array.from(f.dataSync()), [1.5, -2.25, 3, 4]);
  assert.deepEqual(Array.from(i.dataSync()), [1, -2, 3, 4]);
  assert.deepEqual(Array.from(b.dataSync()), [0, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(bi.dataSync()), [0, 1, 1]);
  const numIds = tf.backend().numDataIds();
  c.dispose();
  assert.equal(tf.backend().numDataIds(), numIds, 'shared data stays while a tensor uses it');
  f.dispose();
  assert.equal(tf.backend().numDataIds(), numIds - 1, 'freed with its last tensor');
  tf.dispose([i, b, bi, bf, bint]);
  assert.equal(tf.memory().numTensors, before);
});

// ---------------------------------------------------------------- matmul

test('matMul with transposeA/transposeB: forward and gradients (2D and batched)', async () => {
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const a = randn(ta ? [7, 5] : [5, 7]);
      const b = randn(tb ? [3, 7] : [7, 3]);
      const dy = randn([5, 3]);
      await compare(`matMul ta=${ta} tb=${tb}`, () => {
        const y = tf.matMul(t(a), t(b), ta, tb);
        const g = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.matMul(p, q, ta, tb))([t(a), t(b)], t(dy));
        return [y, ...g];
      });
      const a3 = randn(ta ? [2, 7, 5] : [2, 5, 7]);
      const b3 = randn(tb ? [2, 3, 7] : [2, 7, 3]);
      const dy3 = randn([2, 5, 3]);
      await compare(`batched matMul ta=${ta} tb=${tb}`, () =>
        tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.matMul(p, q, ta, tb))([t(a3), t(b3)], t(dy3)),
      );
      await compare(`fused matMul+bias+relu ta=${ta} tb=${tb}`, () => {
        const bias = tf.tensor1d([0.1, -0.2, 0.3]);
        return tf.grads((p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) =>
          tf.fused.matMul({ a: p as tf.Tensor2D, b: q as tf.Tensor2D, transposeA: ta, transposeB: tb, bias: r, activation: 'relu' }),
        )([t(a), t(b), bias], t(dy));
      });
    }
  }
});

// ---------------------------------------------------------------- batch norm

test('tf.batchNorm gradients (tile-free FusedBatchNorm gradient) against arithmetic batch norm', async () => {
  const x = randn([3, 5, 4, 6]);
  const mean = randn([6], 0.3);
  const variance = { shape: [6], data: Float32Array.from({ length: 6 }, (_, i) => 0.5 + 0.3 * i) };
  const offset = randn([6]);
  const scale = randn([6], 0.5, 1);
  const dy = randn(x.shape);
  const eps = 1e-3;
  const args = () => [t(x), t(mean), t(variance), t(offset), t(scale)];
  const fused = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.batchNorm(a as tf.Tensor4D, m as tf.Tensor1D, v as tf.Tensor1D, o as tf.Tensor1D, s as tf.Tensor1D, eps);
  const arith = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => tf.add(tf.mul(tf.mul(tf.sub(a, m), tf.rsqrt(tf.add(v, eps))), s), o);
  const want = await on('cpu', () => tf.grads(arith)(args(), t(dy)));
  const got = await on('wasm', () => tf.grads(fused)(args(), t(dy)));
  assertClose(got, want, 1e-4, 'batchNorm grads');
  // and with mean/variance computed from x (the training form), rank-4 input
  const gotM = await on('wasm', () => tf.grads((a: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => {
    const { mean: m, variance: v } = tf.moments(a, [0, 1, 2]);
    return fused(a, m, v, o, s);
  })([t(x), t(offset), t(scale)], t(dy)));
  const wantM = await on('cpu', () => tf.grads((a: tf.Tensor, o: tf.Tensor, s: tf.Tensor) => {
    const { mean: m, variance: v } = tf.moments(a, [0, 1, 2]);
    return arith(a, m, v, o, s);
  })([t(x), t(offset), t(scale)], t(dy)));
  assertClose(gotM, wantM, 1e-3, 'batchNorm(moments) grads');
});

// ---------------------------------------------------------------- a small CNN training step

test('small CNN training step: every parameter gradient matches cpu; an Adam step runs on wasm', async () => {
  const xs = randn([4, 16, 16, 1]);
  const labels = Array.from({ length: 4 }, (_, i) => i % 3);
  const shapes: Record<string, number[]> = {
    w1: [3, 3, 1, 8], g1: [8], b1: [8],
    w2: [3, 3, 8, 16], g2: [16], b2: [16],
    w3: [3, 3, 16, 16],
    wd: [16, 3], bd: [3],
  };
  const init: Record<string, Arr> = {};
  for (const [k, s] of Object.entries(shapes)) init[k] = k.startsWith('g') ? { shape: s, data: new Float32Array(s[0]).fill(1) } : randn(s, k.startsWith('b') ? 0.1 : 0.3);
  const names = Object.keys(shapes);
  const bn = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
  };
  const loss = (p: Record<string, tf.Tensor>) => {
    let h: tf.Tensor = t(xs);
    h = tf.relu(bn(tf.conv2d(h as tf.Tensor4D, p.w1 as tf.Tensor4D, 1, 'same'), p.g1, p.b1));
    h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'same');
    h = tf.relu(bn(tf.conv2d(h as tf.Tensor4D, p.w2 as tf.Tensor4D, 1, 'same'), p.g2, p.b2));
    h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
    h = tf.relu(tf.conv2d(h as tf.Tensor4D, p.w3 as tf.Tensor4D, 2, 'same'));
    h = tf.avgPool(h as tf.Tensor4D, 2, 2, 'valid');
    h = tf.mean(h, [1, 2]);
    const logits = tf.add(tf.matMul(h, p.wd), p.bd);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), 3), logits);
  };
  const grads = () => {
    const ps = names.map((k) => t(init[k]));
    const g = tf.grads((...a: tf.Tensor[]) => loss(Object.fromEntries(names.map((k, i) => [k, a[i]]))))(ps);
    return [loss(Object.fromEntries(names.map((k, i) => [k, ps[i]]))), ...g];
  };
  await compare('CNN loss and gradients', grads, 1e-3);

  await tf.setBackend('wasm');
  const vars = Object.fromEntries(names.map((k) => [k, tf.variable(t(init[k]))]));
  const opt = tf.train.adam(1e-2);
  const first = tf.tidy(() => loss(vars).dataSync()[0]);
  for (let i = 0; i < 5; i++) opt.minimize(() => loss(vars) as tf.Scalar);
  const last = tf.tidy(() => loss(vars).dataSync()[0]);
  assert.ok(Number.isFinite(last) && last < first, `loss went ${first} -> ${last}`);
  opt.dispose();
  tf.dispose(Object.values(vars));
});
