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

/** Where the demo server puts things, relative to the page. */
export const PATHS = { poiModel: 'models/poi/', faceApi: 'models/face-api/', wasm: 'wasm/' };

export type BackendChoice = 'auto' | 'webgl' | 'wasm' | 'cpu';

/**
 * Pick the tensor backend: `wanted` if given, otherwise WebGL when the browser has a working WebGL
 * context, else WASM (threaded when the page is cross-origin isolated, which the demo server allows),
 * else the plain JS cpu backend. WebGPU would come first, but @tensorflow/tfjs-backend-webgpu is not a
 * dependency of poi. Returns the backend in use.
 */
export async function chooseBackend(wanted: BackendChoice = 'auto'): Promise<string> {
  // The wasm binaries come from our server, never from a CDN.
  setWasmPaths(new URL(PATHS.wasm, document.baseURI).href);
  const order: string[] = wanted === 'auto' ? ['webgl', 'wasm', 'cpu'] : [wanted];
  for (const name of order) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        // a WebGL context can exist but fail at the first kernel (blocklisted GPU): check with one op
        const probe = tf.tidy(() => tf.sum(tf.tensor1d([1, 2, 3])));
        const ok = (await probe.data())[0] === 6;
        probe.dispose();
        if (ok) return tf.getBackend();
      }
    } catch (e) {
      console.warn(`poi: backend ${name} unavailable:`, e);
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
  probs: Record<string, number>;
  /** AU activations of the region, AU number → probability. */
  aus: { au: number; name: string; p: number }[];
  /** The region's box on the aligned crop, [y0, x0, y1, x1] fractions. */
  cropBox: [number, number, number, number];
  /** The same box on the image (corners, image pixels). */
  polygon: Point[];
}

export interface FaceResult {
  /** Detector box in image pixels. */
  box: { x: number; y: number; width: number; height: number };
  detectorScore: number;
  landmarks: Point[];
  /** Class → probability, in the model's class order. */
  probs: Record<string, number>;
  top: string;
  /** poi's confidence c in (0,1). */
  confidence: number;
  description: Description;
  /** The aligned model input (size x size grey), to show what poi saw. */
  crop: { pixels: Uint8Array; size: number; channels: number };
  explain?: { regions: RegionExplanation[]; q: Record<string, number> };
}

export interface RecognizeOptions {
  /** Detector score threshold. */
  minScore: number;
  explain: boolean;
}

export const DEFAULT_RECOGNIZE: RecognizeOptions = { minScore: 0.5, explain: false };

function named(classes: string[], row: ArrayLike<number>): Record<string, number> {
  const o: Record<string, number> = {};
  classes.forEach((c, i) => (o[c] = row[i]));
  return o;
}

/** Read a canvas's pixels as poi's RawImage (RGBA). */
export function rawImage(canvas: HTMLCanvasElement): RawImage {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2d canvas context');
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height);
  return { data: d.data, width: d.width, height: d.height, channels: 4 };
}

/** Detect, align and recognise every face on `canvas` (which holds the image at full resolution). */
export async function recognize(model: PoiModel, canvas: HTMLCanvasElement, opts: Partial<RecognizeOptions> = {}): Promise<FaceResult[]> {
  const o = { ...DEFAULT_RECOGNIZE, ...opts };
  const img = rawImage(canvas);
  const detections = await faceapi.detectAllFaces(canvas, new faceapi.SsdMobilenetv1Options({ minConfidence: o.minScore })).withFaceLandmarks();
  if (!detections.length) return [];
  const { height: size, channels, mean, std } = model.config.input;
  const n = detections.length;
  const x = new Float32Array(n * size * size * channels);
  const aligned = detections.map((d, i) => {
    const landmarks = d.landmarks.positions.map((p) => [p.x, p.y] as Point);
    const a = alignFace(img, landmarks, { size, channels });
    normalise(a.pixels, mean, std, x, i * size * size * channels);
    return { d, landmarks, ...a };
  });
  const input = tf.tensor4d(x, [n, size, size, channels]);
  try {
    const out = model.predict(input);
    const probs = await out.probs.data();
    const conf = await out.confidence.data();
    tf.dispose([out.probs, out.confidence]);
    let explained: FaceResult['explain'][] = [];
    if (o.explain) {
      const e = model.explain(input);
      if (e) {
        const q = await e.q.data();
        const regions = await Promise.all(e.regions.map(async (r) => ({ r, probs: await r.probs.data(), au: await r.auProbs.data() })));
        const specs = model.config.pin.regions;
        explained = aligned.map((a, i) => ({
          q: named(model.classes, q.subarray(i * model.numClasses, (i + 1) * model.numClasses)),
          regions: regions.map(({ r, probs: rp, au }, ri) => ({
            name: r.name,
            probs: named(model.classes, rp.subarray(i * model.numClasses, (i + 1) * model.numClasses)),
            aus: r.aus.map((n, k) => ({ au: n, name: AU_NAMES[n as Au] ?? `AU${n}`, p: au[i * r.aus.length + k] })).sort((p1, p2) => p2.p - p1.p),
            cropBox: specs[ri].box,
            polygon: placeRegion(specs[ri].box, a.transform).polygon,
          })),
        }));
        tf.dispose([e.q, ...e.regions.flatMap((r) => [r.probs, r.auProbs])]);
      }
    }
    const k = model.numClasses;
    return aligned.map((a, i) => {
      const p = named(model.classes, probs.subarray(i * k, (i + 1) * k));
      const top = Object.entries(p).sort((u, v) => v[1] - u[1])[0][0];
      const b = a.d.detection.box;
      return {
        box: { x: b.x, y: b.y, width: b.width, height: b.height },
        detectorScore: a.d.detection.score,
        landmarks: a.landmarks,
        probs: p,
        top,
        confidence: conf[i],
        description: describeUncertainty(p, conf[i]),
        crop: { pixels: a.pixels, size, channels },
        explain: explained[i],
      };
    });
  } finally {
    input.dispose();
  }
}
