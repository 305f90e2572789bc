/**
 * The one recognition pipeline: from a decoded photo to per-face results. Node's createRecognizer
 * (src/infer/recognizer.ts) and the browser page (web/src/engine.ts) both run it; each supplies only
 * what differs by platform, decoding and face detection (`Platform`). Everything else, alignment,
 * normalisation, TRN through a TrnRunner, PIN's explanation and placing its regions on the photo, and
 * the result's shape, is this code.
 *
 * Browser-safe: no Node imports here or in what it imports (test/web.test.ts type-checks the page with
 * browser types only).
 */
import * as tf from '../tf.js';
import type { InputSpec } from '../model/config.js';
import type { PoiModel } from '../model/poi.js';
import { alignFace, normalise, placeRegion, type Box, type Point, type RawImage, type Similarity } from '../face/align.js';
import { shrinkToFit } from '../face/resize.js';
import { distribution, emotionFields, round4 } from './result.js';
import type { TrnRunner } from './runner.js';

/** A face as a detector finds it, in the pixels of the image it was given. */
export interface DetectedFace {
  /** Detection box. */
  box: Box;
  /** Detection score in (0,1). */
  score: number;
  /** 68 landmarks (iBUG order). */
  landmarks: Point[];
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
  /** Faces in `image`, highest score first. */
  detect(image: RawImage): Promise<DetectedFace[]>;
  /** For `aligned` inputs (no detection); a platform without it refuses them. */
  decodeAligned?(src: Src, size: number, channels: number): Promise<AlignedCrop>;
}

export interface RecognizeOptions {
  /** Add PIN's per-region distributions, AU activations and region boxes (slower: runs PIN too). */
  explain?: boolean;
  /** The input is already an aligned face crop (FERPlus, RAF-DB aligned): no detection, one face. */
  aligned?: boolean;
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
  /** Activation in [0,1] of each AU this region can show, keyed "AU12". */
  aus: Record<string, number>;
}

export interface FaceResult {
  /** Face box in photo pixels (the detector's box; the whole image with `aligned`). */
  box: Box;
  /** Detector score in (0,1); null with `aligned`. */
  score: number | null;
  /** 68 landmarks (iBUG order) in photo pixels; null with `aligned`. */
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
  /** With `explain`: each AU's activation, averaged over the regions that can show it, by AU number. */
  aus?: Record<string, number>;
  /** With `explain`: PIN's aggregated ("objective") distribution. */
  objective?: Record<string, number>;
}

export interface ImageResult {
  /** Photo size as displayed (after EXIF rotation). */
  width: number;
  height: number;
  faces: FaceResult[];
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
  /** TRN alone on n aligned crops (uint8, model input size and channels, back to back). */
  classify(crops: Uint8Array, n: number): Promise<{ probs: Float32Array; confidence: Float32Array }>;
}

const r1 = (v: number) => Math.round(v * 10) / 10;
const same = (v: number) => v;

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
      return transforms.map((t, i) => {
        const sums = new Map<number, { s: number; c: number }>();
        const regions: RegionResult[] = ex.regions.map((r, j) => {
          const cropBox = [...(specs.find((s) => s.name === r.name)?.box ?? [0, 0, 1, 1])] as [number, number, number, number];
          const placed = placeRegion(cropBox, t);
          const aus: Record<string, number> = {};
          r.aus.forEach((au, a) => {
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
        return { regions, aus, objective: distribution(classes, q, i * classes.length, rp) };
      });
    } finally {
      tf.dispose([ex.q, ...ex.regions.flatMap((r) => [r.probs, r.auProbs])]);
    }
  }

  async function recognizeAligned(src: Src, explain: boolean): Promise<PipelineResult> {
    if (!platform.decodeAligned) throw new Error('aligned inputs are not supported here');
    const crop = await platform.decodeAligned(src, size, input.channels);
    const { x, probs, confidence } = await score(crop.pixels, 1);
    const face: FaceResult = { box: { x: 0, y: 0, width: crop.width, height: crop.height }, score: null, landmarks: null, ...emotionFields(classes, probs, confidence, 0, rp) };
    if (explain) {
      // the crop is the image scaled to cover size x size, centred: crop fraction = (p·s - offset)/size
      const m = Math.min(crop.width, crop.height);
      const t: Similarity = { a: 1 / m, b: 0, tx: -(crop.width / m - 1) / 2, ty: -(crop.height / m - 1) / 2 };
      Object.assign(face, (await explainFaces(x, 1, [t]))[0]);
    }
    return { width: crop.width, height: crop.height, faces: [face], crops: [crop.pixels] };
  }

  async function recognize(src: Src, opts: RecognizeOptions = {}): Promise<PipelineResult> {
    if (opts.aligned) return recognizeAligned(src, !!opts.explain);
    const photo = await platform.decode(src);
    const found = await platform.detect(photo.image);
    const s = photo.scale;
    if (found.length === 0) return { width: photo.width, height: photo.height, faces: [], crops: [] };
    const n = found.length;
    const pixels = new Uint8Array(n * per);
    const crops: Uint8Array[] = [];
    const transforms: Similarity[] = [];
    found.forEach((f, i) => {
      const a = alignFace(photo.image, f.landmarks, { size, channels: input.channels, alignSize: input.alignSize });
      pixels.set(a.pixels, i * per);
      crops.push(a.pixels);
      // the transform maps detection-scale pixels; compose with the scale back to photo pixels
      transforms.push({ a: a.transform.a / s, b: a.transform.b / s, tx: a.transform.tx, ty: a.transform.ty });
    });
    const { x, probs, confidence } = await score(pixels, n);
    const explained = opts.explain ? await explainFaces(x, n, transforms) : null;
    const faces = found.map((f, i): FaceResult => ({
      box: boxOut({ x: f.box.x * s, y: f.box.y * s, width: f.box.width * s, height: f.box.height * s }),
      score: rp(f.score),
      landmarks: f.landmarks.map((p) => [rpx(p[0] * s), rpx(p[1] * s)] as Point),
      ...emotionFields(classes, probs, confidence, i, rp),
      ...(explained?.[i] ?? {}),
    }));
    return { width: photo.width, height: photo.height, faces, crops };
  }

  return {
    recognize,
    async classify(crops, n) {
      if (crops.length !== n * per) throw new Error(`classify: expected ${n} crops of ${per} bytes, got ${crops.length} bytes`);
      const { probs, confidence } = await score(crops, n);
      return { probs, confidence };
    },
  };
}
