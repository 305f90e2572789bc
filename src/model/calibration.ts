/**
 * Baking a temperature into a saved model folder. Temperature scaling divides TRN's logits by T; the
 * logits are the output of one Dense layer (trn.head: logits = g·W + b), so dividing W and b by T gives
 * exactly logits / T. After that every consumer of the folder — tfjs, the ONNX export, the browser
 * page, every command — gets calibrated probabilities with no code of its own.
 *
 * The uncertainty module's confidence c is untouched: it reads the pooled features g, not the logits
 * (src/model/trn.ts). Only a model without that module, whose confidence is the top probability,
 * sees its confidence change, and then it is the calibrated top probability.
 */
import { cp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { readModelManifest } from './io.js';
import { packTensors, unpackTensors, type CalibrationRecord, type ModelManifest, type TensorMap } from './format.js';
import { writeFileAtomic } from '../util/fs.js';

/** TRN's classification layer (src/model/trn.ts: new Dense(p, 'trn.head', ...)). */
export const HEAD_LAYER = 'trn.head';

/** Divide the head's weight and bias by `factor` in a tensor map (in place). */
export function scaleHead(tensors: TensorMap, factor: number, source: string): void {
  if (!(factor > 0 && Number.isFinite(factor))) throw new RangeError(`temperature must be positive and finite, got ${factor}`);
  for (const name of [`${HEAD_LAYER}.w`, `${HEAD_LAYER}.b`]) {
    const t = tensors.get(name);
    if (!t) throw new Error(`${source}: no "${name}" in the weights; not a poi TRN?`);
    const inv = 1 / factor;
    for (let i = 0; i < t.values.length; i++) t.values[i] *= inv;
  }
}

/** Subtract per-class offsets from the head's bias (in place): logits − offset, for every consumer. */
export function shiftHeadBias(tensors: TensorMap, offsets: ArrayLike<number>, source: string): void {
  const b = tensors.get(`${HEAD_LAYER}.b`);
  if (!b) throw new Error(`${source}: no "${HEAD_LAYER}.b" in the weights; not a poi TRN?`);
  if (b.values.length !== offsets.length) throw new Error(`${source}: ${offsets.length} offsets for a head of ${b.values.length} classes`);
  for (let i = 0; i < offsets.length; i++) b.values[i] -= offsets[i];
}

/**
 * Write `srcDir`'s model with its head divided by `factor` and `record` under model.json's
 * `calibration`, into `outDir` (may equal srcDir).
 */
export function writeCalibratedModel(srcDir: string, outDir: string, factor: number, record: CalibrationRecord): Promise<ModelManifest> {
  return writeEditedModel(srcDir, outDir, (t, source) => scaleHead(t, factor, source), { calibration: record });
}

/**
 * Write `srcDir`'s model with its weights edited by `edit` and `patch` merged into model.json, into
 * `outDir` (may equal srcDir), keeping the weights' storage type. Other files of the folder are copied,
 * except model.onnx, which the new weights make stale (the caller re-exports it). The new folder is
 * assembled next to outDir and swapped in, so a crash leaves the old model or the new one, never a mix.
 */
export async function writeEditedModel(srcDir: string, outDir: string, edit: (t: TensorMap, source: string) => void, patch: Partial<ModelManifest>): Promise<ModelManifest> {
  const manifest = await readModelManifest(srcDir);
  const wfile = join(srcDir, 'weights.bin');
  const data = new Uint8Array(await readFile(wfile).catch(() => {
    throw new Error(`${srcDir}: weights.bin is missing`);
  }));
  const tensors = unpackTensors(manifest.weights, data, wfile);
  edit(tensors, wfile);
  const packed = packTensors(tensors, manifest.weights.find((w) => w.dtype)?.dtype ?? 'float32');
  const out: ModelManifest = { ...manifest, ...patch, weights: packed.manifest };

  const same = resolve(srcDir) === resolve(outDir);
  const outExists = await stat(outDir).then((s) => s.isDirectory(), () => false);
  if (!same && outExists) {
    const entries = await readdir(outDir);
    if (entries.length > 0 && !entries.includes('model.json')) {
      throw new Error(`${outDir}: exists and is not a poi model folder; refusing to replace it`);
    }
  }
  const tmp = `${resolve(outDir)}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  const skip = new Set(['model.json', 'weights.bin', 'model.onnx']);
  await cp(srcDir, tmp, { recursive: true, filter: (src) => !skip.has(relative(resolve(srcDir), resolve(src))) });
  await writeFileAtomic(join(tmp, 'weights.bin'), packed.data);
  await writeFileAtomic(join(tmp, 'model.json'), JSON.stringify(out, null, 2) + '\n');
  const old = `${resolve(outDir)}.old-${process.pid}`;
  if (outExists) await rename(outDir, old);
  await rename(tmp, outDir);
  if (outExists) await rm(old, { recursive: true, force: true });
  return out;
}
