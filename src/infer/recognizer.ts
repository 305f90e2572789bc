/**
 * Recognise expressions in ordinary photos:
 *
 *   import { createRecognizer } from 'poi-fer';
 *   const r = await createRecognizer();                 // shipped model, wasm backend, BlazeFace detector
 *   const faces = await r.recognize('photo.jpg');       // or a Buffer / Uint8Array of an encoded image
 *   faces[0].emotion, faces[0].emotions.happiness, faces[0].confidence
 *   await r.recognize(buf, { explain: true });          // + PIN's regions (placed on the photo) and AUs
 *   await r.recognize('crop.png', { aligned: true });   // the input is already an aligned face crop
 *   r.dispose();
 *
 * Pipeline: decode (EXIF rotation; sharp shrinks to maxSide while decoding) → a detector and its landmarks
 * (BlazeFace's box and keypoints by default, or face-api's SSD or tiny + 68 landmarks: src/face/locators.ts) →
 * similarity alignment to the FERPlus framing (src/face/align.ts) → TRN through a TrnRunner (tfjs by
 * default) → per-face result. Everything after decoding and detection, batches and the time per stage
 * included, is src/infer/pipeline.ts, which the browser page runs too; this file is Node's platform. Coordinates in results are pixels of the photo as displayed (after EXIF rotation),
 * at its full resolution.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { initBackend } from '../backend/index.js';
import { loadModel, readModelFolder, type ModelManifest } from '../model/io.js';
import type { PoiModel } from '../model/poi.js';
import { decodeAligned, decodePhoto, type ShrinkMode } from '../face/image.js';
import { DEFAULT_LOCATOR, LOCATORS, type LocatorName } from '../face/kinds.js';
import { createLocator, Landmarks68, locateInCrop, type FaceLocator, type LocateTiming, type LocatorOptions } from '../face/locators.js';
import { parseTta, withFlipTta, type TrnRunner, type Tta } from './runner.js';
import { openRunner, type Runtime } from './runtime.js';
import { createPipeline, type FaceResult, type ImageResult, type RecognizeOptions } from './pipeline.js';

export type DetectorName = LocatorName;

/** The package's root folder (holds package.json and models/). */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

/** The shipped model: <package>/models/poi-ferplus, wherever the command is run from. */
export function defaultModelDir(): string {
  return join(packageRoot(), 'models', 'poi-ferplus');
}

export interface RecognizerOptions extends LocatorOptions {
  /** Model folder (model.json + weights.bin); default the shipped models/poi-ferplus. */
  model?: string;
  /** tfjs backend (wasm, cpu, tensorflow); default as initBackend. */
  backend?: string;
  /** wasm threads. */
  threads?: number;
  /**
   * Runs TRN instead of tfjs (e.g. createOrtRunner(modelDir) from src/infer/ort-runner.ts). The recognizer
   * disposes it. Detection and `explain` still use tfjs.
   */
  runner?: TrnRunner;
  /**
   * Which runtime runs TRN when no `runner` is given: 'onnx' (onnxruntime-node, a few times faster on a
   * CPU), 'tfjs', or 'auto' (default: onnx when onnxruntime-node loads, else tfjs).
   */
  runtime?: Runtime;
  /** 'flip': also run TRN on each face's mirror image and average (about +0.5 points, twice TRN's cost). Default 'none'. */
  tta?: Tta;
  /**
   * Photos are shrunk so their longer side is at most this many pixels before detection (default
   * DEFAULT_MAX_SIDE, 1280; the shrink is src/face/resize.ts, the same code as the browser demo's).
   */
  maxSide?: number;
  /** Image files larger than this many MB are refused (default DEFAULT_MAX_FILE_MB, 200; src/face/image.ts). */
  maxFileMb?: number;
  /** How photos are shrunk to maxSide: 'sharp' (libvips, while decoding; default) or 'js' (the browser demo's code). */
  shrink?: ShrinkMode;
}

export type { RecognizeOptions, RegionResult, FaceResult, ImageResult, StageTiming } from './pipeline.js';

export interface Recognizer {
  readonly classes: string[];
  readonly modelDir: string;
  readonly manifest: ModelManifest;
  /** The runner's backend, e.g. "tfjs-wasm". */
  readonly backend: string;
  /** The face detector in use (options.detector, default DEFAULT_LOCATOR: 'blazeface'). */
  readonly detector: DetectorName;
  /** Every face in the photo, largest detection score first. No face: an empty array. */
  recognize(input: string | Uint8Array, opts?: RecognizeOptions): Promise<FaceResult[]>;
  /** Same, with the photo's size and the time per stage. */
  recognizeImage(input: string | Uint8Array, opts?: RecognizeOptions): Promise<ImageResult>;
  /**
   * Several photos, decoded and aligned one after another (the next photo decodes while the current one is
   * detected), and one TRN call for all their faces. A photo that fails gives its Error in its place.
   */
  recognizeBatch(inputs: (string | Uint8Array)[], opts?: RecognizeOptions): Promise<(ImageResult | Error)[]>;
  /** TRN alone on n aligned crops (uint8, model input size and channels, back to back). */
  classify(crops: Uint8Array, n: number): Promise<{ probs: Float32Array; confidence: Float32Array }>;
  /** Load the detector now instead of on the first photo. */
  warmup(): Promise<void>;
  dispose(): void;
}

export async function createRecognizer(options: RecognizerOptions = {}): Promise<Recognizer> {
  const modelDir = resolve(options.model ?? defaultModelDir());
  const detectorName: DetectorName = options.detector ?? DEFAULT_LOCATOR;
  if (!LOCATORS.includes(detectorName)) throw new Error(`unknown detector "${detectorName}" (${LOCATORS.join(', ')})`);
  await initBackend({ backend: options.backend, threads: options.threads });
  // read once: the manifest, the tfjs model and the ONNX export all come from these bytes
  const folder = await readModelFolder(modelDir);
  const manifest = folder.manifest;
  const input = manifest.input;
  if (input.height !== input.width) throw new Error(`${modelDir}: the model's input is ${input.height}x${input.width}; poi aligns faces to square crops`);

  let model: PoiModel | null = null;
  let modelLoading: Promise<PoiModel> | null = null;
  const getModel = (): Promise<PoiModel> => {
    modelLoading ??= loadModel(folder).then((m) => (model = m.model));
    return modelLoading;
  };
  const tta = parseTta(options.tta) ?? 'none';
  const runner = options.runner
    ? tta === 'flip' ? withFlipTta(options.runner, input) : options.runner
    : await openRunner(folder, { runtime: options.runtime, tta, threads: options.threads, getModel });

  // loaded on first use (a failed load is retried next time)
  let locator: Promise<FaceLocator> | null = null;
  const getLocator = (): Promise<FaceLocator> => {
    locator ??= createLocator({ ...options, detector: detectorName }).catch((e) => {
      locator = null;
      throw e;
    });
    return locator;
  };
  let marks: Promise<Landmarks68> | null = null;
  const getMarks = (): Promise<Landmarks68> => {
    marks ??= Landmarks68.create(options.landmarks).catch((e) => {
      marks = null;
      throw e;
    });
    return marks;
  };
  let disposed = false;

  // Node's platform: sharp decodes (src/face/image.ts), face-api or BlazeFace on poi's tfjs detects
  // (src/face/locators.ts); the pipeline times both and splits detect from face-api's landmark stage
  const pipeline = createPipeline<string | Uint8Array>({
    classes: manifest.classes,
    input,
    runner,
    getModel,
    platform: {
      decode: (src) => decodePhoto(src, { maxSide: options.maxSide, maxFileMb: options.maxFileMb, shrink: options.shrink }),
      async detect(image, timing) {
        const loc = await getLocator();
        const t: LocateTiming = { detect: 0, landmarks: 0 };
        const faces = await loc.locate(image, t);
        if (timing) timing.landmarks += t.landmarks;
        return faces;
      },
      locateInCrop: async (image) => locateInCrop(await getMarks(), image),
      decodeAligned: (src, size, channels) => decodeAligned(src, size, channels, { maxFileMb: options.maxFileMb }),
    },
  });

  async function recognizeImage(src: string | Uint8Array, opts: RecognizeOptions = {}): Promise<ImageResult> {
    if (disposed) throw new Error('recognizer is disposed');
    const { width, height, faces, timing } = await pipeline.recognize(src, opts);
    return { width, height, faces, timing };
  }

  async function recognizeBatch(inputs: (string | Uint8Array)[], opts: RecognizeOptions = {}): Promise<(ImageResult | Error)[]> {
    if (disposed) throw new Error('recognizer is disposed');
    return (await pipeline.recognizeBatch(inputs, opts)).map((r) => (r instanceof Error ? r : { width: r.width, height: r.height, faces: r.faces, timing: r.timing }));
  }

  return {
    classes: manifest.classes,
    modelDir,
    manifest,
    backend: runner.backend,
    detector: detectorName,
    recognizeImage,
    recognizeBatch,
    async recognize(src, opts) {
      return (await recognizeImage(src, opts)).faces;
    },
    classify: (crops, n) => pipeline.classify(crops, n),
    async warmup() {
      await getLocator();
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      runner.dispose();
      model?.dispose();
    },
  };
}
