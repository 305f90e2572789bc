/**
 * Everything the page computes, in the browser: the tensor backend, the poi model (loaded with poi's own
 * format code), face-api's detector and landmarks (its esm-nobundle build, so it shares this page's tfjs),
 * and the recognition of every face in an image with poi's own alignment and normalisation.
 */
import * as tf from '../../src/tf.js';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as faceapi from '@vladmandic/face-api/dist/face-api.esm-nobundle.js';
import { modelFromParts, parseModelManifest, type ModelManifest } from '../../src/model/format.js';
import type { PoiModel } from '../../src/model/poi.js';
import { alignFace, normalise, placeRegion, type Point, type RawImage } from '../../src/face/align.js';
import { describeUncertainty, type Description } from '../../src/ui/describe.js';
import { AU_NAMES, type Au } from '../../src/model/prior.js';
import { DEFAULT_MAX_SIDE, shrinkToFit } from '../../src/face/resize.js';
import { distribution, emotionFields } from '../../src/infer/result.js';
import { createTfjsRunner, withFlipTta, type Tta } from '../../src/infer/runner.js';

/** Where the demo server puts things, relative to the page. */
export const PATHS = { poiModel: 'models/poi/', faceApi: 'models/face-api/', wasm: 'wasm/' };

export type BackendChoice = 'auto' | 'webgl' | 'wasm' | 'cpu';

/**
 * The WebGL renderer's name when it is a software rasteriser (SwiftShader, llvmpipe, ...), else null.
 * A CPU-emulated GPU runs tfjs's shaders far slower than the wasm backend's SIMD code (a minute vs a
 * second per photo, measured in headless chromium), so auto mode skips it.
 */
export function softwareWebGL(): string | null {
  try {
    const gl = document.createElement('canvas').getContext('webgl2') ?? document.createElement('canvas').getContext('webgl');
    if (!gl) return null;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    return /swiftshader|llvmpipe|softpipe|software|basic render/i.test(name) ? name : null;
  } catch {
    return null;
  }
}

/**
 * Pick the tensor backend: `wanted` if given, otherwise WebGL when the browser has a hardware WebGL,
 * else WASM (SIMD, one thread), else the plain JS cpu backend. WebGPU would come first, but @tensorflow/tfjs-backend-webgpu is not a dependency
 * of poi. Returns the backend in use and why others were skipped.
 */
export async function chooseBackend(wanted: BackendChoice = 'auto'): Promise<{ backend: string; note: string }> {
  // The wasm binaries come from our server, never from a CDN.
  setWasmPaths(new URL(PATHS.wasm, document.baseURI).href);
  // Single-threaded SIMD build: the threaded build's pthread workers re-run tfjs's emscripten glue from
  // Function.toString(), which breaks once Vite has bundled it ("e is not defined" in every worker).
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  let order: string[] = wanted === 'auto' ? ['webgl', 'wasm', 'cpu'] : [wanted];
  const notes: string[] = [];
  if (wanted === 'auto') {
    const sw = softwareWebGL();
    if (sw) {
      order = order.filter((b) => b !== 'webgl');
      notes.push('software WebGL skipped');
    }
  }
  for (const name of order) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        // a context can exist but fail at the first kernel (blocklisted GPU): check with one op
        const probe = tf.tidy(() => tf.sum(tf.tensor1d([1, 2, 3])));
        const ok = (await probe.data())[0] === 6;
        probe.dispose();
        if (ok) return { backend: tf.getBackend(), note: notes.join('; ') };
      }
      notes.push(`${name} unavailable`);
    } catch (e) {
      console.warn(`poi: backend ${name} unavailable:`, e);
      notes.push(`${name} unavailable`);
    }
  }
  throw new Error(`no tensor backend works in this browser (tried ${order.join(', ')})`);
}

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}

/** Load the poi model folder served at `base` (model.json + weights.bin) with poi's format code. */
export async function loadPoiModel(base = PATHS.poiModel): Promise<{ model: PoiModel; manifest: ModelManifest }> {
  const jsonUrl = new URL('model.json', new URL(base, document.baseURI)).href;
  const binUrl = new URL('weights.bin', new URL(base, document.baseURI)).href;
  const manifest = parseModelManifest(await (await fetchOk(jsonUrl)).text(), jsonUrl);
  const weights = await (await fetchOk(binUrl)).arrayBuffer();
  return { model: modelFromParts(manifest, weights, binUrl), manifest };
}

/** Load face-api's SSD MobileNet v1 detector and 68-point landmark model from our server. */
export async function loadFaceApi(base = PATHS.faceApi): Promise<void> {
  const url = new URL(base, document.baseURI).href;
  await faceapi.nets.ssdMobilenetv1.loadFromUri(url);
  await faceapi.nets.faceLandmark68Net.loadFromUri(url);
}

export interface RegionExplanation {
  name: string;
  /** PIN branch's emotion distribution. */
  emotions: Record<string, number>;
  /** AU activations of the region, most active first. */
  aus: { au: number; name: string; p: number }[];
  /** The region's box on the aligned crop, [y0, x0, y1, x1] fractions. */
  cropBox: [number, number, number, number];
  /** The same box on the photo (corners, photo pixels). */
  polygon: Point[];
}

/** One face; field names follow the Node API's FaceResult (src/infer/recognizer.ts), values unrounded. */
export interface FaceResult {
  /** Detector box in photo pixels. */
  box: { x: number; y: number; width: number; height: number };
  score: number;
  /** 68 landmarks in photo pixels. */
  landmarks: Point[];
  /** Class → probability, in the model's class order. */
  emotions: Record<string, number>;
  emotion: string;
  probability: number;
  /** poi's confidence c in (0,1). */
  confidence: number;
  description: Description;
  /** The aligned model input (size x size x channels), to show what poi saw. */
  crop: { pixels: Uint8Array; size: number; channels: number };
  /** With explain: PIN's regions and its aggregated ("objective") distribution. */
  explain?: { regions: RegionExplanation[]; objective: Record<string, number> };
}

export interface RecognizeOptions {
  /** Detector score threshold (Node's default). */
  minScore: number;
  /** At most this many faces, highest scores first (Node's default). */
  maxFaces: number;
  /**
   * Photos are shrunk so their longer side is at most this before detection and alignment: the same
   * default and the same shrink code as Node's decodePhoto (src/face/resize.ts), so both see the same pixels.
   */
  maxSide: number;
  explain: boolean;
  /** 'flip': TRN also reads each face's mirror image and averages the two (Node's --tta flip, same code). */
  tta: Tta;
}

export const DEFAULT_RECOGNIZE: RecognizeOptions = { minScore: 0.5, maxFaces: 100, maxSide: DEFAULT_MAX_SIDE, explain: false, tta: 'none' };

/**
 * The photo as poi's RawImage (RGB), shrunk to fit maxSide by the code Node's decodePhoto uses
 * (src/face/resize.ts); `scale` maps its pixels back to the photo's (photo = image * scale).
 */
export function photoPixels(photo: HTMLCanvasElement, maxSide: number): { image: RawImage; scale: number } {
  const ctx = photo.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2d canvas context');
  const d = ctx.getImageData(0, 0, photo.width, photo.height);
  const n = d.width * d.height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[i * 3] = d.data[i * 4];
    rgb[i * 3 + 1] = d.data[i * 4 + 1];
    rgb[i * 3 + 2] = d.data[i * 4 + 2];
  }
  return shrinkToFit({ data: rgb, width: d.width, height: d.height, channels: 3 }, maxSide);
}

/**
 * Detect, align and recognise every face of the photo on `photo` (a canvas at full resolution), the way
 * Node's createRecognizer does: shrink to maxSide, face-api SSD + 68 landmarks on the RGB pixels, poi's
 * alignment and normalisation, TRN (and PIN with explain). Coordinates come back in photo pixels.
 */
export async function recognize(model: PoiModel, photo: HTMLCanvasElement, opts: Partial<RecognizeOptions> = {}): Promise<FaceResult[]> {
  const o = { ...DEFAULT_RECOGNIZE, ...opts };
  const { image: img, scale: s } = photoPixels(photo, o.maxSide);
  // the detector gets the same int32 RGB tensor as in Node (src/face/detector.ts)
  const pixels = tf.tensor3d(img.data as Uint8Array, [img.height, img.width, 3], 'int32');
  let found;
  try {
    const options = new faceapi.SsdMobilenetv1Options({ minConfidence: o.minScore, maxResults: o.maxFaces });
    found = (await faceapi.detectAllFaces(pixels as unknown as faceapi.TNetInput, options).withFaceLandmarks())
      .map((r) => ({ box: r.detection.box, score: r.detection.score, landmarks: r.landmarks.positions.map((p) => [p.x, p.y] as Point) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, o.maxFaces);
  } finally {
    pixels.dispose();
  }
  if (!found.length) return [];
  const { height: size, channels, mean, std, alignSize } = model.config.input;
  const per = size * size * channels;
  const n = found.length;
  const x = new Float32Array(n * per);
  const aligned = found.map((f, i) => {
    const a = alignFace(img, f.landmarks, { size, channels, alignSize });
    normalise(a.pixels, mean, std, x, i * per);
    // alignment maps detection-scale pixels; compose with the scale back to photo pixels
    const toCrop = { a: a.transform.a / s, b: a.transform.b / s, tx: a.transform.tx, ty: a.transform.ty };
    return { ...a, toCrop };
  });
  const k = model.numClasses;
  // TRN through the runner Node's recognizer uses, so flip TTA is the same code on both sides
  const base = createTfjsRunner(model);
  const trn = o.tta === 'flip' ? withFlipTta(base, model.config.input) : base;
  const { probs, confidence: conf } = await trn.run(x, n);
  const input = o.explain ? tf.tensor4d(x, [n, size, size, channels]) : null;
  try {
    let explained: FaceResult['explain'][] = [];
    if (input) {
      const e = model.explain(input);
      if (e) {
        const q = await e.q.data();
        const regions = await Promise.all(e.regions.map(async (r) => ({ r, probs: await r.probs.data(), au: await r.auProbs.data() })));
        const specs = model.config.pin.regions;
        explained = aligned.map((a, i) => ({
          objective: distribution(model.classes, q, i * k),
          regions: regions.map(({ r, probs: rp, au }) => {
            const box = specs.find((sp) => sp.name === r.name)?.box ?? ([0, 0, 1, 1] as [number, number, number, number]);
            return {
              name: r.name,
              emotions: distribution(model.classes, rp, i * k),
              aus: r.aus.map((num, j) => ({ au: num, name: AU_NAMES[num as Au] ?? `AU${num}`, p: au[i * r.aus.length + j] })).sort((u, v) => v.p - u.p),
              cropBox: box,
              polygon: placeRegion(box, a.toCrop).polygon,
            };
          }),
        }));
        tf.dispose([e.q, ...e.regions.flatMap((r) => [r.probs, r.auProbs])]);
      }
    }
    return found.map((f, i) => {
      // the Node API's per-face fields, computed by the same code (unrounded here)
      const { emotions, emotion, probability, confidence } = emotionFields(model.classes, probs, conf, i);
      return {
        box: { x: f.box.x * s, y: f.box.y * s, width: f.box.width * s, height: f.box.height * s },
        score: f.score,
        landmarks: f.landmarks.map(([px, py]) => [px * s, py * s] as Point),
        emotions,
        emotion,
        probability,
        confidence,
        description: describeUncertainty(emotions, confidence),
        crop: { pixels: aligned[i].pixels, size, channels },
        explain: explained[i],
      };
    });
  } finally {
    input?.dispose();
  }
}
