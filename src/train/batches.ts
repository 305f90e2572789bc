/** The trainer's view of the data pipeline: one Batcher per run, configured from the run's config. */
import { Batcher } from '../data/batcher.js';
import type { Batch, ImageSet } from '../data/types.js';
import type { PoiConfig } from '../model/config.js';

export function makeBatcher(set: ImageSet, labels: Int32Array, config: PoiConfig): Batcher {
  const { enabled, ...aug } = config.train.augment;
  return new Batcher(set, {
    batchSize: config.train.batchSize,
    seed: config.seed,
    shuffle: true,
    dropLast: true,
    augment: enabled ? aug : false,
    mean: config.model.input.mean,
    std: config.model.input.std,
    labels,
  });
}

/** Batches of `epoch` from `fromStep` on: identical whether reached directly or after a resume. */
export function epochBatches(batcher: Batcher, epoch: number, fromStep: number): Iterable<Batch> {
  return batcher.epoch(epoch, fromStep);
}
