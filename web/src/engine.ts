/**
 * Everything the page computes, in the browser: the tensor backend, the poi model (loaded with poi's own
 * format code), the face detectors (BlazeFace through poi's own browser-safe src/face/blazeface-net.ts, the
 * code Node runs; face-api's SSD and tiny detectors with its 68-point landmarks, through its esm-nobundle
 * build so it shares this page's tfjs), and the page's side of recognition (decoding a canvas,
 * detecting): the rest is the shared pipeline.
 */
import * as tf from '../../src/tf.js';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as faceapi from '@vladmandic/face-api/dist/face-api.esm-nobundle.js';
import { modelFromParts, parseModelManifest, type ModelManifest } from '../../src/model/format.js';
import type { PoiModel } from '../../src/model/poi.js';
import { toRgb, type Box, type Point, type RawImage } from '../../src/face/align.js';
import { DEFAULT_DESCRIBE, describeOptionsFor, describeUncertainty, type DescribeOptions, type Description } from '../../src/ui/describe.js';
import { DEFAULT_MAX_SIDE } from '../../src/face/resize.js';
import { createPipeline, photoFromRgba, type DetectedFace, type FaceResult, type Photo, type Platform } from '../../src/infer/pipeline.js';
import { createTfjsRunner, withFlipTta, type Tta } from '../../src/infer/runner.js';
import { blazefaceFace, BlazeFaceNet } from '../../src/face/blazeface-net.js';
import { DEFAULT_LOCATOR, LOCATORS, type LocatorName } from '../../src/face/kinds.js';

/** Where the demo server puts things, relative to the page. */
export const PATHS = { poiModel: 'models/poi/', faceApi: 'models/face-api/', blazeface: 'models/blazeface/', wasm: 'wasm/' };

export type BackendChoice = 'auto' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/** The backend the page runs on, and how it got there. */
export interface BackendInfo {
  /** tf.getBackend(): webgpu, webgl, wasm or cpu. */
  backend: string;
  /** For people: "wasm (SIMD, 2 threads)", "webgpu (nvidia)", ... */
  label: string;
  /** Why faster backends were skipped ("no WebGPU; software WebGL skipped"). */
  note: string;
  /** self.crossOriginIsolated: the page may share memory with workers (needed for wasm threads). */
  isolated: boolean;
  /** wasm only: the thread count its threadpool runs (1 for the single-threaded build). */
  threads: number | null;
  /** wasm only: its SIMD build is in use. */
  simd: boolean | null;
}

/** A software renderer's name (SwiftShader, llvmpipe, ...). */
const SOFTWARE_GPU = /swiftshader|llvmpipe|softpipe|software|basic render|lavapipe/i;

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
    return SOFTWARE_GPU.test(name) ? name : null;
  } catch {
    return null;
  }
}

interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
}

/**
 * The browser's WebGPU adapter, or why there is none worth using: no navigator.gpu, no adapter, or (unless
 * `allowSoftware`) a fallback/software adapter (SwiftShader's Vulkan), which is slower than wasm.
 */
async function webgpuAdapter(allowSoftware: boolean): Promise<{ name: string } | { skip: string }> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(o?: object): Promise<GpuAdapterLike | null> } }).gpu;
  if (!gpu) return { skip: 'no WebGPU' };
  let adapter: GpuAdapterLike | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    adapter = null;
  }
  if (!adapter) return { skip: 'no WebGPU adapter' };
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'gpu';
  if (!allowSoftware && (adapter.isFallbackAdapter || info.isFallbackAdapter || SOFTWARE_GPU.test(name))) return { skip: 'software WebGPU skipped' };
  return { name };
}

export interface BackendOptions {
  /**
   * wasm threads: 0 (default) uses half the logical cores, n >= 1 asks for n (at most 8); more than one needs
   * a cross-origin isolated page (the single-threaded SIMD build otherwise); 1 is the single-threaded build.
   */
  threads?: number;
}

/**
 * Pick the tensor backend: `wanted` if given, otherwise the first that works of WebGPU (a hardware adapter;
 * @tensorflow/tfjs-backend-webgpu is loaded only then), WebGL (a hardware GPU), WASM (SIMD, with threads when
 * the page is cross-origin isolated, see src/demo/server.ts), and the plain JS cpu backend.
 */
export async function chooseBackend(wanted: BackendChoice = 'auto', opts: BackendOptions = {}): Promise<BackendInfo> {
  // The wasm binaries come from our server, never from a CDN.
  setWasmPaths(new URL(PATHS.wasm, document.baseURI).href);
  const threads = opts.threads ?? 0;
  // The threaded build needs SharedArrayBuffer, i.e. a cross-origin isolated page; tfjs checks that itself.
  // Its workers re-run the emscripten glue from a Blob; web/vite.config.ts keeps that glue intact in the bundle.
  // Default: half the logical cores (tfjs's own choice), which leaves the rest to the video, the page and
  // whatever else runs; measured on a busy 2-core machine, two threads gave a third of one thread's fps
  // (README, bench:webcam). One thread uses the plain SIMD build (no idle workers).
  const n = Math.min(8, threads >= 1 ? threads : Math.max(1, Math.floor((navigator.hardwareConcurrency || 1) / 2)));
  if (n === 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  else setThreadsCount(n);
  const all = ['webgpu', 'webgl', 'wasm', 'cpu'];
  // a wanted backend that does not work here falls back to the others, in the usual order (body[data-backend] tells)
  let order: string[] = wanted === 'auto' ? all : [wanted, ...all.filter((b) => b !== wanted && b !== 'webgpu' && b !== 'webgl')];
  const notes: string[] = [];
  let gpuName = '';
  if (order.includes('webgpu')) {
    const a = await webgpuAdapter(wanted === 'webgpu');
    if ('skip' in a) {
      order = order.filter((b) => b !== 'webgpu');
      notes.push(a.skip);
    } else {
      gpuName = a.name;
      try {
        await import('@tensorflow/tfjs-backend-webgpu'); // registers 'webgpu'
      } catch (e) {
        console.warn('poi: @tensorflow/tfjs-backend-webgpu failed to load:', e);
        order = order.filter((b) => b !== 'webgpu');
        notes.push('webgpu backend failed to load');
      }
    }
  }
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
        // face-api reads some results synchronously (dataSync: SSD's scores); tfjs's WebGPU backend does that
        // through a canvas, which fails on some adapters (zeros on SwiftShader): check on a GPU-resident tensor
        if (ok && name === 'webgpu' && !syncReadsWork()) {
          notes.push('webgpu: synchronous reads fail (face-api needs them)');
          if (wanted !== 'webgpu') continue;
        }
        if (ok) return describeBackend(notes.join('; '), gpuName);
      }
      notes.push(`${name} unavailable`);
    } catch (e) {
      console.warn(`poi: backend ${name} unavailable:`, e);
      notes.push(`${name} unavailable`);
    }
  }
  throw new Error(`no tensor backend works in this browser (tried ${order.join(', ')})`);
}

function syncReadsWork(): boolean {
  const t = tf.tidy(() => tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])));
  try {
    const v = t.dataSync();
    return v[0] === 64 && v[v.length - 1] === 64;
  } catch {
    return false;
  } finally {
    t.dispose();
  }
}

async function describeBackend(note: string, gpuName: string): Promise<BackendInfo> {
  const backend = tf.getBackend();
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  let threads: number | null = null;
  let simd: boolean | null = null;
  let label = backend;
  if (backend === 'wasm') {
    simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
    const mt = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) as boolean;
    threads = mt && simd ? getThreadsCount() : 1;
    label = `wasm (${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'}${isolated ? '' : '; not cross-origin isolated: no threads'})`;
  } else if (backend === 'webgpu' && gpuName) {
    label = `webgpu (${gpuName})`;
  }
  return { backend, label, note, isolated, threads, simd };
}

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}

/**
 * Load the poi model folder served at `base` (model.json + weights.bin) with poi's format code.
 * `describe`: the options to describe its faces with (its own bands from model.json, else the
 * defaults: describeOptionsFor), for RecognizeOptions.describe.
 */
export async function loadPoiModel(base = PATHS.poiModel): Promise<{ model: PoiModel; manifest: ModelManifest; describe: DescribeOptions }> {
  const jsonUrl = new URL('model.json', new URL(base, document.baseURI)).href;
  const binUrl = new URL('weights.bin', new URL(base, document.baseURI)).href;
  const manifest = parseModelManifest(await (await fetchOk(jsonUrl)).text(), jsonUrl);
  let describe: DescribeOptions;
  try {
    describe = describeOptionsFor(manifest);
  } catch (e) {
    throw new Error(`${jsonUrl}: ${(e as Error).message}`);
  }
  const weights = await (await fetchOk(binUrl)).arrayBuffer();
  return { model: modelFromParts(manifest, weights, binUrl), manifest, describe };
}

/**
 * The detectors, as in Node (`poi predict --detector blazeface|ssd|tiny`, the same names: src/face/kinds.ts):
 * BlazeFace (box and six keypoints from one small net, no landmark net), or face-api's SSD MobileNet v1 or
 * Tiny Face Detector, each followed by face-api's 68-point landmark net.
 */
export type DetectorName = LocatorName;
export const DETECTORS: readonly DetectorName[] = LOCATORS;

/** Load face-api's SSD MobileNet v1 and Tiny Face Detector and its 68-point landmark model from our server. */
export async function loadFaceApi(base = PATHS.faceApi): Promise<void> {
  const url = new URL(base, document.baseURI).href;
  await Promise.all([faceapi.nets.ssdMobilenetv1.loadFromUri(url), faceapi.nets.tinyFaceDetector.loadFromUri(url), faceapi.nets.faceLandmark68Net.loadFromUri(url)]);
}

let blazeface: BlazeFaceNet | null = null;

/** Load BlazeFace (poi's models/blazeface/, a tfjs graph model) from our server; detection runs src/face/blazeface-net.ts. */
export async function loadBlazeFace(base = PATHS.blazeface): Promise<void> {
  if (blazeface) return;
  const url = new URL('blazeface.json', new URL(base, document.baseURI)).href;
  blazeface = new BlazeFaceNet(await tf.loadGraphModel(url));
}

/** Every detector's models (the page offers all of them). */
export async function loadDetectors(): Promise<void> {
  await Promise.all([loadFaceApi(), loadBlazeFace()]);
}

/**
 * One face: the shared pipeline's FaceResult (src/infer/pipeline.ts, the shape `poi predict --json` and
 * the Node API give; values unrounded here), plus what the page shows with it.
 */
export interface PageFace extends FaceResult {
  /** The plain sentence and level for the confidence. */
  description: Description;
  /** The bands of c the description used (RecognizeOptions.describe: the model's), for the gauge. */
  bands: Pick<DescribeOptions, 'sureAbove' | 'unsureBelow'>;
  /** The aligned model input (size x size x channels), to show what poi saw. */
  crop: { pixels: Uint8Array; size: number; channels: number };
}

export interface RecognizeOptions {
  /**
   * 'blazeface' (the default, Node's too, so photos give what `poi predict` gives: the fastest, no landmark net),
   * 'ssd' (slower; finds small and turned faces a little more often) or 'tiny'.
   */
  detector: DetectorName;
  /** The tiny detector's input size (a multiple of 32; Node's default 416). */
  tinyInputSize: number;
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
  /**
   * How faces are put in words: pass the loaded model's (loadPoiModel's `describe`, describeOptionsFor),
   * since the bands of c are per model; DEFAULT_DESCRIBE otherwise.
   */
  describe: DescribeOptions;
}

export const DEFAULT_RECOGNIZE: RecognizeOptions = {
  detector: DEFAULT_LOCATOR,
  tinyInputSize: 416,
  minScore: 0.5,
  maxFaces: 100,
  maxSide: DEFAULT_MAX_SIDE,
  explain: false,
  tta: 'none',
  describe: DEFAULT_DESCRIBE,
};

/** The canvas's pixels as a Photo (RGB, shrunk to maxSide by Node's code). */
function decodeCanvas(photo: HTMLCanvasElement, maxSide: number): Photo {
  const ctx = photo.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2d canvas context');
  const d = ctx.getImageData(0, 0, photo.width, photo.height);
  return photoFromRgba(d.data, d.width, d.height, maxSide);
}

/** A video frame's pixels: RGBA, row after row (ImageData's layout; VideoFrame.copyTo with format 'RGBA'). */
export interface RgbaFrame {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

/**
 * A video frame (on a canvas, or its RGBA pixels) as a Photo, RGBA as given (no copy to RGB: BlazeFace and
 * the alignment read RGBA; face-api's detectors get RGB in imageTensor), unless it must be shrunk to maxSide.
 */
function decodeFrame(frame: HTMLCanvasElement | RgbaFrame, maxSide: number): Photo {
  let px: RgbaFrame;
  if ('getContext' in frame) {
    if (Math.max(frame.width, frame.height) > maxSide) return decodeCanvas(frame, maxSide);
    const ctx = frame.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('no 2d canvas context');
    px = ctx.getImageData(0, 0, frame.width, frame.height);
  } else {
    px = frame;
    if (Math.max(px.width, px.height) > maxSide) return photoFromRgba(px.data, px.width, px.height, maxSide);
  }
  const { data, width, height } = px;
  if (data.length !== width * height * 4) throw new Error(`frame: expected ${width}x${height}x4 bytes, got ${data.length}`);
  return { image: { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height, channels: 4 }, width, height, scale: 1 };
}

/** face-api's detectors get the same int32 RGB tensor as in Node (src/face/detector.ts). */
const imageTensor = (img: RawImage) => {
  const rgb = toRgb(img);
  return tf.tensor3d(rgb.data as Uint8Array, [rgb.height, rgb.width, 3], 'int32');
};

/**
 * face-api's 68 landmarks in each box, computed as its withFaceLandmarks() does (the landmark model on the
 * box clipped to the image and floored; its points scaled to that crop and shifted by `shift`, face-api's
 * detection box corner), so the page gives what Node gives. Read with an async download: face-api's own
 * detectLandmarks reads with dataSync, which tfjs's WebGPU backend cannot always do (zeros on SwiftShader).
 */
async function landmarksIn(pixels: tf.Tensor3D, boxes: Box[], shifts: Point[] = boxes.map((b) => [b.x, b.y])): Promise<Point[][]> {
  const [H, W] = pixels.shape;
  const net = faceapi.nets.faceLandmark68Net as unknown as { forwardInput(input: unknown): tf.Tensor2D };
  const out: Point[][] = [];
  for (let i = 0; i < boxes.length; i++) {
    const b = boxes[i];
    // face-api's Box.clipAtImageBorders(W, H), floored
    const cx = Math.max(b.x, 0);
    const cy = Math.max(b.y, 0);
    const [x, y, w, h] = [cx, cy, Math.min(b.x + b.width - cx, W - cx), Math.min(b.y + b.height - cy, H - cy)].map(Math.floor);
    if (w <= 0 || h <= 0) throw new Error(`landmarks: box ${JSON.stringify(b)} is outside the ${W}x${H} image`);
    const crop = tf.slice3d(pixels, [y, x, 0], [h, w, 3]);
    try {
      const input = await faceapi.toNetInput(crop as unknown as faceapi.TNetInput);
      const t = tf.tidy(() => net.forwardInput(input));
      const v = await t.data();
      t.dispose();
      const [sx, sy] = shifts[i];
      out.push(Array.from({ length: 68 }, (_, k) => [v[2 * k] * w + sx, v[2 * k + 1] * h + sy] as Point));
    } finally {
      crop.dispose();
    }
  }
  return out;
}

/** The detector on `img` (face-api's + its 68 landmarks, or BlazeFace's boxes and keypoints), highest scores first. */
async function detectFaces(img: RawImage, o: RecognizeOptions): Promise<DetectedFace[]> {
  if (o.detector === 'blazeface') {
    if (!blazeface) throw new Error('BlazeFace is not loaded (loadBlazeFace)');
    // Node's code (src/face/blazeface-net.ts): the box average on the CPU, one small tensor, one read-back
    return (await blazeface.detect(img, { minScore: o.minScore, maxFaces: o.maxFaces })).map(blazefaceFace);
  }
  const pixels = imageTensor(img);
  try {
    const options =
      o.detector === 'tiny'
        ? new faceapi.TinyFaceDetectorOptions({ inputSize: o.tinyInputSize, scoreThreshold: o.minScore })
        : new faceapi.SsdMobilenetv1Options({ minConfidence: o.minScore, maxResults: o.maxFaces });
    const found = (await faceapi.detectAllFaces(pixels as unknown as faceapi.TNetInput, options))
      .map((d) => ({ box: { x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height }, score: d.score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, o.maxFaces);
    const marks = await landmarksIn(pixels, found.map((f) => f.box));
    return found.map((f, i) => ({ ...f, landmarks: marks[i] }));
  } finally {
    pixels.dispose();
  }
}

/** The browser's platform for the shared pipeline: a canvas's pixels, the detector on this page's tfjs. */
function browserPlatform(o: RecognizeOptions): Platform<HTMLCanvasElement> {
  return {
    decode: async (photo) => decodeCanvas(photo, o.maxSide),
    detect: (img) => detectFaces(img, o),
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
    return toPageFaces(faces, crops, input.height, input.channels, o.describe);
  } finally {
    runner.dispose();
  }
}

function toPageFaces(faces: FaceResult[], crops: Uint8Array[], size: number, channels: number, describe: DescribeOptions): PageFace[] {
  const bands = { sureAbove: describe.sureAbove, unsureBelow: describe.unsureBelow };
  return faces.map((f, i) => ({ ...f, description: describeUncertainty(f.emotions, f.confidence, describe), bands, crop: { pixels: crops[i], size, channels } }));
}

// ---------------------------------------------------------------------------------------------------------
// Live video: detect every N frames, track the landmarks in between.

export interface LiveOptions extends RecognizeOptions {
  /**
   * face-api's detectors: run the detector on every Nth frame (1: every frame). In between, each face is
   * tracked: the landmark model runs on a box placed from the face's previous landmarks (as the detector's
   * box sat around them), which follows a moving face for a fraction of the detector's cost. A face that
   * moved or changed size much since the last frame, or left the frame, makes the next frame a detection;
   * new faces appear at the next detection. BlazeFace detects on every frame (1 whatever is asked): the
   * whole detector costs less than the landmark net that tracking would run.
   */
  detectEvery: number;
}

export const DEFAULT_LIVE: LiveOptions = { ...DEFAULT_RECOGNIZE, detector: 'blazeface', maxSide: 640, detectEvery: 5 };

/** Milliseconds per stage of one frame. */
export interface FrameTiming {
  /** getImageData + RGBA to RGB (+ shrink). */
  decode: number;
  /** The detector and (face-api's detectors) the landmark model on its faces (0 on a tracked frame). */
  detect: number;
  /** The landmark model on the tracked boxes (0 on a detection frame). */
  track: number;
  /** Alignment, normalisation and TRN (+ PIN with explain) on every face: all of the frame after detection. */
  recognise: number;
  /** Of `recognise`: aligning the faces (the pipeline's align stage). */
  align: number;
  /** Of `recognise`: normalisation and TRN on all the frame's faces in one batch, read back once. */
  trn: number;
}

export interface LiveFrame {
  faces: PageFace[];
  /** This frame ran the detector (else it tracked). */
  detected: boolean;
  timing: FrameTiming;
}

export interface LiveRecognizer {
  readonly options: LiveOptions;
  /** Recognise the frame `frame`: a canvas with the video frame drawn on it, or the frame's RGBA pixels. */
  process(frame: HTMLCanvasElement | RgbaFrame, opts?: { explain?: boolean }): Promise<LiveFrame>;
  /** Forget the tracked faces (the next frame detects). */
  reset(): void;
  dispose(): void;
}

interface Track {
  landmarks: Point[];
  score: number | null;
  /** The detection box relative to the landmarks' bounding box: centre offset and size, in units of its size. */
  rel: { dx: number; dy: number; sw: number; sh: number };
}

function bounds(points: Point[]): { x: number; y: number; width: number; height: number } {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of points) {
    if (x < x0) x0 = x;
    if (y < y0) y0 = y;
    if (x > x1) x1 = x;
    if (y > y1) y1 = y;
  }
  return { x: x0, y: y0, width: Math.max(1e-6, x1 - x0), height: Math.max(1e-6, y1 - y0) };
}

function relativeTo(box: Box, points: Point[]): Track['rel'] {
  const b = bounds(points);
  return {
    dx: (box.x + box.width / 2 - (b.x + b.width / 2)) / b.width,
    dy: (box.y + box.height / 2 - (b.y + b.height / 2)) / b.height,
    sw: box.width / b.width,
    sh: box.height / b.height,
  };
}

function placeBox(points: Point[], rel: Track['rel']): Box {
  const b = bounds(points);
  const cx = b.x + b.width / 2 + rel.dx * b.width;
  const cy = b.y + b.height / 2 + rel.dy * b.height;
  const w = rel.sw * b.width;
  const h = rel.sh * b.height;
  return { x: cx - w / 2, y: cy - h / 2, width: w, height: h };
}

/** How far a face may move (centre, in face sizes) or grow/shrink between two frames before the next frame re-detects. */
const DRIFT = { move: 0.25, scale: 1.25 };

/** Recognition on a stream of frames of one size, with tracking between detections (LiveOptions.detectEvery). */
export function createLiveRecognizer(model: PoiModel, opts: Partial<LiveOptions> = {}): LiveRecognizer {
  const o: LiveOptions = { ...DEFAULT_LIVE, ...opts };
  if (!(o.detectEvery >= 1)) throw new Error(`detectEvery must be at least 1 (got ${o.detectEvery})`);
  // BlazeFace has no landmark net to track with: it runs on every frame
  if (o.detector === 'blazeface') o.detectEvery = 1;
  const base = createTfjsRunner(model);
  const runner = o.tta === 'flip' ? withFlipTta(base, model.config.input) : base;
  const input = model.config.input;
  let tracks: Track[] = [];
  let sinceDetect = 0;
  let redetect = true;
  let timing: FrameTiming = { decode: 0, detect: 0, track: 0, recognise: 0, align: 0, trn: 0 };
  let detected = false;

  const full = async (img: RawImage): Promise<DetectedFace[]> => {
    const t0 = performance.now();
    const found = await detectFaces(img, o);
    tracks = found.map((f) => ({ landmarks: f.landmarks, score: f.score, rel: relativeTo(f.box, f.landmarks) }));
    sinceDetect = 0;
    redetect = false;
    detected = true;
    timing.detect = performance.now() - t0;
    return found;
  };

  const track = async (img: RawImage): Promise<DetectedFace[]> => {
    const t0 = performance.now();
    // each face's box from its last landmarks, clipped to the frame (face-api crops the same way)
    const boxes = tracks.map((t) => {
      const b = placeBox(t.landmarks, t.rel);
      const x = Math.max(0, Math.floor(b.x));
      const y = Math.max(0, Math.floor(b.y));
      const w = Math.floor(Math.min(img.width, b.x + b.width) - x);
      const h = Math.floor(Math.min(img.height, b.y + b.height) - y);
      return { x, y, width: w, height: h, full: b };
    });
    // a face that left the frame (most of its box outside) ends tracking: detect now
    if (boxes.some((b) => b.width < 0.5 * b.full.width || b.height < 0.5 * b.full.height || b.width < 16 || b.height < 16)) return full(img);
    const pixels = imageTensor(img);
    let marks: Point[][];
    try {
      marks = await landmarksIn(pixels, boxes);
    } finally {
      pixels.dispose();
    }
    const out: DetectedFace[] = tracks.map((t, i) => {
      const landmarks = marks[i];
      const before = bounds(t.landmarks);
      const after = bounds(landmarks);
      const size = Math.max(before.width, before.height);
      const moved = Math.hypot(after.x + after.width / 2 - (before.x + before.width / 2), after.y + after.height / 2 - (before.y + before.height / 2)) / size;
      const grew = Math.max(after.width, after.height) / size;
      if (moved > DRIFT.move || grew > DRIFT.scale || grew < 1 / DRIFT.scale) redetect = true;
      t.landmarks = landmarks;
      return { box: placeBox(landmarks, t.rel), score: t.score, landmarks };
    });
    sinceDetect++;
    timing.track = performance.now() - t0;
    return out;
  };

  const platform: Platform<HTMLCanvasElement | RgbaFrame> = {
    async decode(frame) {
      const t0 = performance.now();
      const p = decodeFrame(frame, o.maxSide);
      timing.decode = performance.now() - t0;
      return p;
    },
    detect: (img) => (redetect || tracks.length === 0 || sinceDetect + 1 >= o.detectEvery ? full(img) : track(img)),
  };
  const pipeline = createPipeline({ classes: model.classes, input, runner, getModel: async () => model, platform, round: false });

  return {
    options: o,
    async process(frame, p = {}) {
      timing = { decode: 0, detect: 0, track: 0, recognise: 0, align: 0, trn: 0 };
      detected = false;
      const t0 = performance.now();
      const { faces, crops, timing: stages } = await pipeline.recognize(frame, { explain: p.explain ?? o.explain });
      timing.recognise = Math.max(0, performance.now() - t0 - timing.decode - timing.detect - timing.track);
      timing.align = stages.align;
      timing.trn = stages.trn;
      return { faces: toPageFaces(faces, crops, input.height, input.channels, o.describe), detected, timing };
    },
    reset() {
      tracks = [];
      redetect = true;
    },
    dispose() {
      runner.dispose();
    },
  };
}

/** For debugging in the console (?debug=1 puts these on window.poiDebug). */
export const debugHandles = {
  tf,
  faceapi,
  get blazeface(): BlazeFaceNet | null {
    return blazeface;
  },
  model: null as PoiModel | null,
};
