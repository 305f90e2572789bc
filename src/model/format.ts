/**
 * The model folder format without the file system: parse model.json's text, unpack weights.bin's bytes,
 * build a PoiModel. Pure (no node: imports), so the browser page and Node load a model with the same code;
 * io.ts adds the reading and writing of files.
 *
 *   model.json   format, poi version, classes, input spec, full config, metrics it was saved with,
 *                and the weight manifest (name, shape, byte offset);
 *   weights.bin  little-endian float32 values in manifest order.
 */
import type { PoiConfig } from './config.js';
import { PoiModel } from './poi.js';

export type TensorMap = Map<string, { shape: number[]; values: Float32Array }>;

export interface WeightEntry {
  name: string;
  shape: number[];
  offset: number;
}

export const MODEL_FORMAT = 'poi-model';
export const MODEL_FORMAT_VERSION = 1;

export interface ModelManifest {
  format: typeof MODEL_FORMAT;
  formatVersion: number;
  classes: string[];
  input: PoiConfig['model']['input'];
  config: PoiConfig;
  metrics: Record<string, unknown>;
  savedAt: string;
  weights: WeightEntry[];
  /** Present once `poi calibrate` has baked a temperature into TRN's head (see src/model/calibration.ts). */
  calibration?: CalibrationRecord;
}

/** What `poi calibrate` did to a model folder; written to model.json. */
export interface CalibrationRecord {
  method: 'temperature';
  /** Total temperature relative to the trained weights: the head's weight and bias are divided by it. */
  temperature: number;
  /** The layer that was scaled. */
  layer: string;
  /** Where T was fitted: the dataset's name (not its path, which is machine-specific), split, labelled faces used. */
  fittedOn: { dataset: string; split: string; n: number };
  /** Same-split NLL (nats) and 15-bin ECE before and after this run's fit (after is optimistic). */
  before: { nll: number; ece: number };
  after: { nll: number; ece: number };
  /** Out-of-fold ECE/NLL: each half calibrated with the T fitted on the other half (the honest number). */
  crossFitted: { folds: number; seed: number; temperatures: number[]; ece: number; nll: number };
  calibratedAt: string;
  /** Earlier calibrations of this folder, oldest first; this run's own factor is temperature / previous's. */
  previous?: Omit<CalibrationRecord, 'previous'>[];
}

/** Pack tensors into one buffer with a manifest. */
export function packTensors(tensors: TensorMap): { manifest: WeightEntry[]; data: Uint8Array } {
  let total = 0;
  for (const t of tensors.values()) total += t.values.length * 4;
  const data = new Uint8Array(total);
  const view = new Float32Array(data.buffer);
  const manifest: WeightEntry[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    manifest.push({ name, shape: t.shape, offset: off * 4 });
    view.set(t.values, off);
    off += t.values.length;
  }
  return { manifest, data };
}

/** Index of the first NaN or infinite value, or -1. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/** The first tensor of `tensors` holding a NaN or infinite value, or null when all are finite. */
export function findNonFinite(tensors: TensorMap): { name: string; index: number; value: number } | null {
  for (const [name, t] of tensors) {
    const i = firstNonFinite(t.values);
    if (i >= 0) return { name, index: i, value: t.values[i] };
  }
  return null;
}

/**
 * Unpack weights.bin (or a checkpoint's tensors). Every value must be finite: a NaN would otherwise load
 * silently and give the same plausible-looking answer for every face.
 */
export function unpackTensors(manifest: WeightEntry[], data: Uint8Array, source: string): TensorMap {
  const out: TensorMap = new Map();
  for (const e of manifest) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.offset + n * 4 > data.byteLength) throw new Error(`${source}: weights for "${e.name}" run past the end of the file (truncated?)`);
    // copy: the source buffer may be unaligned or reused
    const values = new Float32Array(n);
    new Uint8Array(values.buffer).set(data.subarray(e.offset, e.offset + n * 4));
    const bad = firstNonFinite(values);
    if (bad >= 0) {
      throw new Error(
        `${source}: tensor "${e.name}" holds ${values[bad]} (value ${bad} of ${n}); ` +
          `the file is damaged or was written from diverged weights, and this model cannot be used`,
      );
    }
    out.set(e.name, { shape: e.shape, values });
  }
  return out;
}

/** Parse and check model.json's text; `source` names the file in errors. */
export function parseModelManifest(text: string, source: string): ModelManifest {
  let m: ModelManifest;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: invalid JSON (${(e as Error).message})`);
  }
  if (m == null || typeof m !== 'object') throw new Error(`${source}: not a poi model (not a JSON object)`);
  if (m.format !== MODEL_FORMAT) throw new Error(`${source}: not a poi model (format "${m.format}")`);
  if (m.formatVersion > MODEL_FORMAT_VERSION) throw new Error(`${source}: format version ${m.formatVersion} is newer than this poi understands (${MODEL_FORMAT_VERSION})`);
  return m;
}

/**
 * A ready PoiModel from a manifest and weights.bin's bytes (the tfjs backend must be initialised).
 * `source` names the weights file in errors.
 */
export function modelFromParts(manifest: ModelManifest, weights: Uint8Array | ArrayBuffer, source: string): PoiModel {
  const data = weights instanceof Uint8Array ? weights : new Uint8Array(weights);
  const model = new PoiModel(manifest.config.model, manifest.classes, manifest.config.seed);
  model.params.load(unpackTensors(manifest.weights, data, source), source);
  return model;
}
