/**
 * FERPlus in Microsoft's layout: a folder with `label.csv` (no header) and the images.
 * Each line: `fer0000000.png,"(0, 0, 48, 48)",n0,...,n9` with ten annotator vote counts over
 * neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF (not a face).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dataset, Sample } from './types.js';
import { parseCsv } from './csv.js';
import { type ReadOptions, finishDataset, makeExists, normalise } from './common.js';

/** The eight emotion classes, in Microsoft's order (= the first 8 vote columns). */
export const FERPLUS_CLASSES = [
  'neutral',
  'happiness',
  'surprise',
  'sadness',
  'anger',
  'disgust',
  'fear',
  'contempt',
] as const;
/** All ten vote columns. */
export const FERPLUS_VOTE_COLUMNS = [...FERPLUS_CLASSES, 'unknown', 'NF'] as const;

/**
 * How soft labels are made from the votes:
 * - 'drop-single' (default): single votes are removed (as Microsoft's reference code does before
 *   building any target), then the 8 emotion votes are normalised to sum 1. unknown/NF votes are ignored.
 * - 'raw': the 8 emotion votes as cast, normalised to sum 1 (no outlier removal).
 * Either way a face whose 8 emotion votes are all zero gets no soft label (and its hard label is -1).
 */
export type FerplusSoftMode = 'drop-single' | 'raw';

export interface FerplusOptions extends ReadOptions {
  soft?: FerplusSoftMode;
}

/** Votes with single votes removed (Microsoft's outlier removal: counts <= 1 become 0). */
export function ferplusDropSingle(votes: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < votes.length; i++) out.push(votes[i] < 1 + Number.EPSILON ? 0 : votes[i]);
  return out;
}

/**
 * Microsoft's majority rule (ferplus.py `_process_data`, mode 'majority') over the ten vote columns.
 * Single votes are dropped; the argmax is kept when it has more than half of the remaining votes
 * (all ten columns), otherwise the face is unknown. Returns the class index 0..7, or -1 when the
 * majority is unknown, not-a-face, or there is no majority.
 */
export function ferplusMajority(votes: ArrayLike<number>): number {
  if (votes.length !== 10) throw new Error(`FERPlus votes must have 10 entries, got ${votes.length}`);
  const v = ferplusDropSingle(votes);
  let sum = 0;
  let best = 0;
  for (let i = 0; i < 10; i++) {
    sum += v[i];
    if (v[i] > v[best]) best = i;
  }
  if (!(v[best] > 0.5 * sum)) return -1;
  return best < 8 ? best : -1;
}

/** Soft label over the 8 emotions (see FerplusSoftMode); null when they carry no vote. */
export function ferplusSoft(votes: ArrayLike<number>, mode: FerplusSoftMode = 'drop-single'): Float32Array | null {
  const v = mode === 'raw' ? Array.from(votes) : ferplusDropSingle(votes);
  return normalise(v.slice(0, 8));
}

/** Locate label.csv: `dir/label.csv`, or `dir` itself when it is the csv file. */
function labelFile(dir: string): { file: string; imageDir: string } {
  if (dir.toLowerCase().endsWith('.csv') && fs.existsSync(dir) && fs.statSync(dir).isFile()) {
    return { file: dir, imageDir: path.dirname(dir) };
  }
  return { file: path.join(dir, 'label.csv'), imageDir: dir };
}

/**
 * Read a FERPlus folder. Hard label by Microsoft's majority rule (-1 where unknown/NF/no majority);
 * soft label per `opts.soft` (default 'drop-single'). Unlabelled faces are excluded unless
 * `excludeUnlabelled: false`. Rows whose image is missing are skipped with a warning. A malformed line
 * throws an Error naming the file and line.
 */
export function readFerplus(dir: string, opts: FerplusOptions = {}): Dataset {
  const root = path.resolve(dir);
  const { file, imageDir } = labelFile(root);
  if (!fs.existsSync(file)) throw new Error(`FERPlus: no label.csv in ${root}`);
  const mode = opts.soft ?? 'drop-single';
  if (mode !== 'drop-single' && mode !== 'raw') throw new Error(`FERPlus: unknown soft mode '${mode}'`);
  const rows = parseCsv(fs.readFileSync(file, 'utf8'), file);
  const exists = makeExists();
  const samples: Sample[] = [];
  const warnings: string[] = [];
  for (const { line, fields } of rows) {
    if (line === 1 && fields.length >= 3 && fields[2].trim().toLowerCase() === 'neutral') continue; // a header
    if (fields.length !== 12) {
      throw new Error(`${file}:${line}: expected 12 fields (image, face box, 10 votes), got ${fields.length}`);
    }
    const name = fields[0].trim();
    if (name === '') throw new Error(`${file}:${line}: empty image name`);
    const votes: number[] = [];
    for (let k = 0; k < 10; k++) {
      const t = fields[2 + k].trim();
      const x = Number(t);
      if (t === '' || !Number.isFinite(x) || x < 0) {
        throw new Error(`${file}:${line}: vote ${k + 1} (${FERPLUS_VOTE_COLUMNS[k]}) is not a non-negative number: '${t}'`);
      }
      votes.push(x);
    }
    const p = path.resolve(imageDir, name);
    if (!exists(p)) {
      warnings.push(`${file}:${line}: image ${name} not found, skipped`);
      continue;
    }
    const label = ferplusMajority(votes);
    const soft = ferplusSoft(votes, mode);
    const s: Sample = { path: p, label };
    if (soft) s.soft = soft;
    samples.push(s);
  }
  return finishDataset(`ferplus:${path.basename(imageDir)}`, [...FERPLUS_CLASSES], samples, warnings, opts);
}
