/** Helpers shared by the readers. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dataset, Sample } from './types.js';

/** Options every reader accepts. */
export interface ReadOptions {
  /**
   * Drop samples whose hard label is -1 (FERPlus "unknown"/"not a face", a CSV row with all-zero soft
   * labels or an empty label). Default true: training and evaluation use labelled faces only.
   */
  excludeUnlabelled?: boolean;
  /** Do not print warnings with console.warn (they are still returned in `Dataset.warnings`). */
  quiet?: boolean;
}

/** File extensions read as images (lower case, with dot). */
export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff']);

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
}

/**
 * Existence test for many files, cheap: each directory is listed once and the names kept in a set.
 */
export function makeExists(): (file: string) => boolean {
  const dirs = new Map<string, Set<string> | null>();
  return (file: string) => {
    const d = path.dirname(file);
    let set = dirs.get(d);
    if (set === undefined) {
      try {
        set = new Set(fs.readdirSync(d));
      } catch {
        set = null;
      }
      dirs.set(d, set);
    }
    if (set === null || !set.has(path.basename(file))) return false;
    return true;
  };
}

/** Print a reader's warnings in a compact form (first few, then a count). */
export function printWarnings(source: string, warnings: string[], quiet?: boolean, max = 5): void {
  if (quiet || warnings.length === 0) return;
  for (const w of warnings.slice(0, max)) console.warn(`poi data: ${w}`);
  if (warnings.length > max) console.warn(`poi data: ... and ${warnings.length - max} more warnings for ${source}`);
}

/** Build a Dataset, applying excludeUnlabelled and printing warnings. */
export function finishDataset(
  name: string,
  classes: string[],
  samples: Sample[],
  warnings: string[],
  opts: ReadOptions | undefined,
): Dataset {
  const exclude = opts?.excludeUnlabelled ?? true;
  const kept = exclude ? samples.filter((s) => s.label >= 0) : samples;
  printWarnings(name, warnings, opts?.quiet);
  return { name, classes, samples: kept, warnings };
}

/** Normalise non-negative weights to sum 1; null when the sum is 0. */
export function normalise(v: ArrayLike<number>): Float32Array | null {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  if (!(s > 0)) return null;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] / s;
  return out;
}

/** Index of the first maximum. */
export function argmax(v: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[b]) b = i;
  return b;
}
