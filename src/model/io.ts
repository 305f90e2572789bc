/**
 * Saving and loading. A saved model is a folder:
 *   model.json   format, poi version, classes, input spec, full config, metrics it was saved with,
 *                and the weight manifest (name, shape, byte offset);
 *   weights.bin  little-endian values in manifest order (float32; float16/uint8 when compact).
 * Loading needs nothing else. A checkpoint is one file (header + tensors) written atomically.
 */
import { cp, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { PoiConfig } from './config.js';
import type { PoiModel } from './poi.js';
import { processAlive, writeFileAtomic } from '../util/fs.js';
import { crashPoint } from '../util/crash.js';
import { describeBandsProblem } from '../ui/describe.js';
import { MODEL_FORMAT, MODEL_FORMAT_VERSION, modelFromParts, packTensors, parseModelManifest, unpackTensors, type CalibrationRecord, type ConfidenceRecord, type DescribeRecord, type ModelManifest, type TensorMap, type WeightDtype, type WeightEntry } from './format.js';

// The pure format (parsing, packing) lives in format.ts so the browser shares it; re-exported here unchanged.
export { MODEL_FORMAT, MODEL_FORMAT_VERSION, modelFromParts, packTensors, parseModelManifest, unpackTensors, type CalibrationRecord, type ConfidenceRecord, type DescribeRecord, type ModelManifest, type TensorMap, type WeightEntry };

/** A model folder's ONNX export (re-exported by src/onnx/export.ts). */
export const ONNX_FILE = 'model.onnx';

/** Save a model folder. Written to a temporary folder first and swapped in, so a crash never leaves half a model. */
export async function saveModel(model: PoiModel, config: PoiConfig, dir: string, metrics: Record<string, unknown> = {}): Promise<void> {
  const { manifest: weights, data } = packTensors(await model.params.read());
  const manifest: ModelManifest = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    classes: model.classes,
    input: config.model.input,
    config,
    metrics,
    savedAt: new Date().toISOString(),
    weights,
  };
  await writeModelFolder(dir, manifest, data);
}

/** model.json's bytes for a manifest, as every writer stores them. */
function manifestBytes(manifest: ModelManifest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n');
}

/**
 * model.json + weights.bin (and `extra` files, such as a fresh model.onnx) into `dir`, through a
 * temporary folder swapped in. With `copyFrom`, that folder's other files come along too, except
 * model.onnx, which the new weights make stale.
 */
async function writeModelFolder(dir: string, manifest: ModelManifest, data: Uint8Array, copyFrom?: string, extra: Record<string, Uint8Array> = {}): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  if (copyFrom) {
    const skip = new Set(['model.json', 'weights.bin', ONNX_FILE]);
    await cp(copyFrom, tmp, { recursive: true, filter: (src) => !skip.has(relative(resolve(copyFrom), resolve(src))) });
  } else {
    await mkdir(tmp, { recursive: true });
  }
  await writeFileAtomic(join(tmp, 'weights.bin'), data);
  await writeFileAtomic(join(tmp, 'model.json'), manifestBytes(manifest));
  for (const [name, bytes] of Object.entries(extra)) await writeFileAtomic(join(tmp, name), bytes);
  crashPoint('model:before-swap');
  const old = `${dir}.old-${process.pid}`;
  const exists = await stat(dir).then(() => true, () => false);
  if (exists) await rename(dir, old);
  crashPoint('model:mid-swap');
  await rename(tmp, dir);
  crashPoint('model:after-swap');
  if (exists) await rm(old, { recursive: true, force: true });
}

/** The storage type a folder's large tensors use (what a rewrite keeps unless told otherwise). */
export function storedDtype(manifest: ModelManifest): WeightDtype {
  return manifest.weights.find((w) => w.dtype)?.dtype ?? 'float32';
}

export interface RewriteOptions {
  /** Edit the weights in place (the temperature, the balance offsets). */
  edit?: (tensors: TensorMap, source: string) => void;
  /** Merged into model.json. */
  patch?: Partial<ModelManifest>;
  /** Records removed from model.json, ones the edit makes stale (fit-confidence drops `describe`). */
  drop?: readonly ('calibration' | 'balance' | 'confidence' | 'describe')[];
  /** Storage type of the new weights (default: the folder's own). */
  dtype?: WeightDtype;
  /**
   * weights.bin copied byte for byte and its manifest kept (model.json alone changes, as for
   * tune-describe --write); not with `edit` or `dtype`.
   */
  keepWeights?: boolean;
}

/**
 * The one read → edit → repack → swap of a saved model folder: `srcDir`'s weights, edited and repacked,
 * with `patch` merged into model.json (and `drop`'s records removed), into `outDir` (may equal srcDir).
 * The folder's other files are copied; its model.onnx, which holds the old weights (and is fingerprinted
 * by model.json's bytes too), is exported afresh from the new ones (every caller: export --weights,
 * calibrate, balance, fit-confidence, tune-describe --write). The new folder is assembled next to outDir and swapped
 * in, so a crash leaves the old model or the new one, never a mix; an outDir that holds something other
 * than a model is refused. `onnx` says whether model.onnx was re-exported.
 */
export async function rewriteModelFolder(srcDir: string, outDir: string, o: RewriteOptions = {}): Promise<{ manifest: ModelManifest; before: number; after: number; onnx: boolean }> {
  const manifest = await readModelManifest(srcDir);
  const wfile = join(srcDir, 'weights.bin');
  const bytes = new Uint8Array(await readFile(wfile).catch(() => {
    throw new Error(`${srcDir}: weights.bin is missing`);
  }));
  if (o.keepWeights && (o.edit || o.dtype)) throw new Error('rewriteModelFolder: keepWeights cannot go with edit or dtype');
  const tensors = unpackTensors(manifest.weights, bytes, wfile);
  o.edit?.(tensors, wfile);
  const packed = o.keepWeights ? { manifest: manifest.weights, data: bytes } : packTensors(tensors, o.dtype ?? storedDtype(manifest));
  const out: ModelManifest = { ...manifest, ...o.patch, weights: packed.manifest };
  for (const key of o.drop ?? []) delete out[key];
  if (resolve(srcDir) !== resolve(outDir)) {
    const st = await stat(outDir).catch(() => null);
    if (st && !st.isDirectory()) throw new Error(`${outDir}: exists and is not a folder; refusing to replace it`);
    const entries = st ? await readdir(outDir) : null;
    if (entries && entries.length > 0 && !entries.includes('model.json')) {
      throw new Error(`${outDir}: exists and is not a poi model folder; refusing to replace it`);
    }
  }
  const extra: Record<string, Uint8Array> = {};
  const onnx = await stat(join(srcDir, ONNX_FILE)).then(() => true, () => false);
  if (onnx) {
    // exported from exactly the bytes written, so its fingerprint matches the new folder (ort-runner)
    const { onnxBytesFromDir } = await import('../onnx/export.js');
    extra[ONNX_FILE] = await onnxBytesFromDir({ dir: resolve(outDir), manifest: out, modelJson: manifestBytes(out), weights: packed.data });
  }
  await writeModelFolder(resolve(outDir), out, packed.data, srcDir, extra);
  return { manifest: out, before: bytes.byteLength, after: packed.data.byteLength, onnx };
}

/**
 * Store describe bands (bench/tune-describe.ts --write) under `dir`'s model.json `describe`, in place:
 * weights.bin is kept byte for byte, model.onnx re-exported (its fingerprint covers model.json). Bands
 * that cannot be used (NaN, outside [0, 1], unsure above clear) are refused and nothing is written.
 */
export async function writeDescribeRecord(dir: string, record: DescribeRecord): Promise<{ manifest: ModelManifest; onnx: boolean }> {
  const problem = describeBandsProblem(record);
  if (problem) throw new Error(`${dir}: describe bands not written: ${problem}`);
  const { manifest, onnx } = await rewriteModelFolder(dir, dir, { patch: { describe: record }, keepWeights: true });
  return { manifest, onnx };
}

/**
 * Rewrite a model folder's weights as float32, float16 or uint8 (tensors of 1024+ values; the rest stay
 * float32) into `outDir` (may be `dir`). Returns the byte sizes and whether model.onnx was re-exported.
 */
export async function rewriteWeights(dir: string, outDir: string, dtype: WeightDtype): Promise<{ before: number; after: number; onnx: boolean }> {
  const { before, after, onnx } = await rewriteModelFolder(dir, outDir, { dtype });
  return { before, after, onnx };
}

const SWAP_RE = /^(.+)\.(tmp|old)-(\d+)$/;

/**
 * Clean up after a saveModel that was killed: `<dir>.tmp-<pid>` (the new model, complete or not) and
 * `<dir>.old-<pid>` (the model being replaced) of processes that no longer run. A kill between the two
 * renames leaves no `<dir>` at all; the old model is then put back, since it is the one the rest of the
 * run (its checkpoint) knows about. Returns what was removed or restored, for the log.
 */
export async function recoverModelSwap(dir: string): Promise<string[]> {
  const parent = dirname(dir);
  const name = basename(dir);
  const done: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(parent);
  } catch {
    return done;
  }
  // this process's own leftovers are stale too: the caller holds the folder, so none is being written
  const stale: { e: string; kind: string }[] = [];
  for (const e of entries) {
    const m = SWAP_RE.exec(e);
    if (m && m[1] === name && (Number(m[3]) === process.pid || !processAlive(Number(m[3])))) stale.push({ e, kind: m[2] });
  }
  const exists = await stat(dir).then(() => true, () => false);
  if (!exists) {
    const old = stale.find((s) => s.kind === 'old');
    if (old) {
      await rename(join(parent, old.e), dir);
      done.push(`${old.e} restored as ${name}`);
    }
  }
  for (const { e } of stale) {
    if (done.some((d) => d.startsWith(`${e} `))) continue;
    await rm(join(parent, e), { recursive: true, force: true });
    done.push(`${e} removed`);
  }
  return done;
}

export async function readModelManifest(dir: string): Promise<ModelManifest> {
  const file = join(dir, 'model.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`${dir}: not a poi model folder (no model.json)`);
  }
  return parseModelManifest(text, file);
}

/** Load a model folder into a ready PoiModel (backend must be initialised). */
/** A model folder read once: what every consumer (tfjs, the ONNX export and its cache key) needs. */
export interface ModelFolder {
  dir: string;
  manifest: ModelManifest;
  /** model.json's and weights.bin's bytes as read (the ONNX cache is keyed by their hash). */
  modelJson: Uint8Array;
  weights: Uint8Array;
}

/** A model folder by path, or one already read. */
export type ModelSource = string | ModelFolder;

/** Read model.json and weights.bin once. */
export async function readModelFolder(dir: string): Promise<ModelFolder> {
  const manifest = await readModelManifest(dir);
  const modelJson = new Uint8Array(await readFile(join(dir, 'model.json')));
  const weights = new Uint8Array(await readFile(join(dir, 'weights.bin')).catch(() => {
    throw new Error(`${dir}: weights.bin is missing`);
  }));
  return { dir, manifest, modelJson, weights };
}

export async function modelFolderOf(src: ModelSource): Promise<ModelFolder> {
  return typeof src === 'string' ? readModelFolder(src) : src;
}

/** Load a model folder (a path, or one already read) into a ready PoiModel (backend must be initialised). */
export async function loadModel(src: ModelSource): Promise<{ model: PoiModel; manifest: ModelManifest }> {
  const f = await modelFolderOf(src);
  return { model: modelFromParts(f.manifest, f.weights, join(f.dir, 'weights.bin')), manifest: f.manifest };
}

/** Checkpoint file: "POICKPT1", u32 header length, header JSON, then packed tensors. */
const MAGIC = 'POICKPT1';

export async function writeCheckpoint(file: string, header: Record<string, unknown>, tensors: TensorMap): Promise<void> {
  const { manifest, data } = packTensors(tensors);
  const head = new TextEncoder().encode(JSON.stringify({ ...header, tensors: manifest }));
  const pad = (4 - ((MAGIC.length + 4 + head.length) % 4)) % 4;
  const buf = new Uint8Array(MAGIC.length + 4 + head.length + pad + data.length);
  buf.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(buf.buffer).setUint32(MAGIC.length, head.length + pad, true);
  buf.set(head, MAGIC.length + 4);
  buf.fill(0x20, MAGIC.length + 4 + head.length, MAGIC.length + 4 + head.length + pad);
  buf.set(data, MAGIC.length + 4 + head.length + pad);
  await writeFileAtomic(file, buf, { crashPoint: 'checkpoint' });
}

export async function readCheckpoint<H extends Record<string, unknown>>(file: string): Promise<{ header: H; tensors: TensorMap }> {
  const buf = new Uint8Array(await readFile(file));
  if (new TextDecoder().decode(buf.subarray(0, MAGIC.length)) !== MAGIC) throw new Error(`${file}: not a poi checkpoint`);
  const len = new DataView(buf.buffer, buf.byteOffset).getUint32(MAGIC.length, true);
  const start = MAGIC.length + 4;
  let header: H & { tensors: WeightEntry[] };
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(start, start + len)));
  } catch {
    throw new Error(`${file}: checkpoint header is corrupt`);
  }
  const tensors = unpackTensors(header.tensors, buf.subarray(start + len), file);
  return { header, tensors };
}
