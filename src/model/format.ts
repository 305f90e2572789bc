/**
 * The model folder format without the file system: parse model.json's text, unpack weights.bin's bytes,
 * build a PoiModel. Pure (no node: imports), so the browser page and Node load a model with the same code;
 * io.ts adds the reading and writing of files.
 *
 *   model.json   format, poi version, classes, input spec, full config, metrics it was saved with,
 *                and the weight manifest (name, shape, byte offset);
 *   weights.bin  little-endian values in manifest order: float32, or per tensor float16 or uint8
 *                (affine: value = min + q·scale) when the folder was written compact.
 */
import type { PoiConfig } from './config.js';
import { PoiModel } from './poi.js';

export type TensorMap = Map<string, { shape: number[]; values: Float32Array }>;

export interface WeightEntry {
  name: string;
  shape: number[];
  offset: number;
  /** Storage type; absent = float32. */
  dtype?: WeightDtype;
  /** uint8 only: value = min + q·scale. */
  min?: number;
  scale?: number;
}

export type WeightDtype = 'float32' | 'float16' | 'uint8';
export const WEIGHT_DTYPES: readonly WeightDtype[] = ['float32', 'float16', 'uint8'];

/** Tensors smaller than this stay float32 when packing compact (biases, batch norm: negligible bytes). */
const COMPACT_MIN_SIZE = 1024;

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
  /** Present once `poi balance` has subtracted τ·log(class prior) from TRN's head bias. */
  balance?: BalanceRecord;
  /** Present once `poi fit-confidence` has refitted the uncertainty head towards annotator agreement. */
  confidence?: ConfidenceRecord;
  /**
   * This model's describe bands (where its c says "clear", "probably", "unsure"), written by
   * `bench/tune-describe --write`; absent = DEFAULT_DESCRIBE (src/ui/describe.ts, describeOptionsFor).
   * A rewrite that changes c drops it (fit-confidence; balance and calibrate on a model whose c is its top probability).
   */
  describe?: DescribeRecord;
}

/**
 * Describe bands tuned for one model folder (bench/tune-describe.ts --write): c >= sureAbove reads "clear",
 * c < unsureBelow "unsure", between "probably". Each model's c has its own scale, so the bands belong to
 * the folder, not to the code.
 */
export interface DescribeRecord {
  /** c at or above this: "clear". */
  sureAbove: number;
  /** c below this: "unsure". */
  unsureBelow: number;
  /** Where the bands were tuned: the dataset's name (not its path), split, labelled faces. */
  tunedOn: { dataset: string; split: string; n: number };
  /** The accuracies asked for: faces at or above sureAbove right at least `clear` of the time, below unsureBelow at most `unsure`. */
  target: { clear: number; unsure: number };
  tunedAt: string;
}

/**
 * What `poi fit-confidence` did: the uncertainty head (trn.unc.*) refitted after training, on frozen
 * pooled features, by BCE towards the annotators' agreement 1 − H(votes)/log K, so the reported
 * confidence follows human disagreement rather than the training-time mixing target.
 */
export interface ConfidenceRecord {
  target: 'vote-agreement';
  /** The layers that were replaced. */
  layers: string[];
  /** Where the head was fitted: dataset name, split, faces, and the fit's epochs and seed. */
  fittedOn: { dataset: string; split: string; n: number; epochs: number; seed: number };
  /**
   * Spearman(1 − confidence, entropy of the raw votes) on the validation split, with the head before
   * this fit and after it, and 1 − max p of the same model for comparison.
   */
  spearman: { dataset: string; split: string; n: number; before: number; after: number; oneMinusMaxP: number };
  fittedAt: string;
  /** Earlier fits of this folder's head, oldest first (each replaced the head entirely). */
  previous?: Omit<ConfidenceRecord, 'previous'>[];
}

/** What `poi balance` did: post-hoc logit adjustment (Menon et al. 2021) baked into the head's bias. */
export interface BalanceRecord {
  method: 'logit-adjustment';
  tau: number;
  /** Class frequencies of the training labels, in the model's class order. */
  prior: number[];
  priorFrom: { dataset: string; split: string; n: number };
  balancedAt: string;
}

/** What `poi calibrate` did to a model folder; written to model.json. */
export interface CalibrationRecord {
  method: 'temperature';
  /** Total temperature relative to the trained weights: the head's weight and bias are divided by it. */
  temperature: number;
  /** The layer that was scaled. */
  layer: string;
  /**
   * Where T was fitted: the dataset's name (not its path, which is machine-specific), split, labelled
   * faces used, and 'flip' when fitted to the flip-TTA reading.
   */
  fittedOn: { dataset: string; split: string; n: number; tta?: 'flip' };
  /** Same-split NLL (nats) and 15-bin ECE before and after this run's fit (after is optimistic). */
  before: { nll: number; ece: number };
  after: { nll: number; ece: number };
  /** Out-of-fold ECE/NLL: each half calibrated with the T fitted on the other half (the honest number). */
  crossFitted: { folds: number; seed: number; temperatures: number[]; ece: number; nll: number };
  calibratedAt: string;
  /** Earlier calibrations of this folder, oldest first; this run's own factor is temperature / previous's. */
  previous?: Omit<CalibrationRecord, 'previous'>[];
}

/** float32 → IEEE half (round to nearest even), as bits. */
function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Pack tensors into one buffer with a manifest. `dtype` float16 or uint8 stores every tensor of at
 * least COMPACT_MIN_SIZE values that way (a smaller model folder; the values are rounded once).
 */
export function packTensors(tensors: TensorMap, dtype: WeightDtype = 'float32'): { manifest: WeightEntry[]; data: Uint8Array } {
  const manifest: WeightEntry[] = [];
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    const n = t.values.length;
    const kind: WeightDtype = dtype !== 'float32' && n >= COMPACT_MIN_SIZE ? dtype : 'float32';
    const entry: WeightEntry = { name, shape: t.shape, offset: off };
    let bytes: Uint8Array;
    if (kind === 'float32') {
      bytes = new Uint8Array(Float32Array.from(t.values).buffer);
    } else if (kind === 'float16') {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = toHalf(t.values[i]);
      bytes = new Uint8Array(h.buffer);
      entry.dtype = 'float16';
    } else {
      let min = Infinity;
      let max = -Infinity;
      for (const v of t.values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const scale = max > min ? (max - min) / 255 : 1;
      bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = Math.round((t.values[i] - min) / scale);
      Object.assign(entry, { dtype: 'uint8', min, scale });
    }
    // keep every entry 4-byte aligned
    const padded = (bytes.length + 3) & ~3;
    chunks.push(bytes, new Uint8Array(padded - bytes.length));
    manifest.push(entry);
    off += padded;
  }
  const data = new Uint8Array(off);
  let p = 0;
  for (const c of chunks) {
    data.set(c, p);
    p += c.length;
  }
  return { manifest, data };
}

const BYTES: Record<WeightDtype, number> = { float32: 4, float16: 2, uint8: 1 };

/**
 * The largest magnitude a stored value may have. Trained weights, batch-norm statistics and optimiser
 * slots are within ±100 (the shipped model's largest is a batch-norm variance of 49); a value past 1e6
 * is a step that blew the weights up (finite garbage such as 1e30) or a damaged file, never a model.
 */
export const MAX_ABS_WEIGHT = 1e6;

/** Index of the first NaN, infinite or absurdly large (|v| > MAX_ABS_WEIGHT) value, or -1. */
export function firstUnsound(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!(Math.abs(values[i]) <= MAX_ABS_WEIGHT)) return i;
  return -1;
}

/** The first tensor of `tensors` holding a NaN, infinite or absurdly large value, or null when all are sound. */
export function findUnsound(tensors: TensorMap): { name: string; index: number; value: number } | null {
  for (const [name, t] of tensors) {
    const i = firstUnsound(t.values);
    if (i >= 0) return { name, index: i, value: t.values[i] };
  }
  return null;
}

/** Why a value firstUnsound found is refused, for messages: "NaN", or "1e+30 (beyond ±1e6)". */
export function unsoundValue(v: number): string {
  return Number.isFinite(v) ? `${v} (beyond ±${MAX_ABS_WEIGHT.toExponential()}, larger than any trained weight)` : String(v);
}

/**
 * Unpack weights.bin (or a checkpoint's tensors). Every value must be finite and within ±MAX_ABS_WEIGHT:
 * a NaN (or 1e30) would otherwise load silently and give the same plausible-looking answer for every face.
 */
export function unpackTensors(manifest: WeightEntry[], data: Uint8Array, source: string): TensorMap {
  const out: TensorMap = new Map();
  for (const e of manifest) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    const dtype = e.dtype ?? 'float32';
    if (!(dtype in BYTES)) throw new Error(`${source}: weights for "${e.name}" have an unknown type "${dtype}"`);
    const len = n * BYTES[dtype];
    if (e.offset + len > data.byteLength) throw new Error(`${source}: weights for "${e.name}" run past the end of the file (truncated?)`);
    // copy: the source buffer may be unaligned or reused
    const raw = data.slice(e.offset, e.offset + len);
    let values: Float32Array;
    if (dtype === 'float32') values = new Float32Array(raw.buffer);
    else if (dtype === 'float16') {
      const h = new Uint16Array(raw.buffer);
      values = new Float32Array(n);
      for (let i = 0; i < n; i++) values[i] = fromHalf(h[i]);
    } else {
      const { min, scale } = e;
      if (typeof min !== 'number' || typeof scale !== 'number') throw new Error(`${source}: uint8 weights for "${e.name}" lack min/scale`);
      values = new Float32Array(n);
      for (let i = 0; i < n; i++) values[i] = min + raw[i] * scale;
    }
    const bad = firstUnsound(values);
    if (bad >= 0) {
      throw new Error(
        `${source}: tensor "${e.name}" holds ${unsoundValue(values[bad])} (value ${bad} of ${n}); ` +
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
