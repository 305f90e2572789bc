/**
 * Export a trained TRN (the network poi runs at inference, with its uncertainty head) to ONNX, so
 * onnxruntime can run it. The graph mirrors Trn.forward + PoiModel.predict in inference mode exactly:
 *
 *   input [n,H,W,C] (normalised NHWC) → NCHW → backbone (conv with batch norm folded in, ReLU,
 *   2x2 max-pool for vgg / residual blocks for resnet) → global average pool → head → softmax = probs;
 *   uncertainty head (dense, ReLU, dense, sigmoid) = confidence, or the top probability without one.
 *
 * Batch norm at inference is y = conv(x)·scale + shift per output channel, with
 * scale = γ/√(var+ε) and shift = β − mean·scale; since conv is linear in its kernel this equals a conv
 * with kernel·scale and bias shift, so BN costs nothing in the exported graph. Dropout is the identity
 * at inference. tfjs's 'same' padding (extra pixel at the bottom/right when odd) is written as
 * explicit pads, since the spatial size is fixed by the model's input spec.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackboneConfig, ModelConfig } from '../model/config.js';
import { readModelManifest, unpackTensors, type TensorMap } from '../model/io.js';
import type { PoiModel } from '../model/poi.js';
import { writeFileAtomic } from '../util/fs.js';
import {
  attr,
  encodeModel,
  floatTensor,
  floatValueInfo,
  int64Tensor,
  IR_VERSION,
  OPSET_VERSION,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './proto.js';

/** Epsilon of poi's BatchNorm (src/model/params.ts default; TRN never overrides it). */
const BN_EPS = 1e-5;

export const ONNX_INPUT = 'input';
export const ONNX_PROBS = 'probs';
export const ONNX_CONFIDENCE = 'confidence';
export const ONNX_FILE = 'model.onnx';

export interface TrnSource {
  config: ModelConfig;
  classes: string[];
  weights: TensorMap;
  /** Where the weights came from, for error messages (a folder or file path). */
  source: string;
  /** sha256 of the model folder's model.json + weights.bin, stored in the export's metadata so a
   * stale model.onnx is recognised whatever the file times say (git does not keep them). */
  fingerprint?: string;
}

export const FINGERPRINT_KEY = 'poi_weights_sha256';

/** The fingerprint of a model folder's files (see TrnSource.fingerprint). */
export function fingerprintOf(modelJson: Uint8Array, weights: Uint8Array): string {
  return createHash('sha256').update(modelJson).update(weights).digest('hex');
}

/** 'same' padding as TF/tfjs computes it: [before, after] along one axis, and the output size. */
function samePad(size: number, k: number, s: number): { before: number; after: number; out: number } {
  const out = Math.ceil(size / s);
  const total = Math.max(0, (out - 1) * s + k - size);
  const before = Math.floor(total / 2);
  return { before, after: total - before, out };
}

/** Does this model have the uncertainty head? Same rule as the PoiModel constructor. */
export function hasUncertaintyHead(config: ModelConfig): boolean {
  return config.method === 'poi' && config.uncertainty.enabled;
}

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly inits: TensorProto[] = [];
  private readonly used = new Set<string>();
  private n = 0;

  constructor(private readonly src: TrnSource) {}

  /** A weight by its poi parameter name, checked for shape. */
  weight(name: string, shape: number[]): Float32Array {
    const w = this.src.weights.get(name);
    if (!w) throw new Error(`${this.src.source}: missing parameter "${name}" (the model folder does not match its config)`);
    if (w.shape.join('x') !== shape.join('x')) {
      throw new Error(`${this.src.source}: parameter "${name}" has shape [${w.shape}], the config implies [${shape}]`);
    }
    this.used.add(name);
    return w.values;
  }

  /** Names of TRN parameters no exported node used: layers this exporter does not know. */
  unused(): string[] {
    return [...this.src.weights.keys()].filter((k) => k.startsWith('trn.') && !this.used.has(k));
  }

  init(name: string, dims: number[], values: Float32Array): string {
    this.inits.push(floatTensor(name, dims, values));
    return name;
  }

  initInt64(name: string, values: number[]): string {
    this.inits.push(int64Tensor(name, values));
    return name;
  }

  node(opType: string, input: string[], attribute: NodeProto['attribute'] = [], name?: string): string {
    const id = name ?? `${opType.toLowerCase()}_${this.n++}`;
    this.nodes.push({ opType, input, output: [id], name: id, attribute });
    return id;
  }
}

/** Spatial state while walking the backbone. */
interface Feat {
  x: string;
  h: number;
  w: number;
  c: number;
}

/** Conv (3x3 or 1x1, stride 1 or 2, 'same') with its batch norm folded in; optional ReLU. */
function convBn(g: GraphBuilder, name: string, f: Feat, cout: number, k: number, stride: 1 | 2, relu: boolean): Feat {
  const cin = f.c;
  const kw = g.weight(`${name}.conv.w`, [k, k, cin, cout]);
  const gamma = g.weight(`${name}.bn.gamma`, [cout]);
  const beta = g.weight(`${name}.bn.beta`, [cout]);
  const mean = g.weight(`${name}.bn.mean`, [cout]);
  const variance = g.weight(`${name}.bn.var`, [cout]);
  // fold in float64, then round once
  const scale = new Float64Array(cout);
  const bias = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    scale[o] = gamma[o] / Math.sqrt(variance[o] + BN_EPS);
    bias[o] = beta[o] - mean[o] * scale[o];
  }
  // tfjs kernel [kh,kw,cin,cout] → ONNX [cout,cin,kh,kw]
  const w = new Float32Array(cout * cin * k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      for (let ci = 0; ci < cin; ci++) {
        for (let o = 0; o < cout; o++) {
          w[((o * cin + ci) * k + i) * k + j] = kw[((i * k + j) * cin + ci) * cout + o] * scale[o];
        }
      }
    }
  }
  const ph = samePad(f.h, k, stride);
  const pw = samePad(f.w, k, stride);
  let y = g.node('Conv', [f.x, g.init(`${name}.w`, [cout, cin, k, k], w), g.init(`${name}.b`, [cout], bias)], [
    attr.ints('kernel_shape', [k, k]),
    attr.ints('strides', [stride, stride]),
    attr.ints('pads', [ph.before, pw.before, ph.after, pw.after]),
    attr.ints('dilations', [1, 1]),
    attr.int('group', 1),
  ], `${name}.conv`);
  if (relu) y = g.node('Relu', [y], [], `${name}.relu`);
  return { x: y, h: ph.out, w: pw.out, c: cout };
}

function maxPool2(g: GraphBuilder, f: Feat, name: string): Feat {
  const ph = samePad(f.h, 2, 2);
  const pw = samePad(f.w, 2, 2);
  // ONNX MaxPool ignores padded cells, like tfjs's 'same' max-pool
  const x = g.node('MaxPool', [f.x], [
    attr.ints('kernel_shape', [2, 2]),
    attr.ints('strides', [2, 2]),
    attr.ints('pads', [ph.before, pw.before, ph.after, pw.after]),
  ], name);
  return { ...f, x, h: ph.out, w: pw.out };
}

/** The backbone walk of src/model/backbone.ts (parameter names included). */
function backbone(g: GraphBuilder, cfg: BackboneConfig, f: Feat, source: string): Feat {
  const kind = (cfg as { kind: string }).kind;
  if (cfg.widths.length !== cfg.depths.length) throw new Error(`${source}: trn widths and depths differ in length`);
  if (kind === 'vgg') {
    cfg.widths.forEach((width, s) => {
      for (let i = 0; i < cfg.depths[s]; i++) f = convBn(g, `trn.s${s}.c${i}`, f, width, 3, 1, true);
      f = maxPool2(g, f, `trn.s${s}.pool`);
    });
    return f;
  }
  if (kind === 'resnet') {
    f = convBn(g, 'trn.stem', f, cfg.widths[0], 3, 1, true);
    cfg.widths.forEach((width, s) => {
      for (let i = 0; i < cfg.depths[s]; i++) {
        const stride: 1 | 2 = s > 0 && i === 0 ? 2 : 1;
        const name = `trn.s${s}.b${i}`;
        const a = convBn(g, `${name}.a`, f, width, 3, stride, true);
        const b = convBn(g, `${name}.b`, a, width, 3, 1, false);
        const sc = stride !== 1 || f.c !== width ? convBn(g, `${name}.down`, f, width, 1, stride, false) : f;
        const sum = g.node('Add', [b.x, sc.x], [], `${name}.add`);
        f = { ...b, x: g.node('Relu', [sum], [], `${name}.relu`) };
      }
    });
    return f;
  }
  throw new Error(`${source}: cannot export TRN backbone kind "${kind}" to ONNX (supported: vgg, resnet)`);
}

function dense(g: GraphBuilder, name: string, x: string, cin: number, cout: number): string {
  const w = g.init(`${name}.w`, [cin, cout], g.weight(`${name}.w`, [cin, cout]));
  const b = g.init(`${name}.b`, [cout], g.weight(`${name}.b`, [cout]));
  return g.node('Gemm', [x, w, b], [], name);
}

/** Build the ONNX model of a TRN from its config and weights (no tfjs needed). */
export function buildTrnOnnx(src: TrnSource, producerVersion = '0'): ModelProto {
  const { config, classes, source } = src;
  const { height: H, width: W, channels: C } = config.input;
  const g = new GraphBuilder(src);
  // NHWC → NCHW: with one channel the memory layout is the same, so a Reshape (free) does it
  const x0 = C === 1
    ? g.node('Reshape', [ONNX_INPUT, g.initInt64('nchw_shape', [-1, 1, H, W])], [], 'to_nchw')
    : g.node('Transpose', [ONNX_INPUT], [attr.ints('perm', [0, 3, 1, 2])], 'to_nchw');
  const f = backbone(g, config.trn, { x: x0, h: H, w: W, c: C }, source);
  const pooled = g.node('GlobalAveragePool', [f.x], [], 'trn.gap');
  const feat = g.node('Flatten', [pooled], [attr.int('axis', 1)], 'trn.features');
  const k = classes.length;
  const logits = dense(g, 'trn.head', feat, f.c, k);
  g.node('Softmax', [logits], [attr.int('axis', 1)], ONNX_PROBS);
  if (hasUncertaintyHead(config)) {
    const hid = config.uncertainty.hidden;
    const h = g.node('Relu', [dense(g, 'trn.unc.hidden', feat, f.c, hid)], [], 'trn.unc.relu');
    const c = g.node('Sigmoid', [dense(g, 'trn.unc.out', h, hid, 1)], [], 'trn.unc.sigmoid');
    g.node('Reshape', [c, g.initInt64('flat_shape', [-1])], [], ONNX_CONFIDENCE);
  } else {
    // no uncertainty module: confidence is the top probability (PoiModel.predict)
    g.node('ReduceMax', [ONNX_PROBS], [attr.ints('axes', [1]), attr.int('keepdims', 0)], ONNX_CONFIDENCE);
  }
  const unused = g.unused();
  if (unused.length) {
    throw new Error(`${source}: unsupported TRN layer(s) for ONNX export: parameters ${unused.map((u) => `"${u}"`).join(', ')} are not used by the exporter`);
  }
  return {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    producerName: 'poi-fer',
    producerVersion,
    docString: `poi TRN (${config.trn.kind} ${config.trn.widths.join('-')}), input normalised (px/255 - ${config.input.mean}) / ${config.input.std}, NHWC`,
    graph: {
      name: 'poi_trn',
      node: g.nodes,
      initializer: g.inits,
      input: [floatValueInfo(ONNX_INPUT, ['n', H, W, C])],
      output: [floatValueInfo(ONNX_PROBS, ['n', k]), floatValueInfo(ONNX_CONFIDENCE, ['n'])],
    },
    metadataProps: [
      { key: 'classes', value: JSON.stringify(classes) },
      { key: 'input', value: JSON.stringify(config.input) },
      ...(src.fingerprint ? [{ key: FINGERPRINT_KEY, value: src.fingerprint }] : []),
    ],
  };
}

/** Read a model folder's config and weights without tfjs. */
export async function readTrnSource(dir: string): Promise<TrnSource> {
  const manifest = await readModelManifest(dir);
  const file = join(dir, 'weights.bin');
  const data = new Uint8Array(await readFile(file).catch(() => {
    throw new Error(`${dir}: weights.bin is missing`);
  }));
  const fingerprint = fingerprintOf(await readFile(join(dir, 'model.json')), data);
  return { config: manifest.config.model, classes: manifest.classes, weights: unpackTensors(manifest.weights, data, file), source: dir, fingerprint };
}

/** The .onnx bytes of a model folder's TRN. */
export async function onnxBytesFromDir(dir: string): Promise<Uint8Array> {
  return encodeModel(buildTrnOnnx(await readTrnSource(dir)));
}

/** Export a model folder's TRN; default file `<dir>/model.onnx`. Returns the file written. */
export async function exportOnnxFromDir(dir: string, file = join(dir, ONNX_FILE)): Promise<string> {
  await writeFileAtomic(file, await onnxBytesFromDir(dir));
  return file;
}

/** Export an in-memory model's TRN (reads its current weights). */
export async function exportOnnx(model: PoiModel, file: string): Promise<void> {
  const src: TrnSource = { config: model.config, classes: model.classes, weights: await model.params.read(), source: file };
  await writeFileAtomic(file, encodeModel(buildTrnOnnx(src)));
}
