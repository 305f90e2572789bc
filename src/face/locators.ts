/**
 * Where the faces are and where their eyes, nose and mouth are: the "detect" and "landmarks" stages of the
 * photo path, one interface over several models (Node; the models run on poi's tfjs):
 *
 * - 'blazeface' (the default, DEFAULT_LOCATOR: the fastest) MediaPipe's BlazeFace (the 256x256 "back"/full-range
 *   model, from @vladmandic/human's package, copied into models/blazeface/): box and six keypoints in one small
 *   net, no landmark net; eyes, nose and mouth feed the same similarity alignment with a template measured for
 *   BlazeFace's keypoints (BLAZEFACE_TEMPLATE; the detector and its decoding are the browser-safe
 *   src/face/blazeface-net.ts, which the page runs too);
 * - 'ssd'  face-api's SSD MobileNet v1 + its 68-point landmark net (slower; finds small and turned faces a
 *   little more often);
 * - 'tiny' face-api's Tiny Face Detector + the same 68-point landmark net.
 *
 * Each located face carries the four template points and the template they are to be aligned to, so the
 * shared pipeline (src/infer/pipeline.ts) aligns every detector's faces the same way (alignPoints); these are
 * Node's `detect` and `locateInCrop` for it (src/infer/recognizer.ts). `locateInCrop` is the cropped-face mode: a
 * face crop of any framing, no detector; face-api's landmark net on the crop (twice: on the whole crop, then on
 * the box its first landmarks give), then aligned as a photo's faces are.
 */
import { performance } from 'node:perf_hooks';
import * as tf from '../tf.js';
import { alignPoints, facePoints, FER_TEMPLATE, toRgb, warpToCrop, type Box, type FacePoints, type Point, type RawImage } from './align.js';
import { detectorOptions, loadFaceApi, loadNet, type FaceApi } from './detector.js';
import { BlazeFace, blazefaceFace } from './blazeface.js';

import { DEFAULT_LOCATOR, LOCATORS, type LocatorName } from './kinds.js';

export { DEFAULT_LOCATOR, LOCATORS, type LocatorName };

export interface LocatorOptions {
  /**
   * 'blazeface' (default: MediaPipe's BlazeFace, box and six keypoints, the fastest), 'ssd' (face-api's SSD
   * MobileNet v1 + 68 landmarks: slower, finds small and turned faces a little more often) or 'tiny' (face-api's
   * Tiny Face Detector + 68 landmarks).
   */
  detector?: LocatorName;
  /** Minimum detection score in (0,1) (default 0.5). */
  minScore?: number;
  /** At most this many faces per image, the highest scores first (default 100). */
  maxFaces?: number;
  /** Tiny detector's input size, a multiple of 32 (default 416). */
  tinyInputSize?: number;
  /** face-api landmark model: 'full' (default) or 'tiny'. */
  landmarks?: 'full' | 'tiny';
}

export interface LocatedFace {
  /** Face box in the pixels of the image given to locate(). */
  box: Box;
  /** Detection score in (0,1); null in the cropped-face mode. */
  score: number | null;
  /** The model's landmarks in the same pixels: 68 (iBUG order) from face-api, 6 from BlazeFace. */
  landmarks: Point[];
  /** Eyes, nose tip and mouth centre. */
  points: FacePoints;
  /** Where `points` go on the aligned crop. */
  template: FacePoints;
}

/** Milliseconds spent in each stage (added to, so one object can total a batch). */
export interface LocateTiming {
  detect: number;
  landmarks: number;
}

export interface FaceLocator {
  readonly name: LocatorName;
  /** Faces in an RGB image, highest score first. */
  locate(img: RawImage, timing?: LocateTiming): Promise<LocatedFace[]>;
}

/** The similarity alignment of one located face into the model's input (src/face/align.ts; re-exported here). */
export { alignPoints };

// the slice of face-api used here
interface FaDetection { box: { x: number; y: number; width: number; height: number }; score: number }
interface FaLandmarks { positions: { x: number; y: number }[] }
interface FaLandmarkNet { detectLandmarks(input: unknown): Promise<FaLandmarks | FaLandmarks[]> }
type FaceApiPlus = Omit<FaceApi, 'detectAllFaces'> & {
  detectAllFaces(input: unknown, options: unknown): Promise<FaDetection[]>;
  extractFaceTensors(image: unknown, detections: unknown[]): Promise<tf.Tensor3D[]>;
};

const now = () => performance.now();

/** face-api's 68-point landmark net on regions of an image tensor (one batched call), in image pixels. */
export class Landmarks68 {
  private constructor(private readonly fa: FaceApiPlus, private readonly net: FaLandmarkNet) {}

  static async create(kind: 'full' | 'tiny' = 'full'): Promise<Landmarks68> {
    const fa = loadFaceApi() as unknown as FaceApiPlus;
    const name = kind === 'tiny' ? 'faceLandmark68TinyNet' : 'faceLandmark68Net';
    await loadNet(fa as unknown as FaceApi, name);
    return new Landmarks68(fa, fa.nets[name] as unknown as FaLandmarkNet);
  }

  /**
   * Landmarks for each detection of face-api's detectors (FaceDetection objects), exactly as face-api's
   * withFaceLandmarks computes them: the box clipped to the image and floored, the crop's landmarks shifted
   * by the unclipped box's corner.
   */
  async forDetections(x: tf.Tensor3D, detections: FaDetection[]): Promise<Point[][]> {
    if (detections.length === 0) return [];
    const faces = await this.fa.extractFaceTensors(x, detections);
    try {
      const marks = await this.net.detectLandmarks(faces.length === 1 ? faces[0] : faces);
      const list = Array.isArray(marks) ? marks : [marks];
      return list.map((m, i) => m.positions.map((p) => [p.x + detections[i].box.x, p.y + detections[i].box.y] as Point));
    } finally {
      tf.dispose(faces);
    }
  }

  /** Landmarks on a whole image (a face crop), in its pixels. */
  async onImage(x: tf.Tensor3D): Promise<Point[]> {
    const m = (await this.net.detectLandmarks(x)) as FaLandmarks;
    return m.positions.map((p) => [p.x, p.y] as Point);
  }
}

class FaceApiLocator implements FaceLocator {
  constructor(
    readonly name: 'ssd' | 'tiny',
    private readonly fa: FaceApiPlus,
    private readonly marks: Landmarks68,
    private readonly opts: Required<LocatorOptions>,
  ) {}

  async locate(img: RawImage, timing?: LocateTiming): Promise<LocatedFace[]> {
    const { width, height } = img;
    const rgb = toRgb(img).data;
    const o = this.opts;
    const options =
      this.name === 'ssd'
        ? new this.fa.SsdMobilenetv1Options({ minConfidence: o.minScore, maxResults: o.maxFaces })
        : new this.fa.TinyFaceDetectorOptions({ inputSize: o.tinyInputSize, scoreThreshold: o.minScore });
    const x = tf.tensor3d(rgb as Uint8Array, [height, width, 3], 'int32');
    try {
      const t0 = now();
      const dets = await this.fa.detectAllFaces(x, options);
      const t1 = now();
      const l68 = await this.marks.forDetections(x, dets);
      const t2 = now();
      if (timing) {
        timing.detect += t1 - t0;
        timing.landmarks += t2 - t1;
      }
      return dets
        .map((d, i) => ({
          box: { x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height },
          score: d.score,
          landmarks: l68[i],
          points: facePoints(l68[i]),
          template: FER_TEMPLATE,
        }))
        .sort((a, b) => b.score - a.score)
        .slice(0, o.maxFaces);
    } finally {
      x.dispose();
    }
  }
}

class BlazeFaceLocator implements FaceLocator {
  readonly name = 'blazeface' as const;
  constructor(private readonly net: BlazeFace, private readonly opts: Required<LocatorOptions>) {}

  async locate(img: RawImage, timing?: LocateTiming): Promise<LocatedFace[]> {
    const t0 = now();
    const found = await this.net.detect(toRgb(img), { minScore: this.opts.minScore, maxFaces: this.opts.maxFaces });
    if (timing) timing.detect += now() - t0;
    return found.map(blazefaceFace);
  }
}

/** Load the models a locator needs. The tfjs backend must already be initialised. */
export async function createLocator(options: LocatorOptions = {}): Promise<FaceLocator> {
  const opts: Required<LocatorOptions> = detectorOptions(options, LOCATORS, DEFAULT_LOCATOR);
  if (opts.detector === 'blazeface') return new BlazeFaceLocator(await BlazeFace.load(), opts);
  const fa = loadFaceApi() as unknown as FaceApiPlus;
  await loadNet(fa as unknown as FaceApi, opts.detector === 'ssd' ? 'ssdMobilenetv1' : 'tinyFaceDetector');
  return new FaceApiLocator(opts.detector, fa, await Landmarks68.create(opts.landmarks), opts);
}

/** The box of a face's landmarks, framed about as face-api's detectors frame a face. */
function boxFromLandmarks(l: readonly Point[]): Box {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of l) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  // the 68 points run from the brows to the chin; a detector's box reaches a little past them on every side
  // and above the brows (forehead): CROP_MARGIN, fractions of the landmarks' box (chosen by eye on face-api's
  // sample photos, not fitted)
  const w = x1 - x0;
  const h = y1 - y0;
  return { x: x0 - CROP_MARGIN.side * w, y: y0 - CROP_MARGIN.top * h, width: w * (1 + 2 * CROP_MARGIN.side), height: h * (1 + CROP_MARGIN.top + CROP_MARGIN.bottom) };
}

/** How far SSD's face boxes reach past the 68 landmarks' box (fractions of its width and height). */
export const CROP_MARGIN = { side: 0.05, top: 0.12, bottom: 0.05 };

/**
 * The cropped-face mode: one face that fills most of `img` (a face crop of any framing: tight, loose, another
 * dataset's), no detector. face-api's landmark net runs on the crop padded to a square (edges repeated), then
 * once more on the box those landmarks give (framed like a detector's box), and the second landmarks are used.
 */
export async function locateInCrop(marks: Landmarks68, img: RawImage, timing?: LocateTiming): Promise<LocatedFace> {
  const t0 = now();
  const rgb = toRgb(img);
  const x = tf.tensor3d(rgb.data as Uint8Array, [rgb.height, rgb.width, 3], 'int32');
  try {
    // first look: the whole crop (face-api's net pads it to a square itself)
    const first = await marks.onImage(x);
    // second look: the region a detector would have boxed, cut from the crop with its edges repeated where
    // the box runs past them (a tight crop cuts the chin or the brows)
    const b = boxFromLandmarks(first);
    const side = Math.max(b.width, b.height);
    const cx = b.x + b.width / 2;
    const cy = b.y + b.height / 2;
    const S = 160;
    const k = side / S;
    const region = warpToCrop(rgb, { a: 1 / side, b: 0, tx: -(cx - side / 2) / side, ty: -(cy - side / 2) / side }, S);
    const rx = tf.tensor3d(region, [S, S, 3], 'int32');
    let second: Point[];
    try {
      second = (await marks.onImage(rx)).map(([px, py]) => [cx - side / 2 + px * k, cy - side / 2 + py * k] as Point);
    } finally {
      rx.dispose();
    }
    if (timing) timing.landmarks += now() - t0;
    return { box: boxFromLandmarks(second), score: null, landmarks: second, points: facePoints(second), template: FER_TEMPLATE };
  } finally {
    x.dispose();
  }
}
