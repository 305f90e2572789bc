/**
 * BlazeFace (Bazarevsky et al. 2019, Google MediaPipe) on a loaded tfjs graph model: the input's shrink and
 * padding, the anchors, the decoding of the network's outputs into boxes and six keypoints (the two eyes,
 * nose tip, mouth centre, the two ear tragions), MediaPipe's weighted non-maximum suppression, and the
 * keypoints the shared pipeline aligns on (eyes, nose, mouth, to BLAZEFACE_TEMPLATE).
 *
 * Browser-safe (no Node imports): Node's detector (src/face/blazeface.ts, which loads the weights from
 * disk) and the browser page (web/src/engine.ts, which fetches them from the demo server) both run this.
 */
import * as tf from '../tf.js';
import type { Box, FacePoints, Point, RawImage } from './align.js';

/** The model's input side. */
export const BLAZEFACE_SIZE = 256;

/**
 * Where BlazeFace's keypoints of the FERPlus 48x48 training faces lie, as fractions of the crop (eyes, nose
 * tip, mouth centre): the medians over 341 FER2013Train faces that BlazeFace found when 450 were pasted into
 * larger photos, each keypoint mapped back into its face's crop through the known paste
 * (`node dist/bench/detector-accuracy.js --data .../FER2013Train --n 450 --detectors blazeface --template`;
 * measured on training faces, so the Valid faces it is evaluated on played no part). BlazeFace's eye keypoints
 * sit lower than the means of face-api's six eye-contour points that FER_TEMPLATE holds (0.40 against 0.38).
 */
export const BLAZEFACE_TEMPLATE: FacePoints = {
  leftEye: [0.3098, 0.4122],
  rightEye: [0.6854, 0.3983],
  nose: [0.4991, 0.5968],
  mouth: [0.5077, 0.7706],
};

export interface BlazeFaceDetection {
  /** Face box in the pixels of the image given to detect(). */
  box: Box;
  score: number;
  /** Six keypoints in the same pixels: eye on the image's left, eye on the right, nose tip, mouth, left ear, right ear. */
  keypoints: Point[];
}

export interface BlazeFaceOptions {
  /** Minimum score in (0,1) (default 0.5). */
  minScore?: number;
  /** At most this many faces, highest scores first (default 100). */
  maxFaces?: number;
  /** Overlap above which weighted NMS merges two candidates (default 0.3, MediaPipe's). */
  iou?: number;
}

/** A detection as the shared pipeline takes it (src/infer/pipeline.ts DetectedFace): the six keypoints as its landmarks, four of them to align on. */
export interface BlazeFaceFace {
  box: Box;
  score: number;
  landmarks: Point[];
  points: FacePoints;
  template: FacePoints;
}

/** Eyes, nose tip and mouth centre of a detection, with BlazeFace's template: what the pipeline's alignment uses. */
export function blazefaceFace(d: BlazeFaceDetection): BlazeFaceFace {
  const k = d.keypoints;
  return { box: d.box, score: d.score, landmarks: k, points: { leftEye: k[0], rightEye: k[1], nose: k[2], mouth: k[3] }, template: BLAZEFACE_TEMPLATE };
}

/** Anchors of the 256x256 model: strides 16 and 32, two and six anchors per cell; centres in input pixels, x then y. */
export function blazefaceAnchors(size = BLAZEFACE_SIZE): Float32Array {
  const spec = [
    { stride: size / 16, n: 2 },
    { stride: size / 8, n: 6 },
  ];
  const out: number[] = [];
  for (const { stride, n } of spec) {
    const cells = Math.ceil(size / stride);
    for (let gy = 0; gy < cells; gy++) {
      for (let gx = 0; gx < cells; gx++) for (let k = 0; k < n; k++) out.push(stride * (gx + 0.5), stride * (gy + 0.5));
    }
  }
  return Float32Array.from(out);
}

/**
 * How an image of `width` x `height` becomes the model's input: an integer box average by `k` (so a big photo
 * is not aliased), then bilinear to `nw` x `nh` (the longer side 256), padded at the right or bottom to
 * 256x256. Input pixel (continuous coordinates) * (sx, sy) = image pixel.
 */
export function blazefaceGeometry(width: number, height: number, size = BLAZEFACE_SIZE): { k: number; nw: number; nh: number; sx: number; sy: number } {
  const f = Math.max(width, height) / size;
  const k = Math.max(1, Math.floor(f));
  const pw = Math.floor(width / k);
  const ph = Math.floor(height / k);
  const r = size / Math.max(pw, ph);
  const nw = Math.max(1, Math.min(size, Math.round(pw * r)));
  const nh = Math.max(1, Math.min(size, Math.round(ph * r)));
  return { k, nw, nh, sx: (k * pw) / nw, sy: (k * ph) / nh };
}

/**
 * The image box-averaged by `k` (what avgPool(k, k, 'valid') gives: the rows and columns past a whole box
 * dropped; each mean the float32 sum times float32 1/k², as XNNPACK's pooling computes it), RGB as float32
 * [floor(h/k), floor(w/k), 3], from an RGB or RGBA image (alpha ignored). Done here rather than as a tensor
 * op so that only the shrunk image is copied into the backend: a 640x480 frame's int32 tensor cost more than
 * the whole box average.
 */
export function boxAverageRgb(img: RawImage, k: number): { data: Float32Array; width: number; height: number } {
  const { data, width: w, channels: ch } = img;
  if (ch !== 3 && ch !== 4) throw new Error(`BlazeFace: expected an RGB or RGBA image, got ${ch} channels`);
  if (data.length < w * img.height * ch) throw new Error(`image data too short: ${data.length} < ${w}x${img.height}x${ch}`);
  const pw = Math.floor(w / k);
  const ph = Math.floor(img.height / k);
  const out = new Float32Array(pw * ph * 3);
  if (k === 1) {
    for (let i = 0, n = pw * ph; i < n; i++) {
      out[i * 3] = data[i * ch];
      out[i * 3 + 1] = data[i * ch + 1];
      out[i * 3 + 2] = data[i * ch + 2];
    }
    return { data: out, width: pw, height: ph };
  }
  if (k === 2) {
    // a 640x480 webcam frame: unrolled (the same sums, in the same order, times 0.25)
    const stride = w * ch;
    for (let y = 0, o = 0; y < ph; y++) {
      for (let x = 0, p = 2 * y * stride, q = p + stride; x < pw; x++, p += 2 * ch, q += 2 * ch, o += 3) {
        out[o] = (data[p] + data[p + ch] + data[q] + data[q + ch]) * 0.25;
        out[o + 1] = (data[p + 1] + data[p + ch + 1] + data[q + 1] + data[q + ch + 1]) * 0.25;
        out[o + 2] = (data[p + 2] + data[p + ch + 2] + data[q + 2] + data[q + ch + 2]) * 0.25;
      }
    }
    return { data: out, width: pw, height: ph };
  }
  const inv = Math.fround(1 / (k * k));
  for (let y = 0; y < ph; y++) {
    for (let x = 0; x < pw; x++) {
      let r = 0, g = 0, b = 0;
      for (let dy = 0; dy < k; dy++) {
        let p = ((y * k + dy) * w + x * k) * ch;
        for (let dx = 0; dx < k; dx++, p += ch) {
          r += data[p];
          g += data[p + 1];
          b += data[p + 2];
        }
      }
      const o = (y * pw + x) * 3;
      out[o] = r * inv;
      out[o + 1] = g * inv;
      out[o + 2] = b * inv;
    }
  }
  return { data: out, width: pw, height: ph };
}

interface Candidate {
  score: number;
  /** x0, y0, x1, y1 in input pixels. */
  b: [number, number, number, number];
  /** 12 values: six keypoints x, y in input pixels. */
  k: Float32Array;
}

const iou = (a: Candidate['b'], b: Candidate['b']): number => {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const i = w * h;
  return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i);
};

/**
 * MediaPipe's weighted non-maximum suppression: the best candidate absorbs every other one that overlaps it
 * by more than `threshold`, and its box and keypoints become their score-weighted mean (steadier keypoints
 * than keeping the single best anchor).
 */
function weightedNms(cands: Candidate[], threshold: number, maxFaces: number): Candidate[] {
  const left = [...cands].sort((a, b) => b.score - a.score);
  const out: Candidate[] = [];
  while (left.length > 0 && out.length < maxFaces) {
    const best = left[0];
    const group: Candidate[] = [];
    const rest: Candidate[] = [];
    for (const c of left) (iou(best.b, c.b) > threshold ? group : rest).push(c);
    let w = 0;
    const b: Candidate['b'] = [0, 0, 0, 0];
    const k = new Float32Array(12);
    for (const c of group) {
      w += c.score;
      for (let i = 0; i < 4; i++) b[i] += c.score * c.b[i];
      for (let i = 0; i < 12; i++) k[i] += c.score * c.k[i];
    }
    for (let i = 0; i < 4; i++) b[i] /= w;
    for (let i = 0; i < 12; i++) k[i] /= w;
    out.push({ score: best.score, b, k });
    left.length = 0;
    left.push(...rest);
  }
  return out;
}

/** Values per anchor in the model's read-back output: the score logit, then the 16 regressors. */
export const BLAZEFACE_ROW = 17;

/**
 * The network's outputs, read back as one array of `BLAZEFACE_ROW` values per anchor (score logit; box
 * centre offset x, y and size w, h; six keypoint offsets x, y; all in input pixels, relative to the anchor),
 * decoded into faces in image pixels (input pixel * (sx, sy)), highest score first.
 */
export function decodeBlazeFace(out: Float32Array, anchors: Float32Array, scale: { sx: number; sy: number }, opts: BlazeFaceOptions = {}): BlazeFaceDetection[] {
  const minScore = opts.minScore ?? 0.5;
  const maxFaces = opts.maxFaces ?? 100;
  const n = anchors.length / 2;
  if (out.length !== n * BLAZEFACE_ROW) throw new Error(`BlazeFace: expected ${n} x ${BLAZEFACE_ROW} outputs, got ${out.length}`);
  const cands: Candidate[] = [];
  const minLogit = Math.log(minScore / (1 - minScore));
  for (let i = 0; i < n; i++) {
    const o = i * BLAZEFACE_ROW;
    const l = out[o];
    if (!(l >= minLogit)) continue;
    const ax = anchors[2 * i];
    const ay = anchors[2 * i + 1];
    const cx = out[o + 1] + ax;
    const cy = out[o + 2] + ay;
    const bw = out[o + 3];
    const bh = out[o + 4];
    const kp = new Float32Array(12);
    for (let j = 0; j < 6; j++) {
      kp[2 * j] = out[o + 5 + 2 * j] + ax;
      kp[2 * j + 1] = out[o + 6 + 2 * j] + ay;
    }
    cands.push({ score: 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, l)))), b: [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], k: kp });
  }
  const { sx, sy } = scale;
  return weightedNms(cands, opts.iou ?? 0.3, maxFaces).map((c) => ({
    box: { x: c.b[0] * sx, y: c.b[1] * sy, width: (c.b[2] - c.b[0]) * sx, height: (c.b[3] - c.b[1]) * sy },
    score: c.score,
    keypoints: Array.from({ length: 6 }, (_, j) => [c.k[2 * j] * sx, c.k[2 * j + 1] * sy] as Point),
  }));
}

/** BlazeFace on a tfjs graph model (the 256x256 full-range model in models/blazeface/). */
export class BlazeFaceNet {
  private readonly anchors = blazefaceAnchors(BLAZEFACE_SIZE);
  constructor(private readonly model: tf.GraphModel) {}

  /**
   * Faces in an RGB image tensor ([H, W, 3], int32 or float 0-255), highest score first, in its pixels: the
   * image shrunk and padded (blazefaceGeometry), one run, one read-back. The tensor is not disposed.
   */
  async detectTensor(pixels: tf.Tensor3D, opts: BlazeFaceOptions = {}): Promise<BlazeFaceDetection[]> {
    const [h, w, c] = pixels.shape;
    if (c !== 3) throw new Error(`BlazeFace: expected an RGB image, got ${c} channels`);
    const g = blazefaceGeometry(w, h, BLAZEFACE_SIZE);
    return this.run(() => {
      const x = tf.expandDims(pixels.toFloat(), 0) as tf.Tensor4D;
      return g.k > 1 ? tf.avgPool(x, g.k, g.k, 'valid') : x;
    }, g, opts);
  }

  /**
   * Faces in an RGB or RGBA image, highest score first: the box average done on the CPU (boxAverageRgb),
   * then as detectTensor.
   */
  async detect(img: RawImage, opts: BlazeFaceOptions = {}): Promise<BlazeFaceDetection[]> {
    const g = blazefaceGeometry(img.width, img.height, BLAZEFACE_SIZE);
    const boxed = boxAverageRgb(img, g.k);
    return this.run(() => tf.tensor4d(boxed.data, [1, boxed.height, boxed.width, 3]), g, opts);
  }

  /** The rest of a run on the box-averaged image `boxed()` makes (inside tidy): resize, pad, normalise, the net, one read-back, decoding. */
  private async run(boxed: () => tf.Tensor4D, g: ReturnType<typeof blazefaceGeometry>, opts: BlazeFaceOptions): Promise<BlazeFaceDetection[]> {
    const S = BLAZEFACE_SIZE;
    const out = tf.tidy(() => {
      const resized = tf.image.resizeBilinear(boxed(), [g.nh, g.nw], false, true);
      const padded = tf.pad(resized, [[0, 0], [0, S - g.nh], [0, S - g.nw], [0, 0]]);
      const input = tf.sub(tf.div(padded, 127.5), 1);
      const res = this.model.execute(input) as tf.Tensor[];
      // four outputs: scores and regressors of the 512 stride-16 anchors and of the 384 stride-32 ones
      const sorted = [...res].sort((a, b) => a.size - b.size);
      const scores = tf.concat([sorted[1].reshape([-1, 1]), sorted[0].reshape([-1, 1])]);
      const regs = tf.concat([sorted[3].reshape([-1, 16]), sorted[2].reshape([-1, 16])]);
      return tf.concat([scores, regs], 1);
    });
    try {
      return decodeBlazeFace((await out.data()) as Float32Array, this.anchors, g, opts);
    } finally {
      out.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}
