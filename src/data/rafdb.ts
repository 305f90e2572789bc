/**
 * RAF-DB basic emotions: `EmoLabel/list_patition_label.txt` (lines `train_00001.jpg 5`, labels 1..7)
 * and aligned images `Image/aligned/train_00001_aligned.jpg`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dataset, Sample } from './types.js';
import { type ReadOptions, finishDataset, makeExists } from './common.js';

/** RAF-DB's classes; label k in the list file is RAFDB_CLASSES[k - 1]. */
export const RAFDB_CLASSES = ['Surprise', 'Fear', 'Disgust', 'Happiness', 'Sadness', 'Anger', 'Neutral'] as const;
export const RAFDB_LIST_FILE = 'list_patition_label.txt';

/** Where the list file may be, relative to the dataset folder. */
const LIST_LOCATIONS = ['', 'EmoLabel', 'basic/EmoLabel', 'basic'];

/** Find the list file in dir, dir/EmoLabel (or dir/basic/EmoLabel); null if absent. */
export function findRafdbList(dir: string): string | null {
  for (const sub of LIST_LOCATIONS) {
    const f = path.join(dir, sub, RAFDB_LIST_FILE);
    if (fs.existsSync(f)) return f;
  }
  return null;
}

/**
 * Read RAF-DB basic. `split` keeps the lines whose file name starts with `train` or `test`.
 * For `train_00001.jpg` the image is looked for, in order, as Image/aligned/train_00001_aligned.jpg,
 * Image/aligned/train_00001.jpg, aligned/…, Image/original/train_00001.jpg, Image/train_00001.jpg, and
 * next to the list file. Missing images are skipped with a warning; a malformed line throws (file:line).
 */
export function readRafdb(dir: string, split: 'train' | 'test', opts: ReadOptions = {}): Dataset {
  if (split !== 'train' && split !== 'test') throw new Error(`RAF-DB: split must be 'train' or 'test', got '${split}'`);
  const root = path.resolve(dir);
  const list = findRafdbList(root);
  if (!list) throw new Error(`RAF-DB: ${RAFDB_LIST_FILE} not found in ${root} or ${path.join(root, 'EmoLabel')}`);
  // the dataset root: the list's folder, or its parent when the list is in EmoLabel/
  const listDir = path.dirname(list);
  const base = path.basename(listDir) === 'EmoLabel' ? path.dirname(listDir) : listDir;
  const exists = makeExists();
  const lines = fs.readFileSync(list, 'utf8').split(/\r?\n/);
  const samples: Sample[] = [];
  const warnings: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].trim();
    if (t === '') continue;
    const parts = t.split(/\s+/);
    const lineNo = i + 1;
    if (parts.length !== 2) throw new Error(`${list}:${lineNo}: expected '<image> <label>', got '${t}'`);
    const [name, lab] = parts;
    const k = Number(lab);
    if (!Number.isInteger(k) || k < 1 || k > 7) throw new Error(`${list}:${lineNo}: label must be 1..7, got '${lab}'`);
    if (!name.toLowerCase().startsWith(split)) continue;
    const ext = path.extname(name);
    const stem = name.slice(0, name.length - ext.length);
    const candidates = [
      path.join(base, 'Image', 'aligned', `${stem}_aligned${ext}`),
      path.join(base, 'Image', 'aligned', name),
      path.join(base, 'aligned', `${stem}_aligned${ext}`),
      path.join(base, 'aligned', name),
      path.join(base, 'Image', 'original', name),
      path.join(base, 'Image', name),
      path.join(base, name),
    ];
    const found = candidates.find(exists);
    if (!found) {
      warnings.push(`${list}:${lineNo}: image ${name} not found (looked in ${path.join(base, 'Image', 'aligned')} and others), skipped`);
      continue;
    }
    samples.push({ path: found, label: k - 1 });
  }
  return finishDataset(`rafdb:${split}`, [...RAFDB_CLASSES], samples, warnings, opts);
}
