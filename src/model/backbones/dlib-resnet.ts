/**
 * 'dlib-resnet': dlib's face-recognition ResNet-29 (dlib_face_recognition_resnet_model_v1, trained by
 * Davis King on about 3 million faces for identity; he released the weights into the public domain),
 * as @vladmandic/face-api ships it in model/face_recognition_model. Rebuilt as trainable tfjs ops:
 *
 *   7x7/2 conv ('valid') → 3x3/2 max-pool ('valid') → [3 blocks of 32] → [down + 3 of 64] →
 *   [down + 2 of 128] → [down + 2 of 256] → [down of 256]
 *
 * Each dlib conv is conv + bias followed by an affine "scale" layer (its batch norm, frozen); the scale
 * is folded into the kernel and bias when the weights are loaded. That matters for fine-tuning: dlib's
 * raw kernels are an order of magnitude smaller than the scale they feed, so a per-weight optimiser
 * step (Adam) would be huge relative to them; folded, they have the usual size. A down block's
 * shortcut is a 2x2 average pool with zero channels appended; its strided conv is 'valid', and where
 * that leaves the main path a row and column short of the shortcut it is zero-padded at the bottom and
 * right, as face-api does. The input normalisation (dlib: RGB minus its mean, /255) and, for grey
 * input, the sum over RGB are folded into the first conv, which is exact because that conv is 'valid'.
 * `widths`/`depths` may be a prefix of the full network (a trunk for PIN's regions).
 */
import * as tf from '../../tf.js';
import { type Feat, type GraphBuilder, onnxConv, onnxPool, type WeightMap } from '../../onnx/graph.js';
import type { BackboneConfig } from '../config.js';
import type { Ctx, ParamStore } from '../params.js';
import { lastOf } from './layers.js';
import type { BackboneKind, BackboneNet } from './types.js';

/** The full network's stages: width and dlib's block names (the first of stages 1-4 is a down block). */
const STAGES: { width: number; blocks: string[] }[] = [
  { width: 32, blocks: ['conv32_1', 'conv32_2', 'conv32_3'] },
  { width: 64, blocks: ['conv64_down', 'conv64_1', 'conv64_2', 'conv64_3'] },
  { width: 128, blocks: ['conv128_down', 'conv128_1', 'conv128_2'] },
  { width: 256, blocks: ['conv256_down', 'conv256_1', 'conv256_2'] },
  { width: 256, blocks: ['conv256_down_out'] },
];
export const DLIB_WIDTHS = STAGES.map((s) => s.width);
export const DLIB_DEPTHS = STAGES.map((s) => s.blocks.length);
const STEM = 'conv32_down';
/** dlib's input mean (RGB, 0-255). */
const MEAN_RGB = [122.782, 117.001, 104.298];

interface BiasConv {
  w: tf.Variable;
  b: tf.Variable;
  k: number;
  stride: 1 | 2;
  pad: 'same' | 'valid';
  cin: number;
  cout: number;
}

function biasConv(p: ParamStore, name: string, cin: number, cout: number, k: number, stride: 1 | 2, pad: 'same' | 'valid'): BiasConv {
  return { w: p.he(`${name}.w`, [k, k, cin, cout], k * k * cin), b: p.const(`${name}.b`, [cout], 0), k, stride, pad, cin, cout };
}

function runConv(c: BiasConv, x: tf.Tensor4D, relu: boolean): tf.Tensor4D {
  const y = tf.add(tf.conv2d(x, c.w as tf.Tensor4D, c.stride, c.pad), c.b) as tf.Tensor4D;
  return relu ? tf.relu(y) : y;
}

const outSize = (n: number, k: number, s: number, pad: 'same' | 'valid') => (pad === 'same' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1);

interface Block {
  name: string;
  /** Index of the stage the block belongs to. */
  stage: number;
  down: boolean;
  conv1: BiasConv;
  conv2: BiasConv;
}

function isPrefix(a: number[], full: number[]): boolean {
  return a.length >= 1 && a.length <= full.length && a.every((v, i) => v === full[i]);
}

class DlibResNet implements BackboneNet {
  private readonly stem: BiasConv;
  private readonly blocks: Block[] = [];
  readonly outChannels: number;
  readonly stageChannels: number[];

  constructor(p: ParamStore, name: string, cfg: BackboneConfig, inChannels: number) {
    this.stem = biasConv(p, `${name}.${STEM}`, inChannels, 32, 7, 2, 'valid');
    let cin = 32;
    cfg.widths.forEach((w, s) => {
      for (const b of STAGES[s].blocks) {
        const down = b.includes('_down');
        this.blocks.push({
          name: b,
          stage: s,
          down,
          conv1: biasConv(p, `${name}.${b}.conv1`, cin, w, 3, down ? 2 : 1, down ? 'valid' : 'same'),
          conv2: biasConv(p, `${name}.${b}.conv2`, w, w, 3, 1, 'same'),
        });
        cin = w;
      }
    });
    this.outChannels = cin;
    this.stageChannels = [...cfg.widths];
  }

  private blocksUpTo(upTo: number): Block[] {
    return this.blocks.filter((b) => b.stage < upTo);
  }

  stageOutputs(x: tf.Tensor4D, _ctx: Ctx, upTo = this.stageChannels.length): tf.Tensor4D[] {
    const outs: tf.Tensor4D[] = [];
    x = tf.maxPool(runConv(this.stem, x, true), 3, 2, 'valid');
    const blocks = this.blocksUpTo(upTo);
    blocks.forEach((blk, i) => {
      let out = runConv(blk.conv2, runConv(blk.conv1, x, true), false);
      let sc = x;
      if (blk.down) {
        sc = tf.avgPool(x, 2, 2, 'valid');
        const dh = sc.shape[1] - out.shape[1];
        const dw = sc.shape[2] - out.shape[2];
        if (dh || dw) out = tf.pad(out, [[0, 0], [0, dh], [0, dw], [0, 0]]);
        const dc = out.shape[3] - sc.shape[3];
        if (dc) sc = tf.pad(sc, [[0, 0], [0, 0], [0, 0], [0, dc]]);
      }
      x = tf.relu(tf.add(out, sc));
      if (i === blocks.length - 1 || blocks[i + 1].stage !== blk.stage) outs.push(x);
    });
    return outs;
  }

  features(x: tf.Tensor4D, ctx: Ctx, upTo?: number): tf.Tensor4D {
    return lastOf(this.stageOutputs(x, ctx, upTo));
  }

  flops(h: number, w: number, upTo = this.stageChannels.length): number {
    const conv = (c: BiasConv, hh: number, ww: number) => {
      const oh = outSize(hh, c.k, c.stride, c.pad);
      const ow = outSize(ww, c.k, c.stride, c.pad);
      return { f: 2 * c.k * c.k * c.cin * c.cout * oh * ow, oh, ow };
    };
    const s = conv(this.stem, h, w);
    let f = s.f;
    h = outSize(s.oh, 3, 2, 'valid');
    w = outSize(s.ow, 3, 2, 'valid');
    for (const blk of this.blocksUpTo(upTo)) {
      const a = conv(blk.conv1, h, w);
      f += a.f + conv(blk.conv2, a.oh, a.ow).f;
      if (blk.down) {
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
      }
    }
    return f;
  }

  outputSize(h: number, w: number, upTo = this.stageChannels.length): { h: number; w: number } {
    h = outSize(outSize(h, 7, 2, 'valid'), 3, 2, 'valid');
    w = outSize(outSize(w, 7, 2, 'valid'), 3, 2, 'valid');
    for (const blk of this.blocksUpTo(upTo)) {
      if (blk.down) {
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
      }
    }
    return { h, w };
  }
}

function validate(cfg: BackboneConfig, where: string): void {
  if (!isPrefix(cfg.widths, DLIB_WIDTHS) || cfg.depths.length !== cfg.widths.length || !isPrefix(cfg.depths, DLIB_DEPTHS)) {
    throw new Error(
      `${where}: dlib-resnet has fixed stages: widths [${DLIB_WIDTHS}] and depths [${DLIB_DEPTHS}] (or a prefix of both), got widths [${cfg.widths}] depths [${cfg.depths}]`,
    );
  }
}

function onnx(g: GraphBuilder, name: string, cfg: BackboneConfig, f: Feat): Feat {
  const conv = (layer: string, x: Feat, cout: number, k: number, stride: number, pad: 'same' | 'valid', relu: boolean) =>
    onnxConv(g, `${name}.${layer}`, x, g.weight(`${name}.${layer}.w`, [k, k, x.c, cout]), g.weight(`${name}.${layer}.b`, [cout]), { k, cout, stride, pad, relu });
  f = onnxPool(g, 'MaxPool', `${name}.${STEM}.pool`, conv(STEM, f, 32, 7, 2, 'valid', true), 3, 2, 'valid');
  cfg.widths.forEach((w, s) => {
    for (const b of STAGES[s].blocks) {
      const down = b.includes('_down');
      const a = conv(`${b}.conv1`, f, w, 3, down ? 2 : 1, down ? 'valid' : 'same', true);
      let out = conv(`${b}.conv2`, a, w, 3, 1, 'same', false);
      let sc = f;
      if (down) {
        sc = onnxPool(g, 'AveragePool', `${name}.${b}.pool`, f, 2, 2, 'valid');
        const dh = sc.h - out.h;
        const dw = sc.w - out.w;
        // NCHW pads: [begin n,c,h,w, end n,c,h,w]
        if (dh || dw) out = { ...out, h: sc.h, w: sc.w, x: g.node('Pad', [out.x, g.initInt64(`${name}.${b}.pad_hw.pads`, [0, 0, 0, 0, 0, 0, dh, dw])], [], `${name}.${b}.pad_hw`) };
        const dc = out.c - sc.c;
        if (dc) sc = { ...sc, c: out.c, x: g.node('Pad', [sc.x, g.initInt64(`${name}.${b}.pad_c.pads`, [0, 0, 0, 0, 0, dc, 0, 0])], [], `${name}.${b}.pad_c`) };
      }
      const sum = g.node('Add', [out.x, sc.x], [], `${name}.${b}.add`);
      f = { ...out, x: g.node('Relu', [sum], [], `${name}.${b}.relu`) };
    }
  });
  return f;
}

/** dlib conv + scale → one conv: kernel·s, bias·s + t; for the stem also the input normalisation. */
function convert(t: WeightMap, name: string, cfg: BackboneConfig, input: { channels: 1 | 3; mean: number; std: number }): WeightMap {
  const get = (n: string) => {
    const v = t.get(n);
    if (!v) throw new Error(`dlib ResNet weights: tensor "${n}" is missing from the package's manifest`);
    return v;
  };
  const out: WeightMap = new Map();
  const fold = (layer: string, poiName: string, stem: boolean) => {
    const f = get(`${layer}/conv/filters`);
    const [k, , cin, cout] = f.shape;
    const bias = Float64Array.from(get(`${layer}/conv/bias`).values);
    const s = get(`${layer}/scale/weights`).values;
    const sh = get(`${layer}/scale/biases`).values;
    let kernel = f.values;
    let kcin = cin;
    if (stem) {
      // z_c = std·x_n + mean − μ_c/255 for poi's normalised input x_n
      for (let i = 0; i < k * k; i++) {
        for (let c = 0; c < cin; c++) {
          for (let o = 0; o < cout; o++) bias[o] += kernel[(i * cin + c) * cout + o] * (input.mean - MEAN_RGB[c] / 255);
        }
      }
      const scaled = new Float32Array(k * k * input.channels * cout);
      for (let i = 0; i < k * k; i++) {
        for (let o = 0; o < cout; o++) {
          if (input.channels === 1) {
            let sum = 0;
            for (let c = 0; c < cin; c++) sum += kernel[(i * cin + c) * cout + o];
            scaled[i * cout + o] = sum * input.std;
          } else {
            for (let c = 0; c < cin; c++) scaled[(i * cin + c) * cout + o] = kernel[(i * cin + c) * cout + o] * input.std;
          }
        }
      }
      kernel = scaled;
      kcin = input.channels;
    }
    const w = new Float32Array(kernel.length);
    for (let i = 0; i < kernel.length; i++) w[i] = kernel[i] * s[i % cout];
    const b = new Float32Array(cout);
    for (let o = 0; o < cout; o++) b[o] = bias[o] * s[o] + sh[o];
    out.set(`${poiName}.w`, { shape: [k, k, kcin, cout], values: w });
    out.set(`${poiName}.b`, { shape: [cout], values: b });
  };
  fold(STEM, `${name}.${STEM}`, true);
  cfg.widths.forEach((_, s) => {
    for (const b of STAGES[s].blocks) for (const c of ['conv1', 'conv2']) fold(`${b}/${c}`, `${name}.${b}.${c}`, false);
  });
  return out;
}

export const dlibResnet: BackboneKind = {
  describe: "dlib's face-recognition ResNet-29 (public domain weights in @vladmandic/face-api), fine-tuned",
  validate,
  build: (p, name, cfg, inChannels) => new DlibResNet(p, name, cfg, inChannels),
  onnx,
  pretrained: {
    package: '@vladmandic/face-api',
    manifest: 'model/face_recognition_model-weights_manifest.json',
    licence: 'public domain (Davis King released the dlib-models files into the public domain: github.com/davisking/dlib-models, README)',
    origin: 'face identity: about 3 million faces of 7485 people (FaceScrub, VGG Face and web images), metric loss; 99.38% on LFW',
    install: 'npm install @vladmandic/face-api',
    convert,
  },
};
