/** ONNX export and onnxruntime: the exported TRN computes what tfjs computes, on the shipped model and on random ones. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { mergeConfig, presetConfig, type PoiConfig, type PoiConfigOverrides } from '../src/model/config.js';
import { loadModel, saveModel, type TensorMap } from '../src/model/io.js';
import { DLIB_DEPTHS, DLIB_WIDTHS } from '../src/model/backbones/dlib-resnet.js';
import { MFN_DEPTHS, MFN_WIDTHS } from '../src/model/backbones/mobilefacenet.js';
import { PoiModel } from '../src/model/poi.js';
import { buildTrnOnnx, readTrnSource } from '../src/onnx/export.js';
import { decodeModel, encodeModel, tensorFloats } from '../src/onnx/proto.js';
import { createOrtRunner, onnxAvailable, resolveOnnxFile } from '../src/infer/ort-runner.js';
import { exportCommand } from '../src/cli/export.js';
import { writeBalancedModel } from '../src/model/balance.js';
import { Rng } from '../src/util/rng.js';
import { FER_CLASSES, syntheticSet, tempDir } from './helpers.js';
import { predictModelSet } from '../src/eval/evaluate-model.js';
import { openRunner } from '../src/infer/runtime.js';

const SHIPPED = 'models/poi-ferplus';
const TOL = 1e-4;
const noOrt = !onnxAvailable() && 'onnxruntime-node does not load here';
const cacheDir = tempDir('poi-onnx-cache-');

before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

/** A batch with noise, flat images, extremes (black/white), gradients and smooth blobs. */
function variedInputs(n: number, h: number, w: number, c: number, seed = 3): Float32Array {
  const rng = new Rng(seed);
  const per = h * w * c;
  const x = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < per; j++) {
      const p = Math.floor(j / c);
      const y = Math.floor(p / w);
      const xx = p % w;
      let v: number;
      switch (i % 6) {
        case 0: v = rng.normal(); break;
        case 1: v = -2 + (i % 5); break; // flat: -2 (black) .. 2 (white)
        case 2: v = (y / h) * 4 - 2; break;
        case 3: v = Math.sin(xx * 0.5 + i) * Math.cos(y * 0.3) * 2; break;
        case 4: v = rng.uniform(-2, 2); break;
        default: v = Math.exp(-((xx - w / 2) ** 2 + (y - h / 2) ** 2) / (w * 2)) * 4 - 2;
      }
      x[i * per + j] = v;
    }
  }
  return x;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** tfjs and onnxruntime on the same batch; returns the max abs differences. */
async function compare(model: PoiModel, dir: string, n: number): Promise<{ probs: number; conf: number; file: string }> {
  const { height: h, width: w, channels: c } = model.config.input;
  const x = variedInputs(n, h, w, c);
  const ref = model.predict(tf.tensor4d(x, [n, h, w, c]));
  const refProbs = (await ref.probs.data()) as Float32Array;
  const refConf = (await ref.confidence.data()) as Float32Array;
  tf.dispose([ref.probs, ref.confidence]);
  const runner = await createOrtRunner(dir, { cacheDir });
  try {
    assert.equal(runner.backend, 'onnxruntime');
    const out = await runner.run(x, n);
    assert.ok(out.probs.every(Number.isFinite) && out.confidence.every(Number.isFinite));
    return { probs: maxAbsDiff(out.probs, refProbs), conf: maxAbsDiff(out.confidence, refConf), file: runner.file };
  } finally {
    runner.dispose();
  }
}

/** Random batch-norm statistics, so folding BN into the convs is really exercised. */
async function randomiseBn(model: PoiModel, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const vals: TensorMap = await model.params.read();
  for (const [name, t] of vals) {
    const r = (lo: number, hi: number) => t.values.map(() => rng.uniform(lo, hi));
    if (name.endsWith('.bn.gamma')) t.values = r(0.5, 1.5);
    else if (name.endsWith('.bn.beta') || name.endsWith('.bn.mean')) t.values = r(-0.3, 0.3);
    else if (name.endsWith('.bn.var')) t.values = r(0.2, 3);
    else if (name.endsWith('.b')) t.values = r(-0.2, 0.2);
    else if (name.endsWith('.alpha')) t.values = r(-0.5, 0.5);
    // kernels initialised to zero (mobilefacenet's residual branches end in one) must be exercised too
    else if (name.endsWith('.w') && t.values.every((v) => v === 0)) t.values = r(-0.05, 0.05);
  }
  model.params.load(vals);
}

async function randomModel(over: PoiConfigOverrides, seed: number): Promise<{ model: PoiModel; dir: string; cfg: PoiConfig }> {
  const cfg = mergeConfig(presetConfig('tiny'), over);
  const model = new PoiModel(cfg.model, FER_CLASSES, seed);
  await randomiseBn(model, seed + 100);
  const dir = join(tempDir('poi-onnx-model-'), 'm');
  await saveModel(model, cfg, dir);
  return { model, dir, cfg };
}

test('shipped model: onnxruntime and tfjs agree within 1e-4', { skip: noOrt }, async (t) => {
  const { model } = await loadModel(SHIPPED);
  try {
    const d = await compare(model, SHIPPED, 24);
    t.diagnostic(`max abs diff probs ${d.probs}, confidence ${d.conf}`);
    assert.ok(d.probs < TOL && d.conf < TOL, `max abs diff probs ${d.probs}, confidence ${d.conf}`);
  } finally {
    model.dispose();
  }
});

const RANDOM: Array<[string, PoiConfigOverrides]> = [
  // odd sizes: 'same' max-pool pads at the bottom/right (21 → 11 → 6 → 3)
  ['vgg 8-12-16 x2-1-1, 21x21, POI with uncertainty head',
    { model: { input: { height: 21, width: 21, channels: 1, mean: 0.5, std: 0.25 }, trn: { kind: 'vgg', widths: [8, 12, 16], depths: [2, 1, 1], dropout: 0.3 } } }],
  // stride-2 convs on odd sizes, 1x1 projection shortcuts, identity shortcuts
  ['resnet 8-16-24 x1-2-1, 19x19, POI with uncertainty head',
    { model: { input: { height: 19, width: 19, channels: 1, mean: 0.5, std: 0.25 }, trn: { kind: 'resnet', widths: [8, 16, 24], depths: [1, 2, 1], dropout: 0 } } }],
  // no uncertainty head (confidence = top probability) and three input channels (NHWC → NCHW transpose)
  ['ce resnet 8-8 x2-1, 16x16x3, no uncertainty head',
    { model: { method: 'ce', input: { height: 16, width: 16, channels: 3, mean: 0.5, std: 0.25 }, trn: { kind: 'resnet', widths: [8, 8], depths: [2, 1], dropout: 0 } } }],
  // dlib's ResNet-29 (random weights): 'valid' strided convs, zero-padded down blocks, avg-pool shortcuts
  ['dlib-resnet, 112x112, POI with uncertainty head',
    { model: { input: { height: 112, width: 112, channels: 1, mean: 0.5, std: 0.25 }, trn: { kind: 'dlib-resnet', widths: DLIB_WIDTHS, depths: DLIB_DEPTHS, dropout: 0.3, pretrained: false } } }],
  // MobileFaceNet (random weights and PReLU slopes): depthwise convs (Conv with group = C), PReLUs,
  // residual adds, stride-2 'same' convs on an odd size (57 → 29 → 15 → 8 → 4)
  ['ce mobilefacenet, 57x57x3, no uncertainty head',
    { model: { method: 'ce', input: { height: 57, width: 57, channels: 3, mean: 0.5, std: 0.25 }, trn: { kind: 'mobilefacenet', widths: MFN_WIDTHS, depths: MFN_DEPTHS, dropout: 0.3, pretrained: false } } }],
];

for (const [label, over] of RANDOM) {
  test(`random ${label}: onnxruntime and tfjs agree within 1e-4`, { skip: noOrt }, async (t) => {
    const { model, dir } = await randomModel(over, 5);
    try {
      const d = await compare(model, dir, 13);
      t.diagnostic(`max abs diff probs ${d.probs}, confidence ${d.conf}`);
      assert.ok(d.probs < TOL && d.conf < TOL, `max abs diff probs ${d.probs}, confidence ${d.conf}`);
    } finally {
      model.dispose();
    }
  });
}

test('PReLU forms: the default graph has no PRelu node; the PRelu operator form gives the same outputs', { skip: noOrt }, async () => {
  const [label, over] = RANDOM[RANDOM.length - 1];
  assert.match(label, /mobilefacenet/);
  const { model, dir } = await randomModel(over, 9);
  model.dispose();
  const src = await readTrnSource(dir);
  const ops = (prelu?: 'scale' | 'PRelu') => buildTrnOnnx(src, '0', prelu ? { prelu } : {}).graph.node.map((n) => n.opType);
  assert.equal(ops().filter((o) => o === 'PRelu').length, 0);
  const preluCount = ops('PRelu').filter((o) => o === 'PRelu').length;
  assert.ok(preluCount > 30, `${preluCount} PRelu nodes in the PRelu form`);
  const ort = (await import('onnxruntime-node')).default ?? (await import('onnxruntime-node'));
  const { height: h, width: w, channels: c } = src.config.input;
  const x = new ort.Tensor('float32', variedInputs(5, h, w, c), [5, h, w, c]);
  const probs: Float32Array[] = [];
  for (const prelu of ['scale', 'PRelu'] as const) {
    const s = await ort.InferenceSession.create(encodeModel(buildTrnOnnx(src, '0', { prelu })));
    probs.push((await s.run({ input: x })).probs.data as Float32Array);
    await s.release();
  }
  assert.ok(maxAbsDiff(probs[0], probs[1]) < 1e-5, `forms differ by ${maxAbsDiff(probs[0], probs[1])}`);
});

/** A model of the previous shipped architecture (VGG 32-256 with 1-2-2-2 convs, 48x48 grey), random weights. */
async function vggSource() {
  const { model, dir } = await randomModel({ model: { input: { height: 48, width: 48, channels: 1, mean: 0.5, std: 0.25 }, trn: { kind: 'vgg', widths: [32, 64, 128, 256], depths: [1, 2, 2, 2], dropout: 0.3 } } }, 11);
  model.dispose();
  return readTrnSource(dir);
}

test('the ONNX protobuf round-trips: decode gives back what was encoded', async () => {
  const src = await vggSource();
  const m = buildTrnOnnx(src);
  const bytes = encodeModel(m);
  const back = decodeModel(bytes);
  assert.equal(back.irVersion, m.irVersion);
  assert.deepEqual(back.opsetImport, [{ version: 13 }]); // domain "" is the proto default, so not written
  assert.equal(back.producerName, 'poi-fer');
  assert.deepEqual(back.metadataProps, m.metadataProps);
  const g = back.graph;
  assert.equal(g.node.length, m.graph.node.length);
  g.node.forEach((n, i) => {
    const o = m.graph.node[i];
    assert.equal(n.opType, o.opType);
    assert.deepEqual(n.input, o.input);
    assert.deepEqual(n.output, o.output);
    // decode lists every repeated field, empty or not
    const strip = (a: object) => Object.fromEntries(Object.entries(a).filter(([, v]) => !(Array.isArray(v) && v.length === 0)));
    assert.deepEqual(n.attribute.map(strip), o.attribute.map(strip));
  });
  assert.deepEqual(g.node.map((n) => n.opType).slice(0, 4), ['Reshape', 'Conv', 'Relu', 'MaxPool']);
  assert.equal(g.initializer.length, m.graph.initializer.length);
  g.initializer.forEach((t, i) => {
    const o = m.graph.initializer[i];
    assert.equal(t.name, o.name);
    assert.deepEqual(t.dims, o.dims);
    assert.equal(t.dataType, o.dataType);
    assert.deepEqual(Buffer.from(t.rawData), Buffer.from(o.rawData));
  });
  // the head's weights are stored unchanged (no BN to fold there)
  const head = g.initializer.find((t) => t.name === 'trn.head.w')!;
  assert.deepEqual(tensorFloats(head), src.weights.get('trn.head.w')!.values);
  assert.deepEqual(g.input[0].type.tensorType.shape.dim, [{ dimParam: 'n' }, { dimValue: 48 }, { dimValue: 48 }, { dimValue: 1 }]);
  assert.deepEqual(g.output.map((o) => o.name), ['probs', 'confidence']);
  // and encoding the decoded model gives the same bytes
  assert.deepEqual(Buffer.from(encodeModel(back)), Buffer.from(bytes));
});

test('unsupported layers and mismatched weights fail with a clear error', async () => {
  const src = await vggSource();
  const odd = { ...src, config: { ...src.config, trn: { ...src.config.trn, kind: 'mobilenet' as 'vgg' } } };
  assert.throws(() => buildTrnOnnx(odd), /\/m: trn: unknown backbone kind "mobilenet"; kinds: vgg, resnet, dlib-resnet, mobilefacenet/);
  const extra = new Map(src.weights);
  extra.set('trn.attention.w', { shape: [4], values: new Float32Array(4) });
  assert.throws(() => buildTrnOnnx({ ...src, weights: extra }), /unsupported TRN layer\(s\) for ONNX export: parameters "trn\.attention\.w"/);
  const missing = new Map(src.weights);
  missing.delete('trn.s2.c0.bn.var');
  assert.throws(() => buildTrnOnnx({ ...src, weights: missing }), /missing parameter "trn\.s2\.c0\.bn\.var"/);
  const wide = { ...src, config: { ...src.config, trn: { ...src.config.trn, widths: [32, 64, 128, 512] } } };
  assert.throws(() => buildTrnOnnx(wide), /parameter "trn\.s3\.c0\.conv\.w" has shape \[3,3,128,256\], the config implies \[3,3,128,512\]/);
});

test('runner: model.onnx from `poi export --onnx` is used while fresh; otherwise an export in the cache', { skip: noOrt }, async () => {
  const { model, dir } = await randomModel({}, 9);
  model.dispose();
  const cache = tempDir('poi-onnx-cache-');
  const first = await resolveOnnxFile(dir, { cacheDir: cache });
  assert.ok(first.exported && first.file.startsWith(cache), 'no model.onnx: exported into the cache');
  assert.deepEqual(await resolveOnnxFile(dir, { cacheDir: cache }), { file: first.file, exported: false }, 'then reused');
  assert.equal(await exportCommand(['--onnx', dir]), 0);
  const own = join(dir, 'model.onnx');
  assert.ok(existsSync(own));
  assert.deepEqual(await resolveOnnxFile(dir, { cacheDir: cache }), { file: own, exported: false });
  // weights newer than model.onnx (retrained): model.onnx is stale and not used
  const later = new Date(Date.now() + 5000);
  utimesSync(join(dir, 'weights.bin'), later, later);
  assert.equal((await resolveOnnxFile(dir, { cacheDir: cache })).file, first.file);
  // a model.onnx from other weights is not used, even when it looks newer (git does not keep file times)
  await exportCommand(['--onnx', dir]);
  utimesSync(own, later, later);
  assert.equal((await resolveOnnxFile(dir, { cacheDir: cache })).file, own);
  const other = (await randomModel({}, 10)).dir;
  copyFileSync(join(other, 'weights.bin'), join(dir, 'weights.bin'));
  utimesSync(own, later, later);
  const swapped = await resolveOnnxFile(dir, { cacheDir: cache });
  assert.ok(swapped.exported && swapped.file !== own && swapped.file !== first.file);
  const runner = await createOrtRunner(dir, { cacheDir: cache });
  await assert.rejects(runner.run(new Float32Array(10), 1), /expected 1x16x16x1 = 256 floats, got 10/);
  runner.dispose();
  await assert.rejects(exportCommand([dir]), /--onnx/);
});

test('a rewritten model folder (export --weights, writeBalancedModel) keeps a fresh model.onnx that onnxruntime runs like tfjs', { skip: noOrt }, async (t) => {
  const { model, dir } = await randomModel({}, 13);
  model.dispose();
  assert.equal(await exportCommand(['--onnx', dir]), 0);
  const check = async (d: string, label: string): Promise<void> => {
    const own = join(d, 'model.onnx');
    assert.ok(existsSync(own), `${label}: model.onnx is there`);
    const { model: m } = await loadModel(d);
    try {
      const r = await compare(m, d, 13);
      t.diagnostic(`${label}: max abs diff probs ${r.probs}, confidence ${r.conf}`);
      assert.equal(r.file, own, `${label}: the folder's own model.onnx is used (exported from its new weights)`);
      assert.ok(r.probs < TOL && r.conf < TOL, `${label}: max abs diff probs ${r.probs}, confidence ${r.conf}`);
    } finally {
      m.dispose();
    }
  };
  assert.equal(await exportCommand(['--weights', 'float16', dir]), 0);
  await check(dir, 'export --weights float16 (in place)');
  const u8 = join(tempDir('poi-onnx-u8-'), 'm');
  assert.equal(await exportCommand(['--weights', 'uint8', dir, '--out', u8]), 0);
  await check(u8, 'export --weights uint8 --out');
  const balanced = join(tempDir('poi-onnx-balanced-'), 'm');
  await writeBalancedModel(dir, balanced, 1, { prior: [0.3, 0.3, 0.1, 0.1, 0.1, 0.02, 0.05, 0.03], dataset: 'x', split: 'train', n: 100 });
  await check(balanced, 'writeBalancedModel');
});

test('poi eval\'s set prediction: onnx and tfjs runtimes agree on a decoded image set', { skip: noOrt }, async () => {
  const { model, dir } = await randomModel({}, 11);
  model.dispose();
  const set = syntheticSet(40, 16, 2);
  const prev = process.env.POI_CACHE_DIR;
  process.env.POI_CACHE_DIR = cacheDir;
  try {
    const a = await predictModelSet(dir, set, { runtime: 'onnx' });
    const b = await predictModelSet(dir, set, { runtime: 'tfjs' });
    assert.equal(a.runtime, 'onnxruntime');
    assert.match(b.runtime, /^tfjs-/);
    assert.equal(a.probs.length, 40 * 8);
    assert.ok(maxAbsDiff(a.probs, b.probs) < TOL && maxAbsDiff(a.confidence, b.confidence) < TOL);
  } finally {
    if (prev === undefined) delete process.env.POI_CACHE_DIR;
    else process.env.POI_CACHE_DIR = prev;
  }
});

test('openRunner: one rule for every command — tfjs by name, onnx or an error, auto falls back with a warning', async () => {
  const { model, dir } = await randomModel({}, 12);
  const missing = join(tempDir('poi-no-model-'), 'nothing-here');
  let loads = 0;
  const prev = process.env.POI_CACHE_DIR;
  process.env.POI_CACHE_DIR = cacheDir;
  const getModel = async (): Promise<PoiModel> => {
    loads++;
    return model;
  };
  try {
    await assert.rejects(openRunner(dir, { runtime: 'gpu' as never, getModel }), /unknown runtime "gpu"/);
    const t = await openRunner(dir, { runtime: 'tfjs', getModel });
    assert.match(t.backend, /^tfjs-/);
    assert.equal(loads, 1);
    if (!noOrt) {
      // ORT cannot open a folder without a model: 'onnx' says so, 'auto' warns and runs tfjs
      await assert.rejects(openRunner(missing, { runtime: 'onnx', getModel }), /nothing-here/);
      const warnings: string[] = [];
      const onWarning = (w: Error): void => void warnings.push(w.message);
      process.on('warning', onWarning);
      try {
        const a = await openRunner(missing, { runtime: 'auto', getModel });
        await new Promise((r) => setImmediate(r));
        assert.match(a.backend, /^tfjs-/);
        assert.ok(warnings.some((w) => /onnxruntime failed .*using tfjs/.test(w)), `warnings: ${warnings.join(' | ')}`);
      } finally {
        process.off('warning', onWarning);
      }
      const o = await openRunner(dir, { runtime: 'auto', getModel });
      assert.equal(o.backend, 'onnxruntime');
      o.dispose();
    }
  } finally {
    model.dispose();
    if (prev === undefined) delete process.env.POI_CACHE_DIR;
    else process.env.POI_CACHE_DIR = prev;
  }
});
