/**
 * Everything the page computes, in the browser: the tensor backend, the poi model (loaded with poi's own
 * format code), face-api's detector and landmarks (its esm-nobundle build, so it shares this page's tfjs),
 * and the page's side of recognition (decoding a canvas, detecting): the rest is the shared pipeline.
 */
import * as tf from '../../src/tf.js';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as faceapi from '@vladmandic/face-api/dist/face-api.esm-nobundle.js';
import { modelFromParts, parseModelManifest, type ModelManifest } from '../../src/model/format.js';
import type { PoiModel } from '../../src/model/poi.js';
import type { Point } from '../../src/face/align.js';
import { describeUncertainty, type Description } from '../../src/ui/describe.js';
import { DEFAULT_MAX_SIDE } from '../../src/face/resize.js';
import { createPipeline, photoFromRgba, type FaceResult, type Platform } from '../../src/infer/pipeline.js';
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

/**
 * One face: the shared pipeline's FaceResult (src/infer/pipeline.ts, the shape `poi predict --json` and
 * the Node API give; values unrounded here), plus what the page shows with it.
 */
export interface PageFace extends FaceResult {
  /** The plain sentence and level for the confidence. */
  description: Description;
  /** The aligned model input (size x size x channels), to show what poi saw. */
  crop: { pixels: Uint8Array; size: number; channels: number };
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

/** The browser's platform for the shared pipeline: a canvas's pixels, face-api's SSD + 68 landmarks on this page's tfjs. */
function browserPlatform(o: RecognizeOptions): Platform<HTMLCanvasElement> {
  return {
    async decode(photo) {
      const ctx = photo.getContext('2d', { willReadFrequently: true });
      if (!ctx) throw new Error('no 2d canvas context');
      const d = ctx.getImageData(0, 0, photo.width, photo.height);
      return photoFromRgba(d.data, d.width, d.height, o.maxSide);
    },
    async detect(img) {
      // the detector gets the same int32 RGB tensor as in Node (src/face/detector.ts)
      const pixels = tf.tensor3d(img.data as Uint8Array, [img.height, img.width, 3], 'int32');
      try {
        const options = new faceapi.SsdMobilenetv1Options({ minConfidence: o.minScore, maxResults: o.maxFaces });
        return (await faceapi.detectAllFaces(pixels as unknown as faceapi.TNetInput, options).withFaceLandmarks())
          .map((r) => ({ box: r.detection.box, score: r.detection.score, landmarks: r.landmarks.positions.map((p) => [p.x, p.y] as Point) }))
          .sort((a, b) => b.score - a.score)
          .slice(0, o.maxFaces);
      } finally {
        pixels.dispose();
      }
    },
  };
}

/**
 * Detect, align and recognise every face of the photo on `photo` (a canvas at full resolution) with the
 * pipeline Node's createRecognizer runs (src/infer/pipeline.ts); only decoding and detection are the
 * page's own. Coordinates come back in photo pixels.
 */
export async function recognize(model: PoiModel, photo: HTMLCanvasElement, opts: Partial<RecognizeOptions> = {}): Promise<PageFace[]> {
  const o = { ...DEFAULT_RECOGNIZE, ...opts };
  const base = createTfjsRunner(model);
  const runner = o.tta === 'flip' ? withFlipTta(base, model.config.input) : base;
  const input = model.config.input;
  // full precision: the page puts every value in the DOM as computed
  const pipeline = createPipeline({ classes: model.classes, input, runner, getModel: async () => model, platform: browserPlatform(o), round: false });
  try {
    const { faces, crops } = await pipeline.recognize(photo, { explain: o.explain });
    return faces.map((f, i) => ({
      ...f,
      description: describeUncertainty(f.emotions, f.confidence),
      crop: { pixels: crops[i], size: input.height, channels: input.channels },
    }));
  } finally {
    runner.dispose();
  }
}
