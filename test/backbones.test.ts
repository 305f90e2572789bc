/**
 * The backbone table: every kind builds, counts its FLOPs and exports to ONNX; the pretrained kinds
 * reproduce their package's own network on a real face before any training.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { BACKBONES, createBackbone } from '../src/model/backbones/index.js';
import { DLIB_DEPTHS, DLIB_WIDTHS } from '../src/model/backbones/dlib-resnet.js';
import { MFN_DEPTHS, MFN_WIDTHS } from '../src/model/backbones/mobilefacenet.js';
import type { BackboneConfig } from '../src/model/config.js';
import { ParamStore } from '../src/model/params.js';
import { pretrainedWeights, readPackageWeights } from '../src/model/pretrained.js';
import { Rng } from '../src/util/rng.js';

before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

const dlib = (stages = DLIB_WIDTHS.length): BackboneConfig => ({
  kind: 'dlib-resnet', widths: DLIB_WIDTHS.slice(0, stages), depths: DLIB_DEPTHS.slice(0, stages), dropout: 0, pretrained: true,
});

/** A real face: the first face of face-api's sample1.jpg, cropped square and resized to 150x150 RGB. */
async function realFace(): Promise<Uint8Array> {
  const sharp = (await import('sharp')).default;
  const { faceApiSample } = await import('../src/face/detector.js');
  const buf = await sharp(faceApiSample(1)).extract({ left: 404, top: 380, width: 200, height: 200 }).resize(150, 150).removeAlpha().raw().toBuffer();
  return new Uint8Array(buf);
}

/** face-api's own descriptor of a 150x150 RGB face. */
async function faceApiDescriptor(rgb: Uint8Array): Promise<Float32Array> {
  const { loadFaceApi, loadNet } = await import('../src/face/detector.js');
  const fa = loadFaceApi() as unknown as { nets: { faceRecognitionNet: { computeFaceDescriptor(x: unknown): Promise<Float32Array> } } };
  await loadNet(loadFaceApi(), 'faceRecognitionNet' as never);
  const x = tf.tensor3d(rgb, [150, 150, 3], 'int32');
  try {
    return Float32Array.from(await fa.nets.faceRecognitionNet.computeFaceDescriptor(x));
  } finally {
    x.dispose();
  }
}

test('every backbone kind builds, validates its config and counts FLOPs', () => {
  const cfgs: Record<string, BackboneConfig> = {
    vgg: { kind: 'vgg', widths: [8, 16], depths: [1, 2], dropout: 0, pretrained: false },
    resnet: { kind: 'resnet', widths: [8, 16], depths: [1, 1], dropout: 0, pretrained: false },
    'dlib-resnet': dlib(2),
    mobilefacenet: { kind: 'mobilefacenet', widths: MFN_WIDTHS.slice(0, 2), depths: MFN_DEPTHS.slice(0, 2), dropout: 0, pretrained: false },
  };
  assert.deepEqual(Object.keys(cfgs).sort(), Object.keys(BACKBONES).sort(), 'a test config per kind');
  for (const [kind, cfg] of Object.entries(cfgs)) {
    const p = new ParamStore(new Rng(1));
    const net = createBackbone(p, 'b', cfg, 1);
    const size = kind === 'dlib-resnet' ? 64 : kind === 'mobilefacenet' ? 23 : 20;
    const f = net.features(tf.zeros([2, size, size, 1]) as tf.Tensor4D, { training: false, bnUpdates: [] });
    const o = net.outputSize(size, size);
    assert.deepEqual(f.shape, [2, o.h, o.w, net.outChannels], `${kind}: outputSize matches the feature map`);
    assert.ok(net.flops(size, size) > 0);
    f.dispose();
    p.dispose();
  }
  assert.throws(() => createBackbone(new ParamStore(new Rng(1)), 'trn', { ...dlib(), widths: [32, 64, 96] }, 1), /dlib-resnet has fixed stages/);
  assert.throws(() => createBackbone(new ParamStore(new Rng(1)), 'trn', { kind: 'nope' as never, widths: [8], depths: [1], dropout: 0, pretrained: false }, 1), /unknown backbone kind "nope"; kinds: vgg, resnet, dlib-resnet, mobilefacenet/);
});

test("dlib-resnet at 112 FLOPs: the count matches a hand count of the stem", () => {
  const p = new ParamStore(new Rng(1));
  const net = createBackbone(p, 'b', dlib(1), 1);
  // stem: 7x7x1x32 on a 53x53 output; stage 0: 3 blocks of two 3x3x32x32 convs on 26x26
  const stem = 2 * 49 * 32 * 53 * 53;
  const blocks = 3 * 2 * (2 * 9 * 32 * 32 * 26 * 26);
  assert.equal(net.flops(112, 112), stem + blocks);
  p.dispose();
});

for (const channels of [3, 1] as const) {
  test(`dlib-resnet rebuilt from face-api's weights reproduces face-api's descriptor on a real face (${channels === 3 ? 'RGB' : 'grey'}, within 1e-4)`, async () => {
    let rgb = await realFace();
    if (channels === 1) {
      // a grey face given to face-api as R=G=B, and to poi as one channel (the RGB sum is folded into the stem)
      const g = new Uint8Array(150 * 150 * 3);
      for (let i = 0; i < 150 * 150; i++) g.fill(Math.round(0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2]), 3 * i, 3 * i + 3);
      rgb = g;
    }
    const ref = await faceApiDescriptor(rgb);
    const input = { channels, mean: 0.5, std: 0.25 };
    const cfg = dlib();
    const p = new ParamStore(new Rng(1));
    const net = createBackbone(p, 'trn', cfg, channels);
    const weights = await pretrainedWeights('trn', cfg, { height: 150, width: 150, ...input });
    p.load(weights, 'dlib weights');
    const fc = (await readPackageWeights(BACKBONES['dlib-resnet'].pretrained!)).get('fc')!;
    const x = new Float32Array(150 * 150 * channels);
    for (let i = 0; i < x.length; i++) x[i] = (rgb[channels === 3 ? i : 3 * i] / 255 - input.mean) / input.std;
    const mine = tf.tidy(() => {
      const f = net.features(tf.tensor4d(x, [1, 150, 150, channels]), { training: false, bnUpdates: [] });
      return tf.matMul(tf.mean(f, [1, 2]) as tf.Tensor2D, tf.tensor2d(fc.values, fc.shape as [number, number]));
    });
    const d = (await mine.data()) as Float32Array;
    mine.dispose();
    p.dispose();
    let max = 0;
    for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(d[i] - ref[i]));
    const norm = Math.hypot(...ref);
    assert.equal(d.length, 128);
    assert.ok(norm > 0.1, `face-api's descriptor is not trivial (norm ${norm})`);
    assert.ok(max < 1e-4, `max abs difference ${max} (descriptor norm ${norm.toFixed(3)})`);
  });
}
