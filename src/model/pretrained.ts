/**
 * Pretrained backbone weights, read offline from the npm package that ships them (Node only). The
 * backbone table (./backbones) says which package and manifest; this file finds, decodes (tfjs
 * weights manifests, uint8-quantised included) and converts them to poi's parameters.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '../tf.js';
import type { WeightMap } from '../onnx/graph.js';
import { backboneKind, type GraphNodeDef, type PretrainedSource } from './backbones/index.js';
import type { BackboneConfig, InputSpec } from './config.js';
import type { PoiModel } from './poi.js';

const require = createRequire(import.meta.url);

/** Folder of an installed package, or an error saying which npm install brings it. */
export function packageDir(src: PretrainedSource): string {
  try {
    return dirname(require.resolve(`${src.package}/package.json`));
  } catch {
    throw new Error(`pretrained weights: the package ${src.package} is not installed; run \`${src.install}\``);
  }
}

/** A package's manifest file, parsed: a weights manifest, or a graph model's model.json. */
async function readManifest(src: PretrainedSource): Promise<{ file: string; groups: tf.io.WeightsManifestConfig; graph?: GraphNodeDef[] }> {
  const file = join(packageDir(src), src.manifest);
  const json = JSON.parse(await readFile(file, 'utf8').catch((e: Error) => {
    throw new Error(`${file}: cannot read the weights manifest (${e.message})`);
  })) as tf.io.WeightsManifestConfig | { weightsManifest: tf.io.WeightsManifestConfig; modelTopology?: { node?: GraphNodeDef[] } };
  if (Array.isArray(json)) return { file, groups: json };
  if (!Array.isArray(json.weightsManifest)) throw new Error(`${file}: neither a weights manifest nor a model.json with one`);
  return { file, groups: json.weightsManifest, graph: json.modelTopology?.node };
}

/** Every tensor of a package's tfjs weights manifest (or model.json), dequantised to float32. */
export async function readPackageWeights(src: PretrainedSource): Promise<WeightMap> {
  const { file, groups } = await readManifest(src);
  const out: WeightMap = new Map();
  for (const group of groups) {
    const parts = await Promise.all(group.paths.map((p) => readFile(join(dirname(file), p))));
    const buf = Buffer.concat(parts);
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    const tensors = tf.io.decodeWeights(ab, group.weights);
    for (const [name, t] of Object.entries(tensors)) {
      out.set(name, { shape: t.shape.slice(), values: Float32Array.from(t.dataSync() as Float32Array) });
      t.dispose();
    }
  }
  return out;
}

/** The nodes of a package's graph model (its model.json topology); undefined for a plain weights manifest. */
export async function readPackageGraph(src: PretrainedSource): Promise<GraphNodeDef[] | undefined> {
  return (await readManifest(src)).graph;
}

/** poi parameters under `name` for one backbone config, from its kind's pretrained source. */
export async function pretrainedWeights(name: string, cfg: BackboneConfig, input: InputSpec): Promise<WeightMap> {
  const kind = backboneKind(cfg.kind, name);
  if (!kind.pretrained) throw new Error(`${name}: backbone kind "${cfg.kind}" has no pretrained weights`);
  return kind.pretrained.convert(await readPackageWeights(kind.pretrained), name, cfg, input, await readPackageGraph(kind.pretrained));
}

/**
 * Load the pretrained weights into every backbone of a fresh model whose config asks for them.
 * Returns one line per backbone loaded, for the log.
 */
export async function loadPretrainedBackbones(model: PoiModel): Promise<string[]> {
  const { config } = model;
  const lines: string[] = [];
  const backbones: [string, BackboneConfig][] = [['trn', config.trn]];
  if (model.pin && !(config.pin.shareTrnStages > 0)) backbones.push(['pin.stem', config.pin.stem]);
  for (const [name, cfg] of backbones) {
    if (!cfg.pretrained) continue;
    const weights = await pretrainedWeights(name, cfg, config.input);
    for (const [k, w] of weights) {
      const v = model.params.trainable.get(k);
      if (!v) throw new Error(`${name}: pretrained parameter "${k}" has no place in the model`);
      if (v.shape.join('x') !== w.shape.join('x')) throw new Error(`${name}: pretrained "${k}" is [${w.shape}], the model has [${v.shape}]`);
      v.assign(tf.tensor(w.values, w.shape, 'float32'));
    }
    const src = backboneKind(cfg.kind).pretrained!;
    lines.push(`${name}: ${cfg.kind} from ${src.package}/${src.manifest} (${weights.size} tensors; weights: ${src.licence.split(' (')[0]})`);
  }
  return lines;
}
