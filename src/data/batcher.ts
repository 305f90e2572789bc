/**
 * Batches over an ImageSet: per-epoch seeded shuffle, optional augmentation, normalisation to float.
 *
 * Everything random is a pure function of (seed, epoch, step): the epoch's order comes from
 * `Rng.derive(seed, epoch)`, and the augmentation of the j-th sample of a batch from
 * `Rng.derive(seed, epoch, step, j, AUG_KEY)`. So `batch(epoch, step)` is the same whether reached by an
 * uninterrupted run or by resuming at (epoch, step) — what resumable training needs.
 */
import { Rng } from '../util/rng.js';
import type { Batch, ImageSet } from './types.js';
import { type AugmentConfig, augmentConfig, augmentInto } from './augment.js';

/** Key that separates the augmentation streams from the shuffle stream. */
const AUG_KEY = 0x0a06;

export interface BatcherOptions {
  batchSize: number;
  /** Default 0. */
  seed?: number;
  /** Shuffle each epoch (default true). Off: the set's order, every epoch. */
  shuffle?: boolean;
  /** Drop a last incomplete batch (use for training). Default false. */
  dropLast?: boolean;
  /** Augmentation: false/undefined = off, true = DEFAULT_AUGMENT, or a (partial) AugmentConfig. */
  augment?: boolean | Partial<AugmentConfig>;
  /** After x/255: subtract mean and divide by std, per channel (a number applies to all). Default 0 and 1. */
  mean?: number | number[];
  std?: number | number[];
  /** Training labels to use instead of the set's (e.g. with synthetic noise). Length = set size. */
  labels?: Int32Array;
  /** Iterate only these sample indices (e.g. a train/holdout split of one set). Default all. */
  indices?: ArrayLike<number>;
  /** Leave out samples whose (possibly overridden) label is -1. Default true. */
  skipUnlabelled?: boolean;
}

function perChannel(v: number | number[] | undefined, c: number, def: number, what: string): number[] {
  if (v === undefined) return new Array(c).fill(def);
  if (typeof v === 'number') return new Array(c).fill(v);
  if (v.length !== c) throw new Error(`Batcher: ${what} has ${v.length} values for ${c} channels`);
  return [...v];
}

export class Batcher {
  readonly set: ImageSet;
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly augment: AugmentConfig | null;
  /** The sample indices iterated (before shuffling). */
  readonly base: Int32Array;
  /** Batches per epoch. */
  readonly stepsPerEpoch: number;
  private readonly labels: Int32Array;
  private readonly scale: Float32Array;
  private readonly bias: Float32Array;
  private cachedEpoch = -1;
  private cachedOrder: Int32Array | null = null;

  constructor(set: ImageSet, opts: BatcherOptions) {
    const n = set.labels.length;
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0)) throw new Error(`Batcher: batchSize must be a positive integer`);
    if (set.pixels.length !== n * set.height * set.width * set.channels) throw new Error(`Batcher: pixels do not match ${n} images`);
    this.set = set;
    this.batchSize = opts.batchSize;
    this.seed = opts.seed ?? 0;
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? false;
    this.augment = opts.augment === true ? augmentConfig() : opts.augment ? augmentConfig(opts.augment) : null;
    if (opts.labels && opts.labels.length !== n) throw new Error(`Batcher: labels override has ${opts.labels.length} entries for ${n} images`);
    this.labels = opts.labels ?? set.labels;
    const c = set.channels;
    const mean = perChannel(opts.mean, c, 0, 'mean');
    const std = perChannel(opts.std, c, 1, 'std');
    this.scale = new Float32Array(c);
    this.bias = new Float32Array(c);
    for (let k = 0; k < c; k++) {
      if (!(std[k] > 0)) throw new Error(`Batcher: std must be > 0`);
      this.scale[k] = 1 / (255 * std[k]);
      this.bias[k] = -mean[k] / std[k];
    }
    const idx = opts.indices ? Array.from(opts.indices) : Array.from({ length: n }, (_, i) => i);
    for (const i of idx) if (!(Number.isInteger(i) && i >= 0 && i < n)) throw new Error(`Batcher: index ${i} out of range`);
    const skip = opts.skipUnlabelled ?? true;
    this.base = Int32Array.from(skip ? idx.filter((i) => this.labels[i] >= 0) : idx);
    const m = this.base.length;
    this.stepsPerEpoch = this.dropLast ? Math.floor(m / this.batchSize) : Math.ceil(m / this.batchSize);
  }

  /** Number of samples per epoch (before drop-last). */
  get size(): number {
    return this.base.length;
  }

  /** The epoch's sample order (a permutation of `base`, or `base` itself without shuffle). */
  order(epoch: number): Int32Array {
    if (this.cachedEpoch === epoch && this.cachedOrder) return this.cachedOrder;
    const o = Int32Array.from(this.base);
    if (this.shuffle) Rng.derive(this.seed, epoch).shuffle(o);
    this.cachedEpoch = epoch;
    this.cachedOrder = o;
    return o;
  }

  /** The batch at (epoch, step); a pure function of the options, epoch and step. */
  batch(epoch: number, step: number): Batch {
    if (!(Number.isInteger(step) && step >= 0 && step < this.stepsPerEpoch)) {
      throw new Error(`Batcher: step ${step} outside [0, ${this.stepsPerEpoch})`);
    }
    const order = this.order(epoch);
    const start = step * this.batchSize;
    const index = order.slice(start, Math.min(start + this.batchSize, order.length));
    return this.assemble(index, epoch, step);
  }

  /** Batches of one epoch, from `fromStep`. */
  *epoch(epoch: number, fromStep = 0): Generator<Batch> {
    for (let s = fromStep; s < this.stepsPerEpoch; s++) yield this.batch(epoch, s);
  }

  /** All batches from (startEpoch, startStep) up to (not including) endEpoch. */
  *iterate(startEpoch: number, startStep: number, endEpoch: number): Generator<{ epoch: number; step: number; batch: Batch }> {
    for (let e = startEpoch; e < endEpoch; e++) {
      for (let s = e === startEpoch ? startStep : 0; s < this.stepsPerEpoch; s++) yield { epoch: e, step: s, batch: this.batch(e, s) };
    }
  }

  /** Build a batch from explicit sample indices (augmented with the (epoch, step) streams if on). */
  assemble(index: Int32Array, epoch = 0, step = 0): Batch {
    const { height: H, width: W, channels: C, pixels } = this.set;
    const px = H * W * C;
    const B = index.length;
    const x = new Float32Array(B * px);
    const labels = new Int32Array(B);
    const K = this.set.classes.length;
    const soft = this.set.soft ? new Float32Array(B * K) : null;
    const scale = this.scale;
    const bias = this.bias;
    for (let j = 0; j < B; j++) {
      const i = index[j];
      labels[j] = this.labels[i];
      if (soft) soft.set(this.set.soft!.subarray(i * K, (i + 1) * K), j * K);
      const o = j * px;
      if (this.augment) {
        augmentInto(pixels, i * px, H, W, C, Rng.derive(this.seed, epoch, step, j, AUG_KEY), this.augment, x, o);
        if (C === 1) {
          const a = scale[0];
          const b = bias[0];
          for (let t = o; t < o + px; t++) x[t] = x[t] * a + b;
        } else {
          for (let t = o, k = 0; t < o + px; t++) {
            x[t] = x[t] * scale[k] + bias[k];
            if (++k === C) k = 0;
          }
        }
      } else if (C === 1) {
        const a = scale[0];
        const b = bias[0];
        for (let t = 0, s = i * px; t < px; t++, s++) x[o + t] = pixels[s] * a + b;
      } else {
        for (let t = 0, s = i * px, k = 0; t < px; t++, s++) {
          x[o + t] = pixels[s] * scale[k] + bias[k];
          if (++k === C) k = 0;
        }
      }
    }
    return { x, shape: [B, H, W, C], labels, soft, index };
  }
}
