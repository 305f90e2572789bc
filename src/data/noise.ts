/** Synthetic label noise, as in the noisy-label FER literature: a fraction of labels flipped uniformly. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../util/rng.js';

export interface FlippedLabel {
  index: number;
  from: number;
  to: number;
}

/**
 * Flip exactly round(rate * nLabelled) labels, chosen uniformly (seeded) among those >= 0, each to a
 * class drawn uniformly among the OTHER numClasses - 1. Returns a new array and the flips sorted by index.
 * The input is not modified. Labels -1 stay -1 and are never chosen.
 */
export function injectLabelNoise(
  labels: Int32Array,
  numClasses: number,
  rate: number,
  seed: number,
): { labels: Int32Array; flipped: FlippedLabel[] } {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`injectLabelNoise: rate must be in [0, 1], got ${rate}`);
  if (!(Number.isInteger(numClasses) && numClasses >= 2)) throw new Error(`injectLabelNoise: need at least 2 classes`);
  const labelled: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y >= numClasses) throw new Error(`injectLabelNoise: label ${y} at ${i} is not < ${numClasses}`);
    if (y >= 0) labelled.push(i);
  }
  const k = Math.round(rate * labelled.length);
  const rng = Rng.derive(seed, 0x4015e);
  // partial Fisher-Yates: the first k of a uniform random permutation
  for (let j = 0; j < k; j++) {
    const r = j + rng.int(labelled.length - j);
    const t = labelled[j];
    labelled[j] = labelled[r];
    labelled[r] = t;
  }
  const chosen = labelled.slice(0, k).sort((a, b) => a - b);
  const out = Int32Array.from(labels);
  const flipped: FlippedLabel[] = [];
  for (const i of chosen) {
    const from = labels[i];
    const r = rng.int(numClasses - 1);
    const to = r >= from ? r + 1 : r;
    out[i] = to;
    flipped.push({ index: i, from, to });
  }
  return { labels: out, flipped };
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Write the flipped samples: JSON when `file` ends in .json (an array of {index, path, from, to,
 * fromClass, toClass}), otherwise CSV with header `index,path,from,to,from_class,to_class`.
 */
export function writeNoiseList(file: string, flipped: FlippedLabel[], paths: string[], classes: string[]): void {
  const rows = flipped.map((f) => ({
    index: f.index,
    path: paths[f.index] ?? '',
    from: f.from,
    to: f.to,
    fromClass: classes[f.from] ?? String(f.from),
    toClass: classes[f.to] ?? String(f.to),
  }));
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let text: string;
  if (file.toLowerCase().endsWith('.json')) text = JSON.stringify(rows, null, 1) + '\n';
  else {
    const lines = ['index,path,from,to,from_class,to_class'];
    for (const r of rows) lines.push([String(r.index), csvField(r.path), String(r.from), String(r.to), csvField(r.fromClass), csvField(r.toClass)].join(','));
    text = lines.join('\n') + '\n';
  }
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}
