/**
 * Recognise expressions in ordinary photos:
 *
 *   import { createRecognizer } from 'poi-fer';
 *   const r = await createRecognizer();                 // shipped model, wasm backend, SSD detector
 *   const faces = await r.recognize('photo.jpg');       // or a Buffer / Uint8Array of an encoded image
 *   faces[0].emotion, faces[0].emotions.happiness, faces[0].confidence
 *   await r.recognize(buf, { explain: true });          // + PIN's regions (placed on the photo) and AUs
 *   await r.recognize('crop.png', { aligned: true });   // the input is already an aligned face crop
 *   r.dispose();
 *
 * Pipeline: decode (EXIF rotation, shrink to maxSide) → face-api detector + 68 landmarks → similarity
 * alignment to the FERPlus framing (src/face/align.ts) → TRN through a TrnRunner (tfjs by default) →
 * per-face result. Coordinates in results are pixels of the photo as displayed (after EXIF rotation),
 * at its full resolution.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import * as tf from '../tf.js';
import { initBackend } from '../backend/index.js';
import { loadModel, readModelFolder, type ModelManifest } from '../model/io.js';
import type { PoiModel } from '../model/poi.js';
import { normalise, placeRegion, type Box, type Point, type Similarity } from '../face/align.js';
import { decodeAligned, type ShrinkMode } from '../face/image.js';
import { LOCATORS, type LocatorName } from '../face/kinds.js';
import type { LocatorOptions } from '../face/locators.js';
import { createPhotoStages, type LocatedPhoto } from './stages.js';
import { emptyTiming, timed, type StageTiming } from './timing.js';
import { parseTta, withFlipTta, type TrnRunner, type Tta } from './runner.js';
import { openTrnRunner, type Runtime } from './runtime.js';
import { distribution as distributionOf, emotionFields, round4 } from './result.js';

/** The package's root folder (holds package.json and models/). */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

/** The shipped model: <package>/models/poi-ferplus, wherever the command is run from. */
export function defaultModelDir(): string {
  return join(packageRoot(), 'models', 'poi-ferplus');
}

export type DetectorName = LocatorName;

export interface RecognizerOptions extends LocatorOptions {
  /** Model folder (model.json + weights.bin); default the shipped models/poi-ferplus. */
  model?: string;
  /** tfjs backend (wasm, cpu, tensorflow); default as initBackend. */
  backend?: string;
  /** wasm threads. */
  threads?: number;
  /**
   * Runs TRN instead of tfjs (e.g. createOrtRunner(modelDir) from src/onnx/runtime.ts). The recognizer
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
  /** How photos are shrunk to maxSide: 'sharp' (libvips, default) or 'js' (the browser demo's code). */
  shrink?: ShrinkMode;
}

export interface RecognizeOptions {
  /** Add PIN's per-region distributions, AU activations and region boxes (slower: runs PIN too). */
  explain?: boolean;
  /** The input is already an aligned face crop (FERPlus, RAF-DB aligned): no detection, one face. */
  aligned?: boolean;
  /** The input is one face crop of any framing (tight, loose, another dataset's): landmarks without a detector, then aligned. */
  crop?: boolean;
}

export interface RegionResult {
  name: string;
  /** Axis-aligned box around the region, in photo pixels. */
  box: Box;
  /** The region's corners on the photo (the region is a rotated rectangle when the head is tilted). */
  polygon: Point[];
  /** PIN's emotion distribution from this region alone. */
  emotions: Record<string, number>;
  /** Activation in [0,1] of each AU this region can show, keyed "AU12". */
  aus: Record<string, number>;
}

export interface FaceResult {
  /** Face box in photo pixels (the detector's box; the whole image with `aligned`). */
  box: Box;
  /** Detector score in (0,1); null with `aligned`. */
  score: number | null;
  /** Landmarks in photo pixels: 68 (iBUG order) from face-api's landmark net, 6 from BlazeFace; null with `aligned`. */
  landmarks: Point[] | null;
  /** Class name → probability (sums to 1), in the model's class order. */
  emotions: Record<string, number>;
  /** The most probable class. */
  emotion: string;
  /** Its probability. */
  probability: number;
  /** The uncertainty module's confidence in (0,1) that this prediction matches what annotators would agree on. */
  confidence: number;
  /** 1 - confidence. */
  uncertainty: number;
  /** With `explain`: PIN's regions placed on the photo. */
  regions?: RegionResult[];
  /** With `explain`: each AU's activation, averaged over the regions that can show it. */
  aus?: Record<string, number>;
  /** With `explain`: PIN's aggregated ("objective") distribution. */
  objective?: Record<string, number>;
}

export interface ImageResult {
  /** Photo size as displayed (after EXIF rotation). */
  width: number;
  height: number;
  faces: FaceResult[];
  /** Milliseconds per stage for this image (TRN's time is its share of a batch in recognizeBatch). */
  timing: StageTiming;
}

export interface Recognizer {
  readonly classes: string[];
  readonly modelDir: string;
  readonly manifest: ModelManifest;
  /** The runner's backend, e.g. "tfjs-wasm". */
  readonly backend: string;
  readonly detector: DetectorName;
  /** Every face in the photo, largest detection score first. No face: an empty array. */
  recognize(input: string | Uint8Array, opts?: RecognizeOptions): Promise<FaceResult[]>;
  /** Same, with the photo's size. */
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

const r1 = (v: number) => Math.round(v * 10) / 10;
const box1 = (b: Box): Box => ({ x: r1(b.x), y: r1(b.y), width: r1(b.width), height: r1(b.height) });
const distribution = (classes: string[], values: ArrayLike<number>, offset: number) => distributionOf(classes, values, offset, round4);

export async function createRecognizer(options: RecognizerOptions = {}): Promise<Recognizer> {
  const modelDir = resolve(options.model ?? defaultModelDir());
  await initBackend({ backend: options.backend, threads: options.threads });
  // read once: the manifest, the tfjs model and the ONNX export all come from these bytes
  const folder = await readModelFolder(modelDir);
  const manifest = folder.manifest;
  const classes = manifest.classes;
  const input = manifest.input;
  const size = input.height;
  if (input.height !== input.width) throw new Error(`${modelDir}: the model's input is ${input.height}x${input.width}; poi aligns faces to square crops`);
  const per = input.height * input.width * input.channels;

  let model: PoiModel | null = null;
  let modelLoading: Promise<PoiModel> | null = null;
  const getModel = (): Promise<PoiModel> => {
    modelLoading ??= loadModel(folder).then((m) => (model = m.model));
    return modelLoading;
  };
  const tta = parseTta(options.tta) ?? 'none';
  const base = options.runner ?? (await openTrnRunner(folder, { runtime: options.runtime, threads: options.threads, getModel }));
  const runner = tta === 'flip' ? withFlipTta(base, input) : base;

  const detectorName: DetectorName = options.detector ?? 'ssd';
  if (!LOCATORS.includes(detectorName)) throw new Error(`unknown detector "${detectorName}" (${LOCATORS.join(', ')})`);
  const stages = createPhotoStages(options, { size, channels: input.channels, alignSize: input.alignSize });
  let disposed = false;

  async function explainFaces(x: Float32Array, n: number, transforms: Similarity[]): Promise<Pick<FaceResult, 'regions' | 'aus' | 'objective'>[]> {
    const m = await getModel();
    const xt = tf.tensor4d(x, [n, input.height, input.width, input.channels]);
    const ex = m.explain(xt);
    xt.dispose();
    if (!ex) return transforms.map(() => ({}));
    try {
      const regionData = await Promise.all(ex.regions.map(async (r) => ({ probs: await r.probs.data(), au: await r.auProbs.data() })));
      const q = await ex.q.data();
      const specs = m.config.pin.regions;
      return transforms.map((t, i) => {
        const sums = new Map<number, { s: number; c: number }>();
        const regions: RegionResult[] = ex.regions.map((r, j) => {
          const spec = specs.find((s) => s.name === r.name) ?? { box: [0, 0, 1, 1] as [number, number, number, number] };
          const placed = placeRegion(spec.box, t);
          const aus: Record<string, number> = {};
          r.aus.forEach((au, a) => {
            const v = regionData[j].au[i * r.aus.length + a];
            aus[`AU${au}`] = round4(v);
            const e = sums.get(au) ?? { s: 0, c: 0 };
            e.s += v;
            e.c++;
            sums.set(au, e);
          });
          return {
            name: r.name,
            box: box1(placed.box),
            polygon: placed.polygon.map((p) => [r1(p[0]), r1(p[1])] as Point),
            emotions: distribution(classes, regionData[j].probs, i * classes.length),
            aus,
          };
        });
        const aus: Record<string, number> = {};
        for (const [au, e] of [...sums].sort((a, b) => a[0] - b[0])) aus[`AU${au}`] = round4(e.s / e.c);
        return { regions, aus, objective: distribution(classes, q, i * classes.length) };
      });
    } finally {
      tf.dispose([ex.q, ...ex.regions.flatMap((r) => [r.probs, r.auProbs])]);
    }
  }

  async function score(pixels: Uint8Array, n: number, timing?: StageTiming): Promise<{ x: Float32Array; probs: Float32Array; confidence: Float32Array }> {
    return timed(timing, 'trn', async () => {
      const x = normalise(pixels, input.mean, input.std);
      const out = await runner.run(x, n);
      return { x, ...out };
    });
  }

  function faceResult(probs: Float32Array, confidence: Float32Array, i: number, base: Pick<FaceResult, 'box' | 'score' | 'landmarks'>): FaceResult {
    return { ...base, ...emotionFields(classes, probs, confidence, i, round4) };
  }

  async function alignedCrop(src: string | Uint8Array, timing: StageTiming): Promise<LocatedPhoto> {
    const crop = await timed(timing, 'decode', () => decodeAligned(src, size, input.channels, { maxFileMb: options.maxFileMb }));
    // the crop is the image scaled to cover size x size, centred: crop fraction = (p·s - offset)/size
    const m = Math.min(crop.width, crop.height);
    const t: Similarity = { a: 1 / m, b: 0, tx: -(crop.width / m - 1) / 2, ty: -(crop.height / m - 1) / 2 };
    return { width: crop.width, height: crop.height, faces: [{ box: { x: 0, y: 0, width: crop.width, height: crop.height }, score: null, landmarks: [], pixels: crop.pixels, transform: t }] };
  }

  /** Decode, find and align the faces of one input (no TRN). */
  async function locate(src: string | Uint8Array, opts: RecognizeOptions, timing: StageTiming): Promise<LocatedPhoto> {
    if (opts.aligned) return alignedCrop(src, timing);
    const photo = await stages.decode(src, timing);
    return stages.locate(photo, { crop: opts.crop }, timing);
  }

  /** TRN (one call) and the results of several located photos; `probs`/`confidence` from `offset` on. */
  function results(located: LocatedPhoto, opts: RecognizeOptions, probs: Float32Array, confidence: Float32Array, offset: number): FaceResult[] {
    return located.faces.map((f, i) => {
      const base = opts.aligned
        ? { box: f.box, score: null, landmarks: null }
        : { box: box1(f.box), score: f.score === null ? null : round4(f.score), landmarks: f.landmarks.map((p) => [r1(p[0]), r1(p[1])] as Point) };
      return faceResult(probs, confidence, offset + i, base);
    });
  }

  function pack(list: LocatedPhoto[]): { pixels: Uint8Array; n: number } {
    const n = list.reduce((a, l) => a + l.faces.length, 0);
    const pixels = new Uint8Array(n * per);
    let i = 0;
    for (const l of list) for (const f of l.faces) pixels.set(f.pixels, i++ * per);
    return { pixels, n };
  }

  async function recognizeImage(src: string | Uint8Array, opts: RecognizeOptions = {}): Promise<ImageResult> {
    if (disposed) throw new Error('recognizer is disposed');
    const timing = emptyTiming();
    const located = await locate(src, opts, timing);
    const faces: FaceResult[] = [];
    if (located.faces.length > 0) {
      const { pixels, n } = pack([located]);
      const { x, probs, confidence } = await score(pixels, n, timing);
      faces.push(...results(located, opts, probs, confidence, 0));
      if (opts.explain) {
        const explained = await timed(timing, 'explain', () => explainFaces(x, n, located.faces.map((f) => f.transform)));
        faces.forEach((f, i) => Object.assign(f, explained[i]));
      }
    }
    return { width: located.width, height: located.height, faces, timing };
  }

  async function recognizeBatch(inputs: (string | Uint8Array)[], opts: RecognizeOptions = {}): Promise<(ImageResult | Error)[]> {
    if (disposed) throw new Error('recognizer is disposed');
    if (opts.explain) {
      // PIN's explanation per image (its regions are placed photo by photo)
      const out: (ImageResult | Error)[] = [];
      for (const src of inputs) out.push(await recognizeImage(src, opts).catch((e: Error) => e));
      return out;
    }
    const timings = inputs.map(() => emptyTiming());
    const located: (LocatedPhoto | Error)[] = [];
    // the next photo's decode (sharp, on libuv's threads) runs while this one is detected
    const decode = (i: number) =>
      opts.aligned || i >= inputs.length ? null : stages.decode(inputs[i], timings[i]).catch((e: Error) => e);
    let next = decode(0);
    for (let i = 0; i < inputs.length; i++) {
      const mine = next;
      next = decode(i + 1);
      try {
        if (opts.aligned) located.push(await alignedCrop(inputs[i], timings[i]));
        else {
          const photo = await mine!;
          if (photo instanceof Error) throw photo;
          located.push(await stages.locate(photo, { crop: opts.crop }, timings[i]));
        }
      } catch (e) {
        located.push(e as Error);
      }
    }
    const ok = located.filter((l): l is LocatedPhoto => !(l instanceof Error));
    const { pixels, n } = pack(ok);
    const trn = emptyTiming();
    const { probs, confidence } = n > 0 ? await score(pixels, n, trn) : { probs: new Float32Array(0), confidence: new Float32Array(0) };
    let offset = 0;
    return located.map((l, i) => {
      if (l instanceof Error) return l;
      const faces = results(l, opts, probs, confidence, offset);
      offset += l.faces.length;
      timings[i].trn = n > 0 ? (trn.trn * l.faces.length) / n : 0;
      return { width: l.width, height: l.height, faces, timing: timings[i] };
    });
  }

  return {
    classes,
    modelDir,
    manifest,
    backend: runner.backend,
    detector: detectorName,
    recognizeImage,
    recognizeBatch,
    async recognize(src, opts) {
      return (await recognizeImage(src, opts)).faces;
    },
    async classify(crops, n) {
      if (crops.length !== n * per) throw new Error(`classify: expected ${n} crops of ${per} bytes, got ${crops.length} bytes`);
      const { probs, confidence } = await score(crops, n);
      return { probs, confidence };
    },
    async warmup() {
      await stages.warmup();
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      runner.dispose();
      model?.dispose();
    },
  };
}
