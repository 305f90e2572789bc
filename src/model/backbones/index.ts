/**
 * The backbone table: one row per kind, one file per kind. TRN's backbone and PIN's stem are both
 * chosen by `kind` in their BackboneConfig; nothing else in poi knows a kind's structure.
 */
import type { BackboneConfig } from '../config.js';
import type { ParamStore } from '../params.js';
import { dlibResnet } from './dlib-resnet.js';
import { mobileFaceNet } from './mobilefacenet.js';
import { resnet } from './resnet.js';
import type { BackboneKind, BackboneNet } from './types.js';
import { vgg } from './vgg.js';

export const BACKBONES = {
  vgg,
  resnet,
  'dlib-resnet': dlibResnet,
  mobilefacenet: mobileFaceNet,
} satisfies Record<string, BackboneKind>;

export type BackboneKindName = keyof typeof BACKBONES;

export function backboneKind(kind: string, where = 'backbone'): BackboneKind {
  const k = (BACKBONES as Record<string, BackboneKind>)[kind];
  if (!k) throw new Error(`${where}: unknown backbone kind "${kind}"; kinds: ${Object.keys(BACKBONES).join(', ')}`);
  return k;
}

/** Build a backbone's parameters under `name` (checked against its kind first). */
export function createBackbone(p: ParamStore, name: string, cfg: BackboneConfig, inChannels: number): BackboneNet {
  const kind = backboneKind(cfg.kind, name);
  kind.validate(cfg, name);
  return kind.build(p, name, cfg, inChannels);
}

export type { BackboneKind, BackboneNet, GraphNodeDef, PretrainedSource } from './types.js';
export { dropout, globalAvgPool } from './layers.js';
