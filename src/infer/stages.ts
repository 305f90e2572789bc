/**
 * The Node stages of the photo path before TRN: decode (sharp), locate the faces (a detector and landmarks, or
 * the cropped-face mode's landmarks alone) and align each one to the model's input, with the time each stage
 * took. createRecognizer (src/infer/recognizer.ts) runs TRN and the result on what these give.
 */
import { performance } from 'node:perf_hooks';
import { toGray, toRgb, type Box, type Point, type Similarity } from '../face/align.js';
import { decodePhoto, type DecodedPhoto, type ShrinkMode } from '../face/image.js';
import { timed, type StageTiming } from './timing.js';
import { alignPoints, createLocator, Landmarks68, locateInCrop, type FaceLocator, type LocatorOptions, type LocatedFace } from '../face/locators.js';

export { addTiming, emptyTiming, STAGES, timed, type StageTiming } from './timing.js';

export interface StagesOptions extends LocatorOptions {
  maxSide?: number;
  maxFileMb?: number;
  /** How photos are shrunk before detection: 'sharp' (default in Node) or 'js' (the browser's code). */
  shrink?: ShrinkMode;
}

/** One face found and aligned, in the photo's own pixels. */
export interface AlignedFace {
  box: Box;
  score: number | null;
  landmarks: Point[];
  /** The model's input for this face (size x size x channels uint8). */
  pixels: Uint8Array;
  /** Photo pixels → crop fractions. */
  transform: Similarity;
}

export interface LocatedPhoto {
  width: number;
  height: number;
  faces: AlignedFace[];
}

export interface PhotoStages {
  /** The detector's name ('ssd', 'tiny', 'blazeface'). */
  readonly detector: LocatorOptions['detector'] & string;
  decode(input: string | Uint8Array, timing?: StageTiming): Promise<DecodedPhoto>;
  /**
   * Every face of a decoded photo, aligned (`crop`: the photo is one face crop of any framing; no detector).
   */
  locate(photo: DecodedPhoto, opts: { crop?: boolean }, timing?: StageTiming): Promise<LocatedPhoto>;
  /** Load the detector and landmark models now. */
  warmup(crop?: boolean): Promise<void>;
}

export function createPhotoStages(options: StagesOptions, input: { size: number; channels: number; alignSize?: number }): PhotoStages {
  let locator: Promise<FaceLocator> | null = null;
  const getLocator = (): Promise<FaceLocator> => {
    locator ??= createLocator(options).catch((e) => {
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
  const detector = options.detector ?? 'ssd';

  function aligned(photo: DecodedPhoto, found: LocatedFace[], timing?: StageTiming): AlignedFace[] {
    const t0 = performance.now();
    const s = photo.scale;
    // converted once per photo, not once per face (alignPoints converts only what is not converted yet)
    const src = found.length === 0 ? photo.image : input.channels === 1 ? toGray(photo.image) : toRgb(photo.image);
    const faces: AlignedFace[] = [];
    for (const f of found) {
      let a: ReturnType<typeof alignPoints>;
      try {
        a = alignPoints(src, f, input);
      } catch {
        // points that fit no face (a false detection's keypoints on top of each other): not a face
        continue;
      }
      faces.push({
        box: { x: f.box.x * s, y: f.box.y * s, width: f.box.width * s, height: f.box.height * s },
        score: f.score,
        landmarks: f.landmarks.map((p) => [p[0] * s, p[1] * s] as Point),
        pixels: a.pixels,
        // the transform maps detection-scale pixels; compose with the scale back to photo pixels
        transform: { a: a.transform.a / s, b: a.transform.b / s, tx: a.transform.tx, ty: a.transform.ty },
      });
    }
    if (timing) timing.align += performance.now() - t0;
    return faces;
  }

  return {
    detector,
    decode(src, timing) {
      return timed(timing, 'decode', () => decodePhoto(src, { maxSide: options.maxSide, maxFileMb: options.maxFileMb, shrink: options.shrink }));
    },
    async locate(photo, opts, timing) {
      const t = { detect: 0, landmarks: 0 };
      let found: LocatedFace[];
      if (opts.crop) {
        found = [await locateInCrop(await getMarks(), photo.image, t)];
      } else {
        found = await (await getLocator()).locate(photo.image, t);
      }
      if (timing) {
        timing.detect += t.detect;
        timing.landmarks += t.landmarks;
      }
      return { width: photo.width, height: photo.height, faces: aligned(photo, found, timing) };
    },
    async warmup(crop) {
      if (crop) await getMarks();
      else await getLocator();
    },
  };
}
