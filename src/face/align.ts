/**
 * Face alignment: from 68 landmarks on a photo to the model's input crop, framed like the training faces.
 *
 * Pure code (no fs, no sharp, no Node-only imports): the browser demo imports the same functions.
 *
 * Coordinates. Image points are in pixels with (0,0) at the top-left corner of the top-left pixel,
 * so the centre of pixel (i, j) is (i + 0.5, j + 0.5). Crop points are fractions of the square
 * aligned crop, (0,0) top-left, (1,1) bottom-right, whatever its size in pixels.
 *
 * The alignment is a similarity transform (rotation, uniform scale, translation) image → crop: the
 * rotation makes the eye line horizontal, and scale and translation put the eyes, nose tip and mouth
 * centre as close as possible (least squares) to where they sit on average in the FERPlus 48x48 crops
 * (FER_TEMPLATE below).
 */
import { resizeLanczos3 } from './resize.js';

export type Point = [number, number];

/** Axis-aligned box in image pixels. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Landmark positions of a face, named by image side (left = smaller x), in the same coordinates. */
export interface FacePoints {
  /** Centre of the eye on the image's left (the subject's right eye). */
  leftEye: Point;
  /** Centre of the eye on the image's right (the subject's left eye). */
  rightEye: Point;
  /** Nose tip. */
  nose: Point;
  /** Centre of the mouth (mean of the 12 outer-lip points). */
  mouth: Point;
}

/**
 * Where the FERPlus/FER2013 48x48 training faces have their eyes, nose tip and mouth, as fractions of the crop.
 *
 * Measured, not guessed, by bench/measure-align-template.ts: face-api's 68-point landmark model
 * (faceLandmark68Net) run on the first 600 images of FERPlus FER2013Valid, each upsampled 48 → 112 px
 * (the landmark model's input size) and given whole as the face box, then the median of each coordinate
 * (`node dist/bench/measure-align-template.js --n 600`; the means differ by < 0.01). FER2013 faces are only
 * roughly registered: the spread over the images is 0.07-0.10 of the crop per coordinate, while the
 * residual after a similarity fit to this template is 0.025, so the template is the faces' average framing.
 */
export const FER_TEMPLATE: FacePoints = {
  leftEye: [0.3146, 0.3787],
  rightEye: [0.6836, 0.3790],
  nose: [0.4951, 0.5931],
  mouth: [0.5036, 0.7733],
};

/** Indices of the iBUG 68-point scheme (used by face-api, dlib, OpenCV LBF). */
const LEFT_EYE = [36, 37, 38, 39, 40, 41];
const RIGHT_EYE = [42, 43, 44, 45, 46, 47];
const NOSE_TIP = 30;
const OUTER_LIPS = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59];

function mean(points: readonly Point[], idx: number[]): Point {
  let x = 0;
  let y = 0;
  for (const i of idx) {
    x += points[i][0];
    y += points[i][1];
  }
  return [x / idx.length, y / idx.length];
}

/** The template points of a face from its 68 landmarks (iBUG order). */
export function facePoints(landmarks68: readonly Point[]): FacePoints {
  if (landmarks68.length !== 68) throw new Error(`expected 68 landmarks, got ${landmarks68.length}`);
  return {
    leftEye: mean(landmarks68, LEFT_EYE),
    rightEye: mean(landmarks68, RIGHT_EYE),
    nose: [landmarks68[NOSE_TIP][0], landmarks68[NOSE_TIP][1]],
    mouth: mean(landmarks68, OUTER_LIPS),
  };
}

/**
 * A similarity transform p' = [a -b; b a] p + [tx, ty]: rotation by atan2(b, a), scale hypot(a, b).
 */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

export function applySimilarity(t: Similarity, p: Point): Point {
  return [t.a * p[0] - t.b * p[1] + t.tx, t.b * p[0] + t.a * p[1] + t.ty];
}

export function invertSimilarity(t: Similarity): Similarity {
  const d = t.a * t.a + t.b * t.b;
  if (!(d > 0)) throw new Error('similarity transform is degenerate (zero scale)');
  const a = t.a / d;
  const b = -t.b / d;
  return { a, b, tx: -(a * t.tx - b * t.ty), ty: -(b * t.tx + a * t.ty) };
}

const KEYS: (keyof FacePoints)[] = ['leftEye', 'rightEye', 'nose', 'mouth'];

/**
 * The transform from image pixels to crop fractions for a face: rotation levels the eyes exactly
 * (so a tilted head comes out upright), then scale and translation are the least-squares fit of the
 * four points onto the template. Mouth and nose matter as much as the eyes for the scale, so a face
 * is framed like the training faces vertically too (the eye distance alone would crop tall faces short).
 */
export function alignmentTransform(face: FacePoints, template: FacePoints = FER_TEMPLATE): Similarity {
  const dx = face.rightEye[0] - face.leftEye[0];
  const dy = face.rightEye[1] - face.leftEye[1];
  if (!(Math.hypot(dx, dy) > 0)) throw new Error('the two eyes are at the same place: cannot align');
  // rotation that makes the eye line exactly horizontal (the measured template's is, within 0.0003 of the crop)
  const theta = -Math.atan2(dy, dx);
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  const rotated = KEYS.map((k) => [c * face[k][0] - s * face[k][1], s * face[k][0] + c * face[k][1]] as Point);
  const target = KEYS.map((k) => template[k]);
  const n = KEYS.length;
  let mx = 0, my = 0, qx = 0, qy = 0;
  for (let i = 0; i < n; i++) {
    mx += rotated[i][0] / n;
    my += rotated[i][1] / n;
    qx += target[i][0] / n;
    qy += target[i][1] / n;
  }
  // least squares over scale k and translation for fixed rotation: k = Σ(p-p̄)·(q-q̄) / Σ|p-p̄|²
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const px = rotated[i][0] - mx;
    const py = rotated[i][1] - my;
    num += px * (target[i][0] - qx) + py * (target[i][1] - qy);
    den += px * px + py * py;
  }
  const k = num / den;
  if (!(k > 0) || !Number.isFinite(k)) throw new Error('landmarks do not look like a face (cannot fit the template)');
  return { a: k * c, b: k * s, tx: qx - k * mx, ty: qy - k * my };
}

/** An image in memory: rows of `width` pixels with `channels` interleaved uint8 values. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: number;
}

/**
 * Resample the image through `toCrop` (image pixels → crop fractions) into a size x size crop with the
 * image's channels. Bilinear sampling with k x k supersampling per output pixel, k the number of image
 * pixels per crop pixel (capped at 8), so a 300-pixel face shrunk to 48 is area-averaged, not aliased.
 * Outside the image the nearest edge pixel is repeated (a black border would be a feature the model never saw).
 */
export function warpToCrop(img: RawImage, toCrop: Similarity, size: number): Uint8Array {
  const { data, width: w, height: h, channels: ch } = img;
  if (data.length < w * h * ch) throw new Error(`image data too short: ${data.length} < ${w}x${h}x${ch}`);
  const inv = invertSimilarity(toCrop);
  const imgPerCrop = Math.hypot(inv.a, inv.b) / size;
  const k = Math.max(1, Math.min(8, Math.ceil(imgPerCrop - 1e-6)));
  const out = new Uint8Array(size * size * ch);
  const acc = new Float64Array(ch);
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      acc.fill(0);
      for (let sv = 0; sv < k; sv++) {
        for (let su = 0; su < k; su++) {
          const cx = (u + (su + 0.5) / k) / size;
          const cy = (v + (sv + 0.5) / k) / size;
          // image position, shifted so integer coordinates are pixel centres
          const x = inv.a * cx - inv.b * cy + inv.tx - 0.5;
          const y = inv.b * cx + inv.a * cy + inv.ty - 0.5;
          const x0 = Math.floor(x);
          const y0 = Math.floor(y);
          const fx = x - x0;
          const fy = y - y0;
          const xa = x0 < 0 ? 0 : x0 >= w ? w - 1 : x0;
          const xb = x0 + 1 < 0 ? 0 : x0 + 1 >= w ? w - 1 : x0 + 1;
          const ya = y0 < 0 ? 0 : y0 >= h ? h - 1 : y0;
          const yb = y0 + 1 < 0 ? 0 : y0 + 1 >= h ? h - 1 : y0 + 1;
          const i00 = (ya * w + xa) * ch;
          const i01 = (ya * w + xb) * ch;
          const i10 = (yb * w + xa) * ch;
          const i11 = (yb * w + xb) * ch;
          for (let c = 0; c < ch; c++) {
            const top = data[i00 + c] + (data[i01 + c] - data[i00 + c]) * fx;
            const bot = data[i10 + c] + (data[i11 + c] - data[i10 + c]) * fx;
            acc[c] += top + (bot - top) * fy;
          }
        }
      }
      const o = (v * size + u) * ch;
      for (let c = 0; c < ch; c++) out[o + c] = Math.round(acc[c] / (k * k));
    }
  }
  return out;
}

/** RGB(A) → grey with the ITU-R BT.601 luma weights (what OpenCV and FER2013's tooling use). */
export function toGray(img: RawImage): RawImage {
  if (img.channels === 1) return img;
  if (img.channels < 3) throw new Error(`cannot convert ${img.channels}-channel image to grey`);
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const { data, channels: ch } = img;
  for (let i = 0; i < n; i++) {
    const j = i * ch;
    out[i] = Math.round(0.299 * data[j] + 0.587 * data[j + 1] + 0.114 * data[j + 2]);
  }
  return { data: out, width: img.width, height: img.height, channels: 1 };
}

/** Grey → RGB by replication (for colour models fed grey images). */
export function toRgb(img: RawImage): RawImage {
  if (img.channels === 3) return img;
  if (img.channels === 4) {
    const n = img.width * img.height;
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = img.data[i * 4 + c];
    return { data: out, width: img.width, height: img.height, channels: 3 };
  }
  if (img.channels !== 1) throw new Error(`cannot convert ${img.channels}-channel image to RGB`);
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = img.data[i];
  return { data: out, width: img.width, height: img.height, channels: 3 };
}

/**
 * The model input of one face from its four points (eyes, nose tip, mouth centre) and the template they go
 * to on the crop: size x size x channels uint8, ready for `normalise`. Every detector's faces are aligned by
 * this (face-api's 68 landmarks give their points with `facePoints` and go to FER_TEMPLATE; BlazeFace's
 * keypoints go to their own measured template, src/face/blazeface.ts). Converting `img` to the model's
 * channels once beforehand (toGray/toRgb) saves doing it per face.
 */
export function alignPoints(
  img: RawImage,
  face: { points: FacePoints; template?: FacePoints },
  opts: { size: number; channels: number; alignSize?: number },
): { pixels: Uint8Array; transform: Similarity } {
  const transform = alignmentTransform(face.points, face.template ?? FER_TEMPLATE);
  const src = opts.channels === 1 ? toGray(img) : toRgb(img);
  if (!opts.alignSize || opts.alignSize === opts.size) return { pixels: warpToCrop(src, transform, opts.size), transform };
  // aligned at the training faces' own resolution, then resized as their decoding did (Lanczos-3)
  const small = warpToCrop(src, transform, opts.alignSize);
  const up = resizeLanczos3({ data: small, width: opts.alignSize, height: opts.alignSize, channels: opts.channels as 1 | 3 }, opts.size, opts.size);
  return { pixels: up.data as Uint8Array, transform };
}

/** The model input of one face from its 68 landmarks (iBUG order): alignPoints with facePoints. */
export function alignFace(
  img: RawImage,
  landmarks68: readonly Point[],
  opts: { size: number; channels: number; template?: FacePoints; alignSize?: number },
): { pixels: Uint8Array; transform: Similarity } {
  return alignPoints(img, { points: facePoints(landmarks68), template: opts.template }, opts);
}

/** uint8 pixels → the model's float input, (px/255 - mean)/std, written into `out` at `offset`. */
export function normalise(pixels: Uint8Array, mean: number, std: number, out?: Float32Array, offset = 0): Float32Array {
  const dst = out ?? new Float32Array(pixels.length);
  const a = 1 / (255 * std);
  const b = -mean / std;
  for (let i = 0; i < pixels.length; i++) dst[offset + i] = pixels[i] * a + b;
  return dst;
}

/** A crop-space box [y0, x0, y1, x1] (fractions, as in RegionSpec) placed on the image. */
export interface PlacedRegion {
  /** The four corners in image pixels: top-left, top-right, bottom-right, bottom-left of the crop box. */
  polygon: Point[];
  /** Axis-aligned bounding box of the polygon, in image pixels. */
  box: Box;
}

/** Map a crop box back to the image through the inverse of the alignment transform. */
export function placeRegion(cropBox: readonly [number, number, number, number], toCrop: Similarity): PlacedRegion {
  const inv = invertSimilarity(toCrop);
  const [y0, x0, y1, x1] = cropBox;
  const polygon = ([[x0, y0], [x1, y0], [x1, y1], [x0, y1]] as Point[]).map((p) => applySimilarity(inv, p));
  const xs = polygon.map((p) => p[0]);
  const ys = polygon.map((p) => p[1]);
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  return { polygon, box: { x: minX, y: minY, width: Math.max(...xs) - minX, height: Math.max(...ys) - minY } };
}

/** Angle of the eye line in degrees (0 = level; positive = the right-hand eye is lower). */
export function eyeAngle(face: FacePoints): number {
  return (Math.atan2(face.rightEye[1] - face.leftEye[1], face.rightEye[0] - face.leftEye[0]) * 180) / Math.PI;
}
