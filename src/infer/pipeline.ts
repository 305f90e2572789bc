/**
 * The one recognition pipeline: from a photo to per-face results. Node's createRecognizer
 * (src/infer/recognizer.ts) and the browser page (web/src/engine.ts) both run it; each supplies only
 * what differs by platform, decoding and face detection (`Platform`). Everything else, alignment,
 * normalisation, TRN through a TrnRunner, PIN's explanation and placing its regions on the photo, the
 * result's shape, batches (one TRN call for every face of several photos, the next photo decoding while
 * the current one is detected) and the time per stage (measured around the platform's calls and the
 * runner), is this code.
 *
 * Browser-safe: no Node imports here or in what it imports (test/web.test.ts type-checks the page with
 * browser types only).
 */
import * as tf from '../tf.js';
import type { InputSpec } from '../model/config.js';
import type { PoiModel } from '../model/poi.js';
import { alignPoints, facePoints, normalise, placeRegion, toGray, toRgb, type Box, type FacePoints, type Point, type RawImage, type Similarity } from '../face/align.js';
import { shrinkToFit } from '../face/resize.js';
import { distribution, emotionFields, round4 } from './result.js';
import type { TrnRunner } from './runner.js';
import { emptyTiming, timed, type StageTiming } from './timing.js';

export type { StageTiming } from './timing.js';

/** A face as a detector finds it, in the pixels of the image it was given. */
export interface DetectedFace {
  /** Detection box. */
  box: Box;
  /** Detection score in (0,1); null when no detector ran (the cropped-face mode). */
  score: number | null;
  /** The model's landmarks: 68 (iBUG order) from face-api's landmark net, 6 from BlazeFace. */
  landmarks: Point[];
  /** Eyes, nose tip and mouth centre to align on; default facePoints(landmarks) (68 landmarks). */
  points?: FacePoints;
  /** Where `points` go on the aligned crop; default FER_TEMPLATE. */
  template?: FacePoints;
}

/** What a platform's detect reports of its own stages (added to). */
export interface DetectTiming {
  /** Milliseconds of its landmark net, when that is a stage of its own (face-api's); the rest is "detect". */
  landmarks: number;
}

/** A photo ready for detection. */
export interface Photo {
  /** RGB pixels at the detection scale. */
  image: RawImage;
  /** Size of the photo as the user sees it (after EXIF rotation), in its own pixels. */
  width: number;
  height: number;
  /** image pixels * scale = photo pixels (1 unless the photo was shrunk). */
  scale: number;
}

/** An aligned face crop decoded straight to the model input (size x size x channels uint8). */
export interface AlignedCrop {
  pixels: Uint8Array;
  /** Size of the source image. */
  width: number;
  height: number;
}

/** What a platform supplies: decoding and detection. `Src` is what its callers pass (a path, bytes, a canvas). */
export interface Platform<Src> {
  decode(src: Src): Promise<Photo>;
  /** Faces in `image`, highest score first; the landmark net's share of the time into `timing`, if separate. */
  detect(image: RawImage, timing?: DetectTiming): Promise<DetectedFace[]>;
  /**
   * For `crop` inputs: the one face that fills `image` (a face crop of any framing), found without a
   * detector. A platform without it refuses them.
   */
  locateInCrop?(image: RawImage): Promise<DetectedFace>;
  /** For `aligned` inputs (no detection); a platform without it refuses them. */
  decodeAligned?(src: Src, size: number, channels: number): Promise<AlignedCrop>;
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
  /** The region's box on the aligned crop, [y0, x0, y1, x1] fractions (the model config's box). */
  cropBox: [number, number, number, number];
  /** PIN's emotion distribution from this region alone. */
  emotions: Record<string, number>;
  /** Activation in [0,1] of each AU this region can show, keyed "AU12"; empty for a model trained without
   * the AU prior (its AU heads were never taught what an AU looks like). */
  aus: Record<string, number>;
}

export interface FaceResult {
  /** Face box in photo pixels (the detector's box; the whole image with `aligned`). */
  box: Box;
  /** Detector score in (0,1); null with `aligned` and `crop` (no detector). */
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
  /** With `explain` on a model trained with the AU prior: each AU's activation, averaged over the regions
   * that can show it, by AU number. */
  aus?: Record<string, number>;
  /** With `explain`: PIN's aggregated ("objective") distribution. */
  objective?: Record<string, number>;
}

export interface ImageResult {
  /** Photo size as displayed (after EXIF rotation). */
  width: number;
  height: number;
  faces: FaceResult[];
  /** Milliseconds per stage for this image (TRN's and PIN's time are its share of a batch, by faces). */
  timing: StageTiming;
}

/** An ImageResult with what the model saw: crops[i] is face i's aligned input (uint8, size x size x channels). */
export interface PipelineResult extends ImageResult {
  crops: Uint8Array[];
}

export interface PipelineOptions<Src> {
  classes: readonly string[];
  input: InputSpec;
  /** TRN (with its TTA, if any). The pipeline does not dispose it. */
  runner: TrnRunner;
  /** The tfjs model, for PIN's explanation; loaded only when `explain` is asked for. */
  getModel: () => Promise<PoiModel>;
  platform: Platform<Src>;
  /**
   * Round like `poi predict --json` (probabilities to 4 decimals, pixels to 0.1; default), or keep every
   * value as computed (the page shows full precision).
   */
  round?: boolean;
}

export interface Pipeline<Src> {
  recognize(src: Src, opts?: RecognizeOptions): Promise<PipelineResult>;
  /**
   * Several photos: each decoded, detected and aligned in turn (the next one decoding while the current one
   * is detected), then one TRN call (and with `explain` one PIN call) for all their faces. An input that
   * fails gives its Error in its place.
   */
  recognizeBatch(srcs: readonly Src[], opts?: RecognizeOptions): Promise<(PipelineResult | Error)[]>;
  /** TRN alone on n aligned crops (uint8, model input size and channels, back to back). */
  classify(crops: Uint8Array, n: number): Promise<{ probs: Float32Array; confidence: Float32Array }>;
}

const r1 = (v: number) => Math.round(v * 10) / 10;
const same = (v: number) => v;
/** What failed for one input of a batch, as an Error in its place. */
const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/**
 * The photo on a canvas as a Photo: RGBA (ImageData's layout) to RGB, shrunk to fit maxSide by the code
 * Node's decodePhoto uses (src/face/resize.ts), so both detect on the same pixels.
 */
export function photoFromRgba(rgba: ArrayLike<number>, width: number, height: number, maxSide: number): Photo {
  const n = width * height;
  if (rgba.length !== n * 4) throw new Error(`photoFromRgba: expected ${width}x${height}x4 bytes, got ${rgba.length}`);
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = rgba[i * 4];
    rgb[i * 3 + 1] = rgba[i * 4 + 1];
    rgb[i * 3 + 2] = rgba[i * 4 + 2];
  }
  const { image, scale } = shrinkToFit({ data: rgb, width, height, channels: 3 }, maxSide);
  return { image, width, height, scale };
}

export function createPipeline<Src>(o: PipelineOptions<Src>): Pipeline<Src> {
  const { classes, input, runner, platform } = o;
  const rounding = o.round ?? true;
  const rp = rounding ? round4 : same;
  const rpx = rounding ? r1 : same;
  const boxOut = (b: Box): Box => ({ x: rpx(b.x), y: rpx(b.y), width: rpx(b.width), height: rpx(b.height) });
  const size = input.height;
  if (input.height !== input.width) throw new Error(`the model's input is ${input.height}x${input.width}; poi aligns faces to square crops`);
  const per = input.height * input.width * input.channels;

  async function score(pixels: Uint8Array, n: number): Promise<{ x: Float32Array; probs: Float32Array; confidence: Float32Array }> {
    const x = normalise(pixels, input.mean, input.std);
    const out = await runner.run(x, n);
    return { x, ...out };
  }

  /** PIN on the normalised inputs; its regions placed on the photo through each face's image → crop transform. */
  async function explainFaces(x: Float32Array, n: number, transforms: Similarity[]): Promise<Pick<FaceResult, 'regions' | 'aus' | 'objective'>[]> {
    const m = await o.getModel();
    const xt = tf.tensor4d(x, [n, input.height, input.width, input.channels]);
    const ex = m.explain(xt);
    xt.dispose();
    if (!ex) return transforms.map(() => ({}));
    try {
      const regionData = await Promise.all(ex.regions.map(async (r) => ({ probs: await r.probs.data(), au: await r.auProbs.data() })));
      const q = await ex.q.data();
      const specs = m.config.pin.regions;
      const withAus = m.config.pin.useAuPrior;
      return transforms.map((t, i) => {
        const sums = new Map<number, { s: number; c: number }>();
        const regions: RegionResult[] = ex.regions.map((r, j) => {
          const cropBox = [...(specs.find((s) => s.name === r.name)?.box ?? [0, 0, 1, 1])] as [number, number, number, number];
          const placed = placeRegion(cropBox, t);
          const aus: Record<string, number> = {};
          if (withAus) r.aus.forEach((au, a) => {
            const v = regionData[j].au[i * r.aus.length + a];
            aus[`AU${au}`] = rp(v);
            const e = sums.get(au) ?? { s: 0, c: 0 };
            e.s += v;
            e.c++;
            sums.set(au, e);
          });
          return {
            name: r.name,
            box: boxOut(placed.box),
            polygon: placed.polygon.map((p) => [rpx(p[0]), rpx(p[1])] as Point),
            cropBox,
            emotions: distribution(classes, regionData[j].probs, i * classes.length, rp),
            aus,
          };
        });
        const aus: Record<string, number> = {};
        for (const [au, e] of [...sums].sort((a, b) => a[0] - b[0])) aus[`AU${au}`] = rp(e.s / e.c);
        return { regions, ...(withAus ? { aus } : {}), objective: distribution(classes, q, i * classes.length, rp) };
      });
    } finally {
      tf.dispose([ex.q, ...ex.regions.flatMap((r) => [r.probs, r.auProbs])]);
    }
  }

  /** One input decoded, its faces found and aligned: everything before TRN, with photo-pixel coordinates. */
  interface Prepared {
    width: number;
    height: number;
    faces: Pick<FaceResult, 'box' | 'score' | 'landmarks'>[];
    crops: Uint8Array[];
    /** Photo pixels → crop fractions, per face (for placing PIN's regions). */
    transforms: Similarity[];
    timing: StageTiming;
  }

  async function prepareAligned(src: Src, timing: StageTiming): Promise<Prepared> {
    const crop = await timed(timing, 'decode', () => platform.decodeAligned!(src, size, input.channels));
    // the crop is the image scaled to cover size x size, centred: crop fraction = (p·s - offset)/size
    const m = Math.min(crop.width, crop.height);
    const t: Similarity = { a: 1 / m, b: 0, tx: -(crop.width / m - 1) / 2, ty: -(crop.height / m - 1) / 2 };
    const face = { box: { x: 0, y: 0, width: crop.width, height: crop.height }, score: null, landmarks: null };
    return { width: crop.width, height: crop.height, faces: [face], crops: [crop.pixels], transforms: [t], timing };
  }

  /** Find and align the faces of a decoded photo. */
  async function locate(photo: Photo, crop: boolean, timing: StageTiming): Promise<Prepared> {
    let found: DetectedFace[];
    if (crop) {
      // no detector: all of it is the landmark stage
      found = [await timed(timing, 'landmarks', () => platform.locateInCrop!(photo.image))];
    } else {
      const t0 = performance.now();
      const own: DetectTiming = { landmarks: 0 };
      found = await platform.detect(photo.image, own);
      timing.detect += performance.now() - t0 - own.landmarks;
      timing.landmarks += own.landmarks;
    }
    const t0 = performance.now();
    const s = photo.scale;
    // converted to the model's channels once per photo, not once per face
    const img = found.length === 0 ? photo.image : input.channels === 1 ? toGray(photo.image) : toRgb(photo.image);
    const out: Prepared = { width: photo.width, height: photo.height, faces: [], crops: [], transforms: [], timing };
    for (const f of found) {
      let a: ReturnType<typeof alignPoints>;
      try {
        a = alignPoints(img, { points: f.points ?? facePoints(f.landmarks), template: f.template }, { size, channels: input.channels, alignSize: input.alignSize });
      } catch {
        // points that fit no face (a false detection's keypoints on top of each other): not a face
        continue;
      }
      out.crops.push(a.pixels);
      // the transform maps detection-scale pixels; compose with the scale back to photo pixels
      out.transforms.push({ a: a.transform.a / s, b: a.transform.b / s, tx: a.transform.tx, ty: a.transform.ty });
      out.faces.push({
        box: boxOut({ x: f.box.x * s, y: f.box.y * s, width: f.box.width * s, height: f.box.height * s }),
        score: f.score === null ? null : rp(f.score),
        landmarks: f.landmarks.map((p) => [rpx(p[0] * s), rpx(p[1] * s)] as Point),
      });
    }
    timing.align += performance.now() - t0;
    return out;
  }

  /** Decode, find and align every input, in order; the next photo decodes while this one is detected. */
  async function prepareAll(srcs: readonly Src[], opts: RecognizeOptions): Promise<(Prepared | Error)[]> {
    const out: (Prepared | Error)[] = [];
    if (opts.aligned) {
      for (const src of srcs) out.push(await prepareAligned(src, emptyTiming()).catch(asError));
      return out;
    }
    const timings = srcs.map(() => emptyTiming());
    const decode = (i: number): Promise<Photo | Error> | null =>
      i < srcs.length ? timed(timings[i], 'decode', () => platform.decode(srcs[i])).catch(asError) : null;
    let next = decode(0);
    for (let i = 0; i < srcs.length; i++) {
      const mine = next!;
      next = decode(i + 1);
      const photo = await mine;
      if (photo instanceof Error) {
        out.push(photo);
        continue;
      }
      out.push(await locate(photo, !!opts.crop, timings[i]).catch(asError));
    }
    return out;
  }

  async function recognizeBatch(srcs: readonly Src[], opts: RecognizeOptions = {}): Promise<(PipelineResult | Error)[]> {
    if (opts.aligned && opts.crop) throw new Error('aligned and crop exclude each other');
    if (opts.aligned && !platform.decodeAligned) throw new Error('aligned inputs are not supported here');
    if (opts.crop && !platform.locateInCrop) throw new Error('cropped-face inputs are not supported here');
    const prepared = await prepareAll(srcs, opts);
    const ok = prepared.filter((p): p is Prepared => !(p instanceof Error));
    const n = ok.reduce((a, p) => a + p.crops.length, 0);
    // one TRN call (and one PIN call) for every face of the batch; each image's time is its share by faces
    let explained: Pick<FaceResult, 'regions' | 'aus' | 'objective'>[] | null = null;
    let probs: Float32Array = new Float32Array(0);
    let confidence: Float32Array = new Float32Array(0);
    const batch = emptyTiming();
    if (n > 0) {
      const pixels = new Uint8Array(n * per);
      let k = 0;
      for (const p of ok) for (const c of p.crops) pixels.set(c, k++ * per);
      const scored = await timed(batch, 'trn', () => score(pixels, n));
      ({ probs, confidence } = scored);
      if (opts.explain) {
        const transforms = ok.flatMap((p) => p.transforms);
        explained = await timed(batch, 'explain', () => explainFaces(scored.x, n, transforms));
      }
    }
    let offset = 0;
    return prepared.map((p) => {
      if (p instanceof Error) return p;
      const faces = p.faces.map((f, i): FaceResult => ({ ...f, ...emotionFields(classes, probs, confidence, offset + i, rp), ...(explained?.[offset + i] ?? {}) }));
      const m = p.crops.length;
      offset += m;
      if (n > 0) {
        p.timing.trn += (batch.trn * m) / n;
        p.timing.explain += (batch.explain * m) / n;
      }
      return { width: p.width, height: p.height, faces, crops: p.crops, timing: p.timing };
    });
  }

  async function recognize(src: Src, opts: RecognizeOptions = {}): Promise<PipelineResult> {
    const [res] = await recognizeBatch([src], opts);
    if (res instanceof Error) throw res;
    return res;
  }

  return {
    recognize,
    recognizeBatch,
    async classify(crops, n) {
      if (crops.length !== n * per) throw new Error(`classify: expected ${n} crops of ${per} bytes, got ${crops.length} bytes`);
      const { probs, confidence } = await score(crops, n);
      return { probs, confidence };
    },
  };
}
