/** The model folder's weight storage: float32, float16 and uint8 round trips, and the compact rewrite. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { findUnsound, MAX_ABS_WEIGHT, packTensors, unpackTensors, type TensorMap } from '../src/model/format.js';
import { readCheckpoint, writeCheckpoint } from '../src/model/io.js';
import { tempDir } from './helpers.js';
import { Rng } from '../src/util/rng.js';

function tensors(): TensorMap {
  const rng = new Rng(4);
  const big = Float32Array.from({ length: 3000 }, () => rng.normal() * 0.05);
  big[0] = 0;
  big[1] = 1;
  big[2] = -2.5;
  big[3] = 65504; // the largest half
  big[4] = 6e-8; // a half subnormal
  return new Map([
    ['conv.w', { shape: [10, 300], values: big }],
    ['conv.b', { shape: [7], values: Float32Array.from([0.1, -0.2, 0.3, 1e-9, 5, -5, 0.123456789]) }],
  ]);
}

test('float32 packing is exact and keeps the layout (offsets = 4 bytes per value, no dtype field)', () => {
  const t = tensors();
  const { manifest, data } = packTensors(t);
  assert.deepEqual(manifest.map((e) => [e.offset, e.dtype]), [[0, undefined], [12000, undefined]]);
  assert.equal(data.byteLength, 12028);
  const back = unpackTensors(manifest, data, 'w');
  for (const [k, v] of t) assert.deepEqual(back.get(k)!.values, v.values);
});

test('float16: large tensors halve in size, values round to the nearest half; small tensors stay float32', () => {
  const t = tensors();
  const { manifest, data } = packTensors(t, 'float16');
  assert.equal(manifest[0].dtype, 'float16');
  assert.equal(manifest[1].dtype, undefined, 'a 7-value bias stays float32');
  assert.equal(data.byteLength, 6000 + 28);
  const back = unpackTensors(manifest, data, 'w');
  const a = t.get('conv.w')!.values;
  const b = back.get('conv.w')!.values;
  assert.deepEqual([b[0], b[1], b[2], b[3]], [0, 1, -2.5, 65504], 'halves that are exact stay exact');
  assert.ok(Math.abs(b[4] - 5.96e-8) < 1e-9, `subnormal ${b[4]}`);
  for (let i = 5; i < a.length; i++) {
    // half has 11 significant bits: relative error at most 2^-11 (normal range)
    assert.ok(Math.abs(b[i] - a[i]) <= Math.abs(a[i]) * 2 ** -11 + 6e-8, `${a[i]} → ${b[i]}`);
  }
  assert.deepEqual(back.get('conv.b')!.values, t.get('conv.b')!.values);
});

test('uint8: affine per tensor, error at most half a step, min and max kept', () => {
  const t = tensors();
  t.get('conv.w')!.values[3] = 0.3; // keep the range small so the step is meaningful
  const { manifest, data } = packTensors(t, 'uint8');
  const e = manifest[0];
  assert.equal(e.dtype, 'uint8');
  assert.equal(data.byteLength, 3000 + 28);
  const a = t.get('conv.w')!.values;
  const min = Math.min(...a);
  const max = Math.max(...a);
  assert.ok(Math.abs(e.min! - min) < 1e-7 && Math.abs(e.scale! - (max - min) / 255) < 1e-9);
  const b = unpackTensors(manifest, data, 'w').get('conv.w')!.values;
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(b[i] - a[i]) <= e.scale! / 2 + 1e-6, `${a[i]} → ${b[i]}`);
  assert.throws(() => unpackTensors([{ ...e, min: undefined }], data, 'x/weights.bin'), /x\/weights.bin: uint8 weights for "conv.w" lack min\/scale/);
  assert.throws(() => unpackTensors([{ ...e, dtype: 'int4' as never }], data, 'x/weights.bin'), /unknown type "int4"/);
  assert.throws(() => unpackTensors([{ ...e, offset: 100 }], data, 'x/weights.bin'), /run past the end/);
});

test('a finite but absurd value (1e30) is refused like a NaN, naming the file and the tensor; ±1e6 still loads', async () => {
  const absurd = /\/m\/weights\.bin: tensor "conv\.b" holds -?1(\.\d+)?e\+30 \(beyond ±1e\+6, larger than any trained weight\) \(value 5 of 7\); the file is damaged/;
  for (const v of [1e30, -1e30]) {
    const t = tensors();
    t.get('conv.b')!.values[5] = v;
    assert.deepEqual(findUnsound(t), { name: 'conv.b', index: 5, value: t.get('conv.b')!.values[5] }, 'the training check finds it');
    const { manifest, data } = packTensors(t);
    assert.throws(() => unpackTensors(manifest, data, '/m/weights.bin'), absurd);
  }
  // compact storage: a uint8 tensor spanning 1e30 decodes to absurd values too
  const big = tensors();
  big.get('conv.w')!.values[7] = 1e30;
  const u8 = packTensors(big, 'uint8');
  assert.throws(() => unpackTensors(u8.manifest, u8.data, '/m/weights.bin'), /tensor "conv\.w" holds 1(\.\d+)?e\+30 \(beyond ±1e\+6/);
  // the bound itself is not refused
  const edge = tensors();
  edge.get('conv.b')!.values.set([MAX_ABS_WEIGHT, -MAX_ABS_WEIGHT], 0);
  assert.equal(findUnsound(edge), null);
  const ok = packTensors(edge);
  assert.equal(unpackTensors(ok.manifest, ok.data, 'w').get('conv.b')!.values[0], 1e6);
  // a checkpoint whose optimiser slot is absurd is refused on read
  const file = join(tempDir('poi-absurd-'), 'checkpoint.bin');
  await writeCheckpoint(file, { kind: 'poi-checkpoint' }, new Map([...tensors(), ['conv.w#m', { shape: [2], values: Float32Array.from([0.1, 3e30]) }]]));
  await assert.rejects(readCheckpoint(file), /checkpoint\.bin: tensor "conv\.w#m" holds \d(\.\d+)?e\+30 \(beyond ±1e\+6[^)]*\) \(value 1 of 2\)/);
});
