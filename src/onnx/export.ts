/**
 * Export a trained TRN (the network poi runs at inference, with its uncertainty head) to ONNX, so
 * onnxruntime can run it. The graph mirrors Trn.forward + PoiModel.predict in inference mode exactly:
 *
 *   input [n,H,W,C] (normalised NHWC) → NCHW → backbone (each kind writes its own layers, see
 *   src/model/backbones/) → global average pool → head → softmax = probs; uncertainty head (dense,
 *   ReLU, dense, sigmoid) = confidence, or the top probability without one. Dropout is the identity.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backboneKind } from '../model/backbones/index.js';
import type { ModelConfig } from '../model/config.js';
import { hasUncertaintyHead } from '../model/objectives.js';
import { modelFolderOf, ONNX_FILE, unpackTensors, type ModelSource, type TensorMap } from '../model/io.js';
import type { PoiModel } from '../model/poi.js';
import { CONFIDENCE_HIDDEN_LAYER, CONFIDENCE_OUT_LAYER } from '../model/trn.js';
import { writeFileAtomic } from '../util/fs.js';
import { attr, floatValueInfo, GraphBuilder, type GraphOptions, IR_VERSION, OPSET_VERSION, type ModelProto } from './graph.js';
import { encodeModel } from './proto.js';

export const ONNX_INPUT = 'input';
export const ONNX_PROBS = 'probs';
export const ONNX_CONFIDENCE = 'confidence';
export { ONNX_FILE };

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
/** Bumped when the exporter writes a different graph for the same weights, so cached exports are redone. */
export const ONNX_EXPORT_VERSION = 2;

/** The fingerprint of a model folder's files (see TrnSource.fingerprint). */
export function fingerprintOf(modelJson: Uint8Array, weights: Uint8Array): string {
  return createHash('sha256').update(modelJson).update(weights).digest('hex');
}

export { hasUncertaintyHead };

function dense(g: GraphBuilder, name: string, x: string, cin: number, cout: number): string {
  const w = g.init(`${name}.w`, [cin, cout], g.weight(`${name}.w`, [cin, cout]));
  const b = g.init(`${name}.b`, [cout], g.weight(`${name}.b`, [cout]));
  return g.node('Gemm', [x, w, b], [], name);
}

/** Build the ONNX model of a TRN from its config and weights (no tfjs needed). */
export function buildTrnOnnx(src: TrnSource, producerVersion = '0', options: GraphOptions = {}): ModelProto {
  const { config, classes, source } = src;
  const { height: H, width: W, channels: C } = config.input;
  const g = new GraphBuilder(src.weights, source, options);
  // NHWC → NCHW: with one channel the memory layout is the same, so a Reshape (free) does it
  const x0 = C === 1
    ? g.node('Reshape', [ONNX_INPUT, g.initInt64('nchw_shape', [-1, 1, H, W])], [], 'to_nchw')
    : g.node('Transpose', [ONNX_INPUT], [attr.ints('perm', [0, 3, 1, 2])], 'to_nchw');
  const f = backboneKind(config.trn.kind, `${source}: trn`).onnx(g, 'trn', config.trn, { x: x0, h: H, w: W, c: C });
  const pooled = g.node('GlobalAveragePool', [f.x], [], 'trn.gap');
  const feat = g.node('Flatten', [pooled], [attr.int('axis', 1)], 'trn.features');
  const k = classes.length;
  const logits = dense(g, 'trn.head', feat, f.c, k);
  g.node('Softmax', [logits], [attr.int('axis', 1)], ONNX_PROBS);
  if (hasUncertaintyHead(config)) {
    const hid = config.uncertainty.hidden;
    const h = g.node('Relu', [dense(g, CONFIDENCE_HIDDEN_LAYER, feat, f.c, hid)], [], 'trn.unc.relu');
    const c = g.node('Sigmoid', [dense(g, CONFIDENCE_OUT_LAYER, h, hid, 1)], [], 'trn.unc.sigmoid');
    g.node('Reshape', [c, g.initInt64('flat_shape', [-1])], [], ONNX_CONFIDENCE);
  } else {
    // no uncertainty module: confidence is the top probability (PoiModel.predict)
    g.node('ReduceMax', [ONNX_PROBS], [attr.ints('axes', [1]), attr.int('keepdims', 0)], ONNX_CONFIDENCE);
  }
  const unused = g.unused('trn.');
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

/** A model folder's config and weights (a path, or a folder already read), without tfjs. */
export async function readTrnSource(src: ModelSource): Promise<TrnSource> {
  const f = await modelFolderOf(src);
  const file = join(f.dir, 'weights.bin');
  return {
    config: f.manifest.config.model,
    classes: f.manifest.classes,
    weights: unpackTensors(f.manifest.weights, f.weights, file),
    source: f.dir,
    fingerprint: fingerprintOf(f.modelJson, f.weights),
  };
}

/** The .onnx bytes of a model folder's TRN. */
export async function onnxBytesFromDir(src: ModelSource, options: GraphOptions = {}): Promise<Uint8Array> {
  return encodeModel(buildTrnOnnx(await readTrnSource(src), '0', options));
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
