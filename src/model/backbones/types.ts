/**
 * What a backbone kind provides: its trainable build, its cost, its ONNX export and, for pretrained
 * kinds, where its weights come from. One kind per file; the table is ./index.ts.
 */
import type * as tf from '../../tf.js';
import type { Feat, GraphBuilder, WeightMap } from '../../onnx/graph.js';
import type { BackboneConfig } from '../config.js';
import type { Ctx, ParamStore } from '../params.js';

/** A built backbone: a feature map from a normalised NHWC batch. */
export interface BackboneNet {
  readonly outChannels: number;
  /** Channels after each stage. */
  readonly stageChannels: number[];
  /**
   * Feature map after each of the first `upTo` stages (default all) [B, h, w, C]: one pass gives both
   * the final map and an inner one (PIN reading TRN's trunk).
   */
  stageOutputs(x: tf.Tensor4D, ctx: Ctx, upTo?: number): tf.Tensor4D[];
  /** Feature map [B, h, w, outChannels] after the first `upTo` stages (default all). */
  features(x: tf.Tensor4D, ctx: Ctx, upTo?: number): tf.Tensor4D;
  /** Multiply-accumulate count ×2 of one forward pass through the first `upTo` stages (default all). */
  flops(h: number, w: number, upTo?: number): number;
  /** Spatial size of the feature map after the first `upTo` stages (default all) for an input of h x w. */
  outputSize(h: number, w: number, upTo?: number): { h: number; w: number };
}

/** A node of a tfjs graph model's topology (model.json `modelTopology.node`), as far as poi reads it. */
export interface GraphNodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { list?: { i?: string[]; s?: string[] }; s?: string; i?: string; f?: number; type?: string }>;
}

/** Weights that ship inside an npm package, and how they become poi's parameters. */
export interface PretrainedSource {
  /** npm package holding the weights (resolved from node_modules; nothing is downloaded). */
  package: string;
  /**
   * tfjs weights manifest inside the package: a weights manifest (a JSON array), or a graph model's
   * model.json, whose topology is then handed to `convert` too.
   */
  manifest: string;
  /** The licence of the weights themselves (not of the package code). */
  licence: string;
  /** What the network was trained for, and by whom. */
  origin: string;
  /** `npm install` line to print when the package is missing (optional dependencies). */
  install: string;
  /**
   * The package's tensors → poi parameters under `name`, for this config and input normalisation.
   * Only parameters of the config's stages are returned. `graph`: the nodes of a graph model's topology
   * (when `manifest` is a model.json).
   */
  convert(tensors: WeightMap, name: string, cfg: BackboneConfig, input: { channels: 1 | 3; mean: number; std: number }, graph?: GraphNodeDef[]): WeightMap;
}

export interface BackboneKind {
  /** One line for `poi presets` and the README. */
  describe: string;
  /** Throws with a message naming the problem when the config does not fit this kind. */
  validate(cfg: BackboneConfig, where: string): void;
  build(p: ParamStore, name: string, cfg: BackboneConfig, inChannels: number): BackboneNet;
  /** The inference graph of the backbone, reading the parameters saved under `name`. */
  onnx(g: GraphBuilder, name: string, cfg: BackboneConfig, f: Feat): Feat;
  pretrained?: PretrainedSource;
}
