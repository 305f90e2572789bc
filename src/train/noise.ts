/** Synthetic label noise for a training run: flip (seeded, or from a published list), then record the list in the run folder. */
import { applyNoiseList, type FlippedLabel, injectLabelNoise, readNoiseList, writeNoiseList } from '../data/noise.js';
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
  let drawn: { labels: Int32Array; flipped: FlippedLabel[] };
  if (list) {
    const flipped = readNoiseList(list, set.paths, set.labels, set.classes);
    drawn = { labels: applyNoiseList(set.labels, flipped), flipped };
  } else {
    drawn = injectLabelNoise(set.labels, set.classes.length, rate, seed);
  }
  writeNoiseList(listFile, drawn.flipped, set.paths, set.classes);
  return { labels: drawn.labels, flipped: drawn.flipped.length, labelled, rate: labelled ? drawn.flipped.length / labelled : 0 };
}
