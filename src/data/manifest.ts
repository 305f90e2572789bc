/**
 * CSV manifest: a header row, a `path` column (relative to the csv's folder, or absolute), and either
 * - a `label` column holding class names (hard labels; classes = the names found, sorted, unless given), or
 * - one numeric column per class (soft labels, normalised to sum 1; hard label = argmax).
 * An optional `split` column lets `readCsvManifest(file, {split})` keep one split (AffectNet-style lists).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dataset, Sample } from './types.js';
import { parseCsv } from './csv.js';
import { type ReadOptions, argmax, finishDataset, makeExists, normalise } from './common.js';

export interface ManifestOptions extends ReadOptions {
  /** Keep only rows whose `split` column equals this (case-insensitive). Requires a split column. */
  split?: string;
  /**
   * Class names. With a label column: fixes the class order, and integer labels are read as indices
   * into it (e.g. AffectNet's 0..7); a name not in the list is an error. Without: the sorted label names.
   */
  classes?: string[];
}

const PATH_NAMES = ['path', 'file', 'filename', 'image', 'image_path', 'subdirectory_filepath'];
const LABEL_NAMES = ['label', 'class', 'expression', 'emotion'];
const SPLIT_NAMES = ['split', 'subset', 'usage'];

function findColumn(header: string[], names: string[]): number {
  const lower = header.map((h) => h.trim().toLowerCase());
  for (const n of names) {
    const i = lower.indexOf(n);
    if (i >= 0) return i;
  }
  return -1;
}

/** Read a CSV manifest (see module doc). Missing images: warning, skipped. Bad rows: Error with file:line. */
export function readCsvManifest(file: string, opts: ManifestOptions = {}): Dataset {
  const csv = path.resolve(file);
  const base = path.dirname(csv);
  const rows = parseCsv(fs.readFileSync(csv, 'utf8'), csv);
  if (rows.length === 0) throw new Error(`${csv}: empty manifest`);
  const header = rows[0].fields.map((h) => h.trim());
  const pathCol = findColumn(header, PATH_NAMES);
  if (pathCol < 0) throw new Error(`${csv}:${rows[0].line}: no 'path' column in header [${header.join(', ')}]`);
  const labelCol = findColumn(header, LABEL_NAMES);
  const splitCol = findColumn(header, SPLIT_NAMES);
  if (opts.split !== undefined && splitCol < 0) {
    throw new Error(`${csv}: split '${opts.split}' requested but the manifest has no split column`);
  }
  const want = opts.split?.toLowerCase();
  const body = rows.slice(1).filter((r) => {
    if (r.fields.length !== header.length) {
      throw new Error(`${csv}:${r.line}: expected ${header.length} fields, got ${r.fields.length}`);
    }
    return want === undefined || r.fields[splitCol].trim().toLowerCase() === want;
  });
  const exists = makeExists();
  const samples: Sample[] = [];
  const warnings: string[] = [];
  const resolveImage = (r: { line: number; fields: string[] }): string | null => {
    const rel = r.fields[pathCol].trim();
    if (rel === '') throw new Error(`${csv}:${r.line}: empty path`);
    const p = path.resolve(base, rel);
    if (!exists(p)) {
      warnings.push(`${csv}:${r.line}: image ${rel} not found, skipped`);
      return null;
    }
    return p;
  };

  let classes: string[];
  if (labelCol >= 0) {
    const names = body.map((r) => r.fields[labelCol].trim());
    if (opts.classes) {
      classes = [...opts.classes];
    } else {
      classes = [...new Set(names.filter((n) => n !== ''))].sort();
    }
    const index = new Map(classes.map((c, i) => [c.toLowerCase(), i]));
    body.forEach((r, j) => {
      const n = names[j];
      let label: number;
      if (n === '') label = -1;
      else if (index.has(n.toLowerCase())) label = index.get(n.toLowerCase())!;
      else if (opts.classes && /^-?\d+$/.test(n)) {
        label = Number(n);
        if (label >= classes.length) throw new Error(`${csv}:${r.line}: label ${n} out of range for ${classes.length} classes`);
        if (label < 0) label = -1;
      } else throw new Error(`${csv}:${r.line}: label '${n}' is not one of [${classes.join(', ')}]`);
      const p = resolveImage(r);
      if (p) samples.push({ path: p, label });
    });
  } else {
    const cols = header.map((_, i) => i).filter((i) => i !== pathCol && i !== splitCol);
    if (cols.length < 2) {
      throw new Error(`${csv}:${rows[0].line}: need a 'label' column or one numeric column per class (found [${header.join(', ')}])`);
    }
    classes = cols.map((i) => header[i]);
    if (opts.classes && opts.classes.join('\u0000').toLowerCase() !== classes.join('\u0000').toLowerCase()) {
      throw new Error(`${csv}: soft-label columns [${classes.join(', ')}] differ from the given classes [${opts.classes.join(', ')}]`);
    }
    for (const r of body) {
      const v = cols.map((i) => {
        const t = r.fields[i].trim();
        const x = Number(t);
        if (t === '' || !Number.isFinite(x) || x < 0) {
          throw new Error(`${csv}:${r.line}: column '${header[i]}' is not a non-negative number: '${t}'`);
        }
        return x;
      });
      const p = resolveImage(r);
      if (!p) continue;
      const soft = normalise(v);
      samples.push(soft ? { path: p, label: argmax(soft), soft } : { path: p, label: -1 });
    }
  }
  const name = `csv:${csv}${opts.split !== undefined ? `:${opts.split}` : ''}`;
  return finishDataset(name, classes, samples, warnings, opts);
}
