/** `readDataset`: one entry point that recognises the supported layouts. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dataset } from './types.js';
import { parseCsv } from './csv.js';
import { type FerplusOptions, readFerplus } from './ferplus.js';
import { findRafdbList, readRafdb } from './rafdb.js';
import { classFolders, readFolder } from './folder.js';
import { type ManifestOptions, readCsvManifest } from './manifest.js';

export type DatasetFormat = 'ferplus' | 'rafdb' | 'folder' | 'csv';

export interface DatasetSpec extends FerplusOptions, Omit<ManifestOptions, 'split'> {
  /** A dataset folder or a .csv manifest. */
  path: string;
  /** Skip detection. */
  format?: DatasetFormat;
  /**
   * Which split: for RAF-DB 'train' | 'test' (required); for a CSV manifest the value of its split
   * column; for a folder holding split subfolders (FER2013Train/FER2013Valid/FER2013Test, or
   * train/val/valid/test/...), the subfolder: 'train' → FER2013Train, 'valid'|'val' → FER2013Valid,
   * 'test' → FER2013Test, otherwise the folder of that name.
   */
  split?: string;
}

const FERPLUS_SPLITS: Record<string, string> = {
  train: 'FER2013Train',
  training: 'FER2013Train',
  valid: 'FER2013Valid',
  val: 'FER2013Valid',
  validation: 'FER2013Valid',
  publictest: 'FER2013Valid',
  test: 'FER2013Test',
  privatetest: 'FER2013Test',
};

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** True when the file looks like Microsoft's FERPlus label.csv (first row: name, box, 10 numbers). */
export function looksLikeFerplusLabels(file: string): boolean {
  if (!fs.existsSync(file)) return false;
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('utf8');
    const firstLines = text.split(/\r?\n/).slice(0, 3).join('\n');
    let rows;
    try {
      rows = parseCsv(firstLines, file);
    } catch {
      return false;
    }
    const row = rows.find((r) => !(r.line === 1 && r.fields[2]?.trim().toLowerCase() === 'neutral'));
    return !!row && row.fields.length === 12 && row.fields.slice(2).every((f) => f.trim() !== '' && Number.isFinite(Number(f)));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Why `file` (a label.csv that looksLikeFerplusLabels rejected) is not FERPlus labels, naming the file
 * and line: its first row that is neither blank nor a header is what detection looked at.
 */
export function ferplusLabelsProblem(file: string): string {
  let text: string;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(4096);
      text = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    return `${file}: cannot be read (${(e as Error).message})`;
  }
  const lines = text.split(/\r?\n/);
  const i = lines.findIndex((l) => l.trim() !== '' && l.replace(/[,\s]/g, '') !== '');
  if (i < 0) return `${file}: holds no label rows`;
  let fields: string[];
  try {
    fields = parseCsv(lines[i], file).flatMap((r) => r.fields);
  } catch (e) {
    return `${file}:${i + 1}: ${(e as Error).message.replace(/^.*?:\d+: /, '')}`;
  }
  const want = 'expected <image name>,<face box>,<10 vote counts> (FERPlus)';
  if (fields.length !== 12) return `${file}:${i + 1}: ${want}, got ${fields.length} field(s): ${lines[i].slice(0, 80)}`;
  const bad = fields.slice(2).findIndex((f) => f.trim() === '' || !Number.isFinite(Number(f)));
  return `${file}:${i + 1}: ${want}; vote column ${bad + 1} is "${fields[bad + 2]}", not a number`;
}

/** Which format a path holds, or null. */
export function detectFormat(p: string): DatasetFormat | null {
  if (!fs.existsSync(p)) return null;
  if (!isDir(p)) {
    if (p.toLowerCase().endsWith('.csv')) return looksLikeFerplusLabels(p) ? 'ferplus' : 'csv';
    if (path.basename(p) === 'list_patition_label.txt') return 'rafdb';
    return null;
  }
  if (looksLikeFerplusLabels(path.join(p, 'label.csv'))) return 'ferplus';
  if (findRafdbList(p)) return 'rafdb';
  if (classFolders(p).length > 0) return 'folder';
  return null;
}

/**
 * Read a dataset, detecting its layout: a folder with label.csv of 10 votes → FERPlus;
 * list_patition_label.txt (in the folder or its EmoLabel/) → RAF-DB; a .csv file → manifest;
 * a folder of subfolders → folder per class. See DatasetSpec.split for split handling.
 */
export function readDataset(spec: string | DatasetSpec, split?: string): Dataset {
  const s: DatasetSpec = typeof spec === 'string' ? { path: spec } : { ...spec };
  if (split !== undefined) s.split = split;
  let p = path.resolve(s.path);
  if (!fs.existsSync(p)) throw new Error(`dataset not found: ${p}`);
  let splitUsed = false;
  // a folder of split subfolders
  if (s.split !== undefined && isDir(p) && !findRafdbList(p)) {
    const key = s.split.toLowerCase();
    const cands = [FERPLUS_SPLITS[key], s.split].filter((x): x is string => !!x);
    const sub = cands.map((c) => path.join(p, c)).find(isDir);
    if (sub) {
      p = sub;
      splitUsed = true;
    }
  }
  const format = s.format ?? detectFormat(p);
  if (!format) {
    // a folder with a label.csv meant to be FERPlus: say what is wrong with it, where
    const labels = path.join(p, 'label.csv');
    if (isDir(p) && fs.existsSync(labels)) throw new Error(`cannot read ${p} as FERPlus: ${ferplusLabelsProblem(labels)}`);
    throw new Error(
      `cannot tell the dataset layout of ${p}: expected label.csv with 10 vote columns (FERPlus), ` +
        `list_patition_label.txt (RAF-DB), a .csv manifest, or a folder of class folders`,
    );
  }
  const unusedSplit = (what: string) => {
    if (s.split !== undefined && !splitUsed) {
      throw new Error(`${what} at ${p} has no split '${s.split}' (no such subfolder)`);
    }
  };
  switch (format) {
    case 'ferplus':
      unusedSplit('FERPlus folder');
      return readFerplus(p, s);
    case 'rafdb': {
      const sp = s.split?.toLowerCase();
      if (sp !== 'train' && sp !== 'test') throw new Error(`RAF-DB at ${p}: pass split 'train' or 'test'`);
      const dir = isDir(p) ? p : path.dirname(p);
      return readRafdb(dir, sp, s);
    }
    case 'csv':
      return readCsvManifest(p, { ...s, split: s.split });
    case 'folder':
      unusedSplit('Folder dataset');
      return readFolder(p, s);
  }
}
