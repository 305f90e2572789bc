/**
 * The plain-object side of poi's ONNX subset: the typed protos, tensor and attribute builders and a
 * graph builder that backbones write their layers with. No protobufjs here, so model code that
 * describes its own ONNX export stays browser-safe; encoding lives in proto.ts.
 */
/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;
/** AttributeProto.AttributeType values used here. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** IR version 7 (ONNX 1.8) is the oldest that opset 13 may be used with; every current runtime reads it. */
export const IR_VERSION = 7;
export const OPSET_VERSION = 13;

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian element bytes (float32 / int64). */
  rawData: Uint8Array;
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain?: string;
  attribute: AttributeProto[];
}

export interface DimProto {
  dimValue?: number;
  dimParam?: string;
}

export interface ValueInfoProto {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: DimProto[] } } };
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  docString?: string;
}

export interface OperatorSetIdProto {
  domain: string;
  version: number;
}

export interface ModelProto {
  irVersion: number;
  opsetImport: OperatorSetIdProto[];
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: GraphProto;
  metadataProps?: Array<{ key: string; value: string }>;
}

// ---- builders --------------------------------------------------------------------------------------

export function floatTensor(name: string, dims: number[], values: Float32Array): TensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new Error(`tensor ${name}: ${values.length} values for dims [${dims}]`);
  // copy into a fresh little-endian buffer (values may be a view into a larger one)
  const raw = new Uint8Array(n * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) view.setFloat32(i * 4, values[i], true);
  return { name, dims, dataType: DataType.FLOAT, rawData: raw };
}

export function int64Tensor(name: string, values: number[]): TensorProto {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return { name, dims: [values.length], dataType: DataType.INT64, rawData: raw };
}

/** Float32 values of a FLOAT tensor stored as raw_data. */
export function tensorFloats(t: TensorProto): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new Error(`tensor ${t.name}: data type ${t.dataType}, not FLOAT`);
  const raw = t.rawData;
  const out = new Float32Array(raw.length / 4);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: AttrType.INT, i }),
  ints: (name: string, ints: number[]): AttributeProto => ({ name, type: AttrType.INTS, ints }),
  float: (name: string, f: number): AttributeProto => ({ name, type: AttrType.FLOAT, f }),
};

/** A float tensor value info; a string dim is symbolic (e.g. the batch size). */
export function floatValueInfo(name: string, dims: Array<number | string>): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

// ---- graph building ----------------------------------------------------------------------------------

/** A parameter map as saved in a model folder (name → shape and values). */
export type WeightMap = Map<string, { shape: number[]; values: Float32Array }>;

/** How layers without a fast onnxruntime kernel are written (each form computes the same function). */
export interface GraphOptions {
  /**
   * 'scale' (default): PReLU(y) = α·y + (1 − α)·ReLU(y), both products as per-channel 1x1 convolutions,
   * which onnxruntime keeps in its blocked (NCHWc) layout and fuses with the add. 'PRelu': the ONNX
   * operator itself, whose onnxruntime CPU kernel is a slow broadcast and forces layout reorders
   * around it (`npm run bench:ort-tuning` measures both).
   */
  prelu?: 'scale' | 'PRelu';
}

/** Collects nodes and initialisers; hands out weights by poi parameter name, checked for shape. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly inits: TensorProto[] = [];
  readonly options: Required<GraphOptions>;
  private readonly used = new Set<string>();
  private n = 0;

  constructor(private readonly weights: WeightMap, private readonly source: string, options: GraphOptions = {}) {
    this.options = { prelu: options.prelu ?? 'scale' };
  }

  weight(name: string, shape: number[]): Float32Array {
    const w = this.weights.get(name);
    if (!w) throw new Error(`${this.source}: missing parameter "${name}" (the model folder does not match its config)`);
    if (w.shape.join('x') !== shape.join('x')) {
      throw new Error(`${this.source}: parameter "${name}" has shape [${w.shape}], the config implies [${shape}]`);
    }
    this.used.add(name);
    return w.values;
  }

  /** Names under `prefix` that no exported node used: layers the exporter does not know. */
  unused(prefix: string): string[] {
    return [...this.weights.keys()].filter((k) => k.startsWith(prefix) && !this.used.has(k));
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

/** A feature map while walking a network: its value name and NCHW size. */
export interface Feat {
  x: string;
  h: number;
  w: number;
  c: number;
}

/** Padding as TF/tfjs computes it: [before, after] along one axis, and the output size. */
export function padding(size: number, k: number, s: number, mode: 'same' | 'valid'): { before: number; after: number; out: number } {
  if (mode === 'valid') return { before: 0, after: 0, out: Math.floor((size - k) / s) + 1 };
  const out = Math.ceil(size / s);
  const total = Math.max(0, (out - 1) * s + k - size);
  const before = Math.floor(total / 2);
  return { before, after: total - before, out };
}

/**
 * A convolution from a tfjs-layout kernel [k,k,cin,cout] and a bias, with tfjs's padding written as
 * explicit pads (the spatial size is fixed by the input spec); optional ReLU.
 */
export function onnxConv(
  g: GraphBuilder,
  name: string,
  f: Feat,
  kernel: ArrayLike<number>,
  bias: Float32Array,
  o: { k: number; cout: number; stride: number; pad: 'same' | 'valid'; relu: boolean },
): Feat {
  const { k, cout, stride } = o;
  const cin = f.c;
  const w = new Float32Array(cout * cin * k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      for (let ci = 0; ci < cin; ci++) {
        for (let c = 0; c < cout; c++) w[((c * cin + ci) * k + i) * k + j] = kernel[((i * k + j) * cin + ci) * cout + c];
      }
    }
  }
  const ph = padding(f.h, k, stride, o.pad);
  const pw = padding(f.w, k, stride, o.pad);
  let y = g.node('Conv', [f.x, g.init(`${name}.w`, [cout, cin, k, k], w), g.init(`${name}.b`, [cout], bias)], [
    attr.ints('kernel_shape', [k, k]),
    attr.ints('strides', [stride, stride]),
    attr.ints('pads', [ph.before, pw.before, ph.after, pw.after]),
    attr.ints('dilations', [1, 1]),
    attr.int('group', 1),
  ], `${name}.conv`);
  if (o.relu) y = g.node('Relu', [y], [], `${name}.relu`);
  return { x: y, h: ph.out, w: pw.out, c: cout };
}

/** Max or average pooling with tfjs's padding rule (ONNX pools ignore padded cells, as tfjs does). */
export function onnxPool(g: GraphBuilder, op: 'MaxPool' | 'AveragePool', name: string, f: Feat, k: number, s: number, pad: 'same' | 'valid'): Feat {
  const ph = padding(f.h, k, s, pad);
  const pw = padding(f.w, k, s, pad);
  const x = g.node(op, [f.x], [
    attr.ints('kernel_shape', [k, k]),
    attr.ints('strides', [s, s]),
    attr.ints('pads', [ph.before, pw.before, ph.after, pw.after]),
  ], name);
  return { ...f, x, h: ph.out, w: pw.out };
}

/**
 * A depthwise convolution (channel multiplier 1) from a tfjs-layout kernel [k,k,C,1] and a bias: ONNX
 * Conv with group = C and weights [C,1,k,k]; tfjs's padding as explicit pads.
 */
export function onnxDepthwiseConv(
  g: GraphBuilder,
  name: string,
  f: Feat,
  kernel: ArrayLike<number>,
  bias: Float32Array,
  o: { k: number; stride: number; pad: 'same' | 'valid' },
): Feat {
  const { k, stride } = o;
  const c = f.c;
  const w = new Float32Array(c * k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      for (let ch = 0; ch < c; ch++) w[(ch * k + i) * k + j] = kernel[(i * k + j) * c + ch];
    }
  }
  const ph = padding(f.h, k, stride, o.pad);
  const pw = padding(f.w, k, stride, o.pad);
  const y = g.node('Conv', [f.x, g.init(`${name}.w`, [c, 1, k, k], w), g.init(`${name}.b`, [c], bias)], [
    attr.ints('kernel_shape', [k, k]),
    attr.ints('strides', [stride, stride]),
    attr.ints('pads', [ph.before, pw.before, ph.after, pw.after]),
    attr.ints('dilations', [1, 1]),
    attr.int('group', c),
  ], `${name}.conv`);
  return { x: y, h: ph.out, w: pw.out, c };
}

/** A per-channel scale as a 1x1 depthwise convolution (no bias). */
function channelScale(g: GraphBuilder, name: string, x: string, c: number, scale: Float32Array): string {
  return g.node('Conv', [x, g.init(`${name}.w`, [c, 1, 1, 1], scale)], [attr.ints('kernel_shape', [1, 1]), attr.int('group', c)], `${name}.conv`);
}

/** PReLU with one slope per channel, in the form GraphOptions.prelu chooses. */
export function onnxPrelu(g: GraphBuilder, name: string, f: Feat, slope: Float32Array): Feat {
  if (slope.length !== f.c) throw new Error(`${name}: ${slope.length} PReLU slopes for ${f.c} channels`);
  if (g.options.prelu === 'PRelu') {
    return { ...f, x: g.node('PRelu', [f.x, g.init(`${name}.alpha`, [f.c, 1, 1], slope)], [], `${name}.prelu`) };
  }
  // y > 0: α·y + (1 − α)·y = y; y ≤ 0: α·y
  const linear = channelScale(g, `${name}.alpha`, f.x, f.c, slope);
  const relu = g.node('Relu', [f.x], [], `${name}.relu`);
  const rectified = channelScale(g, `${name}.one_minus_alpha`, relu, f.c, slope.map((a) => 1 - a));
  return { ...f, x: g.node('Add', [linear, rectified], [], `${name}.prelu`) };
}
