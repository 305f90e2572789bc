/** A folder per class: `dir/<class>/**\/*.png|jpg|…`. Classes are the subfolder names, sorted. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dataset, Sample } from './types.js';
import { type ReadOptions, finishDataset, isImageFile } from './common.js';

function listImages(dir: string, out: string[]): void {
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try {
        const st = fs.statSync(p);
        isDir = st.isDirectory();
        isFile = st.isFile();
      } catch {
        continue;
      }
    }
    if (isDir) listImages(p, out);
    else if (isFile && isImageFile(e.name)) out.push(p);
  }
}

/** Subfolders of dir (not hidden), sorted by code point. */
export function classFolders(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && isDirSafe(path.join(dir, e.name)))))
    .map((e) => e.name)
    .sort();
}

function isDirSafe(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Read a folder-per-class dataset. Subfolders (sorted) are the classes; images anywhere below a class
 * folder belong to it (sorted paths). A class folder without images is kept as a class and reported.
 */
export function readFolder(dir: string, opts: ReadOptions = {}): Dataset {
  const root = path.resolve(dir);
  if (!isDirSafe(root)) throw new Error(`folder dataset: ${root} is not a directory`);
  const classes = classFolders(root);
  if (classes.length === 0) throw new Error(`folder dataset: ${root} has no class subfolders`);
  const samples: Sample[] = [];
  const warnings: string[] = [];
  classes.forEach((c, k) => {
    const files: string[] = [];
    listImages(path.join(root, c), files);
    files.sort();
    if (files.length === 0) warnings.push(`${path.join(root, c)}: class '${c}' has no images`);
    for (const f of files) samples.push({ path: f, label: k });
  });
  return finishDataset(`folder:${root}`, classes, samples, warnings, opts);
}
