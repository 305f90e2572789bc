#!/usr/bin/env node
// The published FERPlus noise lists (noise/ferplus/): for each rate, a fraction of FER2013Train's
// majority labels flipped uniformly to another class, drawn with one fixed seed, so that every
// training seed and every method of the comparison sees the same noisy labels.
//   node scripts/make-noise-lists.mjs <ferplus dir> [out dir] [seed]
import { join } from 'node:path';
import { injectLabelNoise, readFerplus, writeNoiseList } from '../dist/src/index.js';

const [dir, out = 'noise/ferplus', seedArg = '1'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/make-noise-lists.mjs <ferplus dir> [out dir] [seed]');
  process.exit(2);
}
const seed = Number(seedArg);
const ds = readFerplus(join(dir, 'FER2013Train'));
const labels = Int32Array.from(ds.samples, (s) => s.label);
const paths = ds.samples.map((s) => s.path);
for (const rate of [0.1, 0.2, 0.3]) {
  const { flipped } = injectLabelNoise(labels, ds.classes.length, rate, seed);
  const file = join(out, `FER2013Train-n${Math.round(rate * 100)}-seed${seed}.csv`);
  writeNoiseList(file, flipped, paths, ds.classes);
  console.log(`${file}: ${flipped.length} of ${labels.filter((y) => y >= 0).length} labels flipped`);
}
