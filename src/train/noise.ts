/** Synthetic label noise for a training run: flip, then record the list in the run folder. */
import { injectLabelNoise, writeNoiseList } from '../data/noise.js';
import type { ImageSet } from '../data/types.js';

export function injectNoise(set: ImageSet, rate: number, seed: number, listFile: string): { labels: Int32Array; flipped: number; labelled: number } {
  const { labels, flipped } = injectLabelNoise(set.labels, set.classes.length, rate, seed);
  writeNoiseList(listFile, flipped, set.paths, set.classes);
  let labelled = 0;
  for (const y of set.labels) if (y >= 0) labelled++;
  return { labels, flipped: flipped.length, labelled };
}
