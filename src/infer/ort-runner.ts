/**
 * Run an exported TRN with onnxruntime-node (CPU): several times tfjs-wasm's inference speed. The
 * runner uses `<model dir>/model.onnx` when it is at least as new as weights.bin (written by
 * `poi export --onnx`) and was exported from these very weights (a sha256 of model.json + weights.bin
 * in its metadata: git checkouts do not keep file times); otherwise it exports on the fly into the
 * cache folder ($POI_CACHE_DIR or ~/.cache/poi, under onnx/), keyed by that hash, so a retrained
 * model never runs stale weights. onnxruntime-node is loaded lazily: where its native binary is missing,
 * `onnxAvailable()` says false and callers keep tfjs.
 */
import { createRequire } from 'node:module';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { InputSpec } from '../model/config.js';
import type { TrnRunner } from './runner.js';
import { modelFolderOf, type ModelSource } from '../model/io.js';
import { writeFileAtomic, ensureDir } from '../util/fs.js';
import { FINGERPRINT_KEY, fingerprintOf, ONNX_CONFIDENCE, ONNX_EXPORT_VERSION, ONNX_FILE, ONNX_INPUT, ONNX_PROBS, onnxBytesFromDir } from '../onnx/export.js';
import { decodeModel } from '../onnx/proto.js';


export interface OrtRunnerOptions {
  /** Intra-op threads (default: os.availableParallelism(), every hardware thread; onnxruntime's own default
   * counts physical cores, which leaves one of two hyperthreads idle). */
  threads?: number;
  /** Where on-the-fly exports go (default $POI_CACHE_DIR/onnx or ~/.cache/poi/onnx). */
  cacheDir?: string;
  /** Ignore <dir>/model.onnx and always export from the weights. */
  forceExport?: boolean;
  /** Largest batch handed to onnxruntime in one call; bigger batches run in chunks of this size
   * (default DEFAULT_ORT_MAX_BATCH: large batches' activations fall out of the CPU caches). */
  maxBatch?: number;
}

/** See OrtRunnerOptions.maxBatch (`npm run bench:ort-tuning` measures faces/s per chunk size). */
export const DEFAULT_ORT_MAX_BATCH = 4;

type Ort = typeof import('onnxruntime-node');
const require = createRequire(import.meta.url);
let ort: Ort | null | undefined;
let ortError = '';

function loadOrt(): Ort | null {
  if (ort === undefined) {
    try {
      // require loads the native binding right away, so success means it can run
      ort = require('onnxruntime-node') as Ort;
    } catch (e) {
      ort = null;
      ortError = (e as Error).message.split('\n')[0];
    }
  }
  return ort;
}

/** Whether onnxruntime-node loads here (never throws). */
export function onnxAvailable(): boolean {
  try {
    return loadOrt() !== null;
  } catch {
    return false;
  }
}

function defaultCacheDir(): string {
  return join(process.env.POI_CACHE_DIR || join(homedir(), '.cache', 'poi'), 'onnx');
}

async function mtime(file: string): Promise<number | null> {
  return stat(file).then((s) => s.mtimeMs, () => null);
}

/** The fingerprint stored in an .onnx file's metadata by poi's exporter, or null. */
async function storedFingerprint(file: string): Promise<string | null> {
  try {
    const m = decodeModel(new Uint8Array(await readFile(file)));
    return m.metadataProps?.find((p) => p.key === FINGERPRINT_KEY)?.value ?? null;
  } catch {
    return null;
  }
}

/**
 * The .onnx file to run for a model folder: its model.onnx if not older than weights.bin and exported
 * from these very weights (fingerprint in its metadata), else an export into the cache (reused while
 * model.json and weights.bin are unchanged).
 */
export async function resolveOnnxFile(src: ModelSource, opts: OrtRunnerOptions = {}): Promise<{ file: string; exported: boolean }> {
  const modelDir = typeof src === 'string' ? src : src.dir;
  const own = join(modelDir, ONNX_FILE);
  const weights = join(modelDir, 'weights.bin');
  const wTime = await mtime(weights);
  if (wTime === null) throw new Error(`${modelDir}: weights.bin is missing`);
  const folder = await modelFolderOf(src);
  const fingerprint = fingerprintOf(folder.modelJson, folder.weights);
  const oTime = opts.forceExport ? null : await mtime(own);
  if (oTime !== null && oTime >= wTime && (await storedFingerprint(own)) === fingerprint) return { file: own, exported: false };
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const file = join(cacheDir, `trn-v${ONNX_EXPORT_VERSION}-${fingerprint.slice(0, 24)}.onnx`);
  if ((await mtime(file)) !== null) return { file, exported: false };
  await ensureDir(cacheDir);
  await writeFileAtomic(file, await onnxBytesFromDir(folder));
  return { file, exported: true };
}

/** An onnxruntime-node runner for a model folder's TRN. Throws if onnxruntime-node cannot load. */
export async function createOrtRunner(src: ModelSource, opts: OrtRunnerOptions = {}): Promise<TrnRunner & { readonly file: string; readonly input: InputSpec; readonly classes: string[] }> {
  const rt = loadOrt();
  if (!rt) throw new Error(`onnxruntime-node is not available (${ortError})`);
  const folder = await modelFolderOf(src);
  const { manifest } = folder;
  const { file } = await resolveOnnxFile(folder, opts);
  const sessionOpts: import('onnxruntime-node').InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
  sessionOpts.intraOpNumThreads = opts.threads || availableParallelism();
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await rt.InferenceSession.create(file, sessionOpts);
  } catch (e) {
    throw new Error(`${file}: onnxruntime could not load the model (${(e as Error).message})`);
  }
  const { height: H, width: W, channels: C } = manifest.input;
  const per = H * W * C;
  const k = manifest.classes.length;
  // sanity: a model.onnx written for another model would silently give wrong answers
  const outNames = session.outputNames;
  if (!session.inputNames.includes(ONNX_INPUT) || !outNames.includes(ONNX_PROBS) || !outNames.includes(ONNX_CONFIDENCE)) {
    throw new Error(`${file}: not a poi TRN export (inputs ${session.inputNames}, outputs ${outNames})`);
  }
  const maxBatch = opts.maxBatch ?? DEFAULT_ORT_MAX_BATCH;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error(`onnxruntime runner: maxBatch must be a positive integer, got ${maxBatch}`);
  let disposed = false;
  return {
    backend: 'onnxruntime',
    file: resolve(file),
    input: manifest.input,
    classes: manifest.classes,
    async run(input: Float32Array, n: number) {
      if (disposed) throw new Error('onnxruntime runner used after dispose()');
      if (!Number.isInteger(n) || n < 1) throw new Error(`run: n must be a positive integer, got ${n}`);
      if (input.length !== n * per) throw new Error(`run: expected ${n}x${H}x${W}x${C} = ${n * per} floats, got ${input.length}`);
      const probs = new Float32Array(n * k);
      const confidence = new Float32Array(n);
      for (let i = 0; i < n; i += maxBatch) {
        const m = Math.min(maxBatch, n - i);
        const x = new rt.Tensor('float32', input.subarray(i * per, (i + m) * per), [m, H, W, C]);
        const out = await session.run({ [ONNX_INPUT]: x });
        const p = out[ONNX_PROBS].data as Float32Array;
        const c = out[ONNX_CONFIDENCE].data as Float32Array;
        if (p.length !== m * k || c.length !== m) {
          throw new Error(`${file}: outputs have ${p.length} probs and ${c.length} confidences for ${m} faces and ${k} classes`);
        }
        probs.set(p, i * k);
        confidence.set(c, i);
        for (const t of Object.values(out)) t.dispose();
      }
      return { probs, confidence };
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      void session.release();
    },
  };
}
