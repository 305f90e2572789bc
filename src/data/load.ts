/** A dataset folder and split → a decoded image set for a model (what --data/--split mean everywhere). */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readDataset } from './detect.js';
import { decodeDataset } from './decode.js';
import { mapClasses } from './classes.js';
import type { Dataset, ImageSet } from './types.js';
import type { FerplusSoftMode } from './ferplus.js';
import type { InputSpec } from '../model/config.js';
import { Progress } from '../util/progress.js';

/** Guess the train and validation splits of a dataset folder. */
export function defaultSplits(dataPath: string): { train: string | undefined; val: string | undefined } {
  const p = resolve(dataPath);
  const isDir = (q: string) => existsSync(q) && statSync(q).isDirectory();
  if (isDir(join(p, 'FER2013Train'))) return { train: 'train', val: isDir(join(p, 'FER2013Valid')) ? 'valid' : undefined };
  if (existsSync(join(p, 'EmoLabel', 'list_patition_label.txt')) || existsSync(join(p, 'list_patition_label.txt'))) {
    return { train: 'train', val: 'test' };
  }
  if (isDir(join(p, 'train'))) {
    const val = ['val', 'valid', 'validation', 'test'].find((v) => isDir(join(p, v)));
    return { train: 'train', val };
  }
  return { train: undefined, val: undefined };
}

/**
 * Read a split, keep the labelled faces, match the class list (same names in any order and any case
 * are matched by name; different class lists need an explicit mapping), and decode to the input spec.
 */
export async function loadSet(
  path: string,
  split: string | undefined,
  input: InputSpec,
  opts: { classes?: string[]; mapping?: Record<string, string | null>; limit?: number; quiet?: boolean; keepUnlabelled?: boolean; votes?: FerplusSoftMode } = {},
): Promise<{ set: ImageSet; dataset: Dataset }> {
  let ds = readDataset({ path, split, soft: opts.votes });
  if (!opts.keepUnlabelled) ds = { ...ds, samples: ds.samples.filter((s) => s.label >= 0) };
  if (opts.classes) {
    const a = [...ds.classes].map((c) => c.toLowerCase()).sort().join(',');
    const b = [...opts.classes].map((c) => c.toLowerCase()).sort().join(',');
    if (a !== b && !opts.mapping) {
      throw new Error(
        `${ds.name}: its classes [${ds.classes.join(', ')}] differ from the model's [${opts.classes.join(', ')}]; ` +
          `pass --map "theirs=ours,..." to map them explicitly`,
      );
    }
    ds = mapClasses(ds, opts.classes, opts.mapping);
  }
  if (opts.limit && opts.limit > 0 && ds.samples.length > opts.limit) ds = { ...ds, samples: ds.samples.slice(0, opts.limit) };
  if (ds.samples.length === 0) throw new Error(`${ds.name}: no labelled images found`);
  const bar = opts.quiet ? null : new Progress({ total: ds.samples.length, label: `decode ${ds.name}`, unit: 'img' });
  let shown = 0;
  const set = await decodeDataset(ds, {
    height: input.height,
    width: input.width,
    channels: input.channels,
    onProgress: (done) => {
      bar?.tick(done - shown);
      shown = done;
    },
  });
  if (bar && !set.fromCache) bar.done({});
  return { set, dataset: ds };
}

/** Parse "a=b,c=d" (an empty right side drops a class). */
export function parseMapping(s: string | undefined): Record<string, string | null> | undefined {
  if (!s) return undefined;
  const out: Record<string, string | null> = {};
  for (const part of s.split(',')) {
    const [k, v] = part.split('=');
    if (!k || v === undefined) throw new Error(`--map: expected "theirs=ours,...", got "${part}"`);
    out[k.trim()] = v.trim() === '' ? null : v.trim();
  }
  return out;
}
