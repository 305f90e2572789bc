/** Synthetic label noise, as in the noisy-label FER literature: a fraction of labels flipped uniformly. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../util/rng.js';
import { parseCsv } from './csv.js';

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
 * Write the flipped samples (paths as their last two components, so the list is portable and can be
 * given back to `poi train --noise-list`): JSON when `file` ends in .json (an array of {index, path, from, to,
 * fromClass, toClass}), otherwise CSV with header `index,path,from,to,from_class,to_class`.
 */
export function writeNoiseList(file: string, flipped: FlippedLabel[], paths: string[], classes: string[]): void {
  const rows = flipped.map((f) => ({
    index: f.index,
    path: samplePathKey(paths[f.index] ?? ''),
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

/** The last two components of a path ("FER2013Train/fer0000001.png"): how a list names a sample portably. */
export function samplePathKey(p: string): string {
  return p.split(/[\\/]+/).filter(Boolean).slice(-2).join('/');
}

/**
 * Read a noise list written by writeNoiseList (CSV) for the given training set: each row's path is
 * matched by its last two components, and its `from` class must be the sample's label in this set.
 * Throws naming the file and row on any mismatch, so a list made for other data is never half applied.
 */
export function readNoiseList(file: string, paths: string[], labels: Int32Array, classes: string[]): FlippedLabel[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read noise list (${(e as Error).message})`);
  }
  const byKey = new Map<string, number>();
  paths.forEach((p, i) => byKey.set(samplePathKey(p), i));
  const [header, ...rows] = parseCsv(text, file);
  const col = (name: string) => header?.fields.indexOf(name) ?? -1;
  const [cPath, cFrom, cTo] = [col('path'), col('from_class'), col('to_class')];
  if (cPath < 0 || cFrom < 0 || cTo < 0) throw new Error(`${file}: a noise list needs the columns path, from_class and to_class`);
  const flipped: FlippedLabel[] = [];
  const seen = new Set<number>();
  for (const r of rows) {
    const where = `${file}:${r.line}`;
    const [rel, fromClass, toClass] = [r.fields[cPath] ?? '', r.fields[cFrom] ?? '', r.fields[cTo] ?? ''];
    const index = byKey.get(samplePathKey(rel));
    if (index === undefined) throw new Error(`${where}: "${rel}" is not in the training set`);
    const from = classes.indexOf(fromClass);
    const to = classes.indexOf(toClass);
    if (from < 0 || to < 0) throw new Error(`${where}: unknown class "${from < 0 ? fromClass : toClass}"; classes: ${classes.join(', ')}`);
    if (labels[index] !== from) {
      throw new Error(`${where}: "${rel}" is labelled ${classes[labels[index]] ?? 'unlabelled'} here, the list says ${fromClass} (made for other labels)`);
    }
    if (seen.has(index)) throw new Error(`${where}: "${rel}" is listed twice`);
    seen.add(index);
    flipped.push({ index, from, to });
  }
  return flipped.sort((a, b) => a.index - b.index);
}

/** Apply flips to a copy of the labels. */
export function applyNoiseList(labels: Int32Array, flipped: FlippedLabel[]): Int32Array {
  const out = Int32Array.from(labels);
  for (const f of flipped) out[f.index] = f.to;
  return out;
}
