/** Synthetic label noise for a training run: flip (seeded, or from a published list), then record the list in the run folder. */
import { applyNoiseList, injectLabelNoise, readNoiseList, writeNoiseList } from '../data/noise.js';
import type { ImageSet } from '../data/types.js';

/** `list`: a noise-list CSV to apply instead of drawing flips with `rate` and `seed`. */
export function injectNoise(
  set: ImageSet,
  rate: number,
  seed: number,
  listFile: string,
  list?: string,
): { labels: Int32Array; flipped: number; labelled: number; rate: number } {
  let labelled = 0;
  for (const y of set.labels) if (y >= 0) labelled++;
  const drawn = list
    ? (() => {
        const flips = readNoiseList(list, set.paths, set.labels, set.classes);
        return { labels: applyNoiseList(set.labels, flips), flipped: flips };
      })()
    : injectLabelNoise(set.labels, set.classes.length, rate, seed);
  writeNoiseList(listFile, drawn.flipped, set.paths, set.classes);
  return { labels: drawn.labels, flipped: drawn.flipped.length, labelled, rate: labelled ? drawn.flipped.length / labelled : 0 };
}
