/**
 * Face detection and 68-point landmarks with @vladmandic/face-api's pretrained models, loaded from
 * the npm package's model/ folder (no network). Node only.
 *
 * face-api's node-wasm bundle `require`s @tensorflow/tfjs, which resolves to the same module
 * instance poi imports through src/tf.ts, so it runs on whatever backend initBackend chose (wasm with
 * poi's kernels, cpu, ...) and shares its engine and memory. `loadFaceApi` checks that and refuses
 * to run otherwise (two engines would silently double memory and disagree on the backend).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '../tf.js';
import type { Point } from './align.js';
import type { DetectedFace } from '../infer/pipeline.js';

const require = createRequire(import.meta.url);

export type DetectorName = 'ssd' | 'tiny';

export interface DetectorOptions {
  /**
   * 'ssd' (SSD MobileNet v1: finds small and turned faces more often; FaceDetector's default) or 'tiny' (Tiny
   * Face Detector: faster). poi's photo path defaults to BlazeFace instead (src/face/kinds.ts DEFAULT_LOCATOR).
   */
  detector?: DetectorName;
  /** Minimum detection score in (0,1) (default 0.5). */
  minScore?: number;
  /** At most this many faces per image, the highest scores first (default 100). */
  maxFaces?: number;
  /** Tiny detector's input size, a multiple of 32 (default 416; larger finds smaller faces, slower). */
  tinyInputSize?: number;
  /** Landmark model: 'full' (faceLandmark68Net, default) or 'tiny' (faceLandmark68TinyNet). */
  landmarks?: 'full' | 'tiny';
}

/**
 * Options with their defaults filled and their values checked, once for face-api's detectors here and
 * for every locator kind (src/face/locators.ts): `kinds` are the detector names the caller accepts,
 * `defaultDetector` the one used when none is given.
 */
export function detectorOptions<N extends string>(
  o: { detector?: N; minScore?: number; maxFaces?: number; tinyInputSize?: number; landmarks?: 'full' | 'tiny' },
  kinds: readonly N[],
  defaultDetector: N,
): { detector: N; minScore: number; maxFaces: number; tinyInputSize: number; landmarks: 'full' | 'tiny' } {
  const opts = {
    detector: o.detector ?? defaultDetector,
    minScore: o.minScore ?? 0.5,
    maxFaces: o.maxFaces ?? 100,
    tinyInputSize: o.tinyInputSize ?? 416,
    landmarks: o.landmarks ?? 'full',
  };
  if (!kinds.includes(opts.detector)) throw new Error(`unknown detector "${opts.detector}" (${kinds.join(', ')})`);
  if (!(opts.minScore > 0 && opts.minScore < 1)) throw new Error(`minScore must be in (0,1), got ${opts.minScore}`);
  if (opts.tinyInputSize % 32 !== 0 || opts.tinyInputSize < 128) throw new Error(`tinyInputSize must be a multiple of 32, at least 128 (got ${opts.tinyInputSize})`);
  return opts;
}

/** A detected face (the same type the shared pipeline takes from every platform's detector). */
export type { DetectedFace };

// The slice of face-api's API poi uses (its own .d.ts pulls in tfjs-core types we do not need).
interface FaBox { x: number; y: number; width: number; height: number }
interface FaResult { detection: { box: FaBox; score: number }; landmarks: { positions: { x: number; y: number }[] } }
interface FaNet { loadFromDisk(dir: string): Promise<void>; isLoaded: boolean }
export interface FaceApi {
  tf: { engine(): unknown };
  nets: {
    ssdMobilenetv1: FaNet;
    tinyFaceDetector: FaNet;
    faceLandmark68Net: FaNet;
    faceLandmark68TinyNet: FaNet;
    faceExpressionNet: FaNet & { predictExpressions(input: unknown): Promise<Record<string, number> | Record<string, number>[]> };
  };
  SsdMobilenetv1Options: new (o: { minConfidence?: number; maxResults?: number }) => unknown;
  TinyFaceDetectorOptions: new (o: { inputSize?: number; scoreThreshold?: number }) => unknown;
  detectAllFaces(input: unknown, options: unknown): { withFaceLandmarks(tiny?: boolean): Promise<FaResult[]> };
}

let faceapi: FaceApi | null = null;

/** Folder of face-api's pretrained weights inside the installed package. */
export function faceApiModelDir(): string {
  return join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
}

/** A sample photo shipped with face-api (demo/sample1.jpg .. sample6.jpg). */
export function faceApiSample(n = 1): string {
  return join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo', `sample${n}.jpg`);
}

/** face-api bound to poi's tfjs instance. Call after initBackend(). */
export function loadFaceApi(): FaceApi {
  if (faceapi) return faceapi;
  const fa = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
  if (fa.tf.engine() !== tf.engine()) {
    throw new Error('@vladmandic/face-api loaded a second copy of @tensorflow/tfjs; poi needs them to share one (check for nested node_modules)');
  }
  faceapi = fa;
  return fa;
}

const loading = new Map<string, Promise<void>>();

/** Load one of face-api's nets from disk once per process. */
export async function loadNet(fa: FaceApi, name: keyof FaceApi['nets']): Promise<void> {
  const net = fa.nets[name];
  if (net.isLoaded) return;
  let p = loading.get(name);
  if (!p) {
    p = net.loadFromDisk(faceApiModelDir()).catch((e: Error) => {
      loading.delete(name);
      throw new Error(`cannot load face-api model "${name}" from ${faceApiModelDir()}: ${e.message}`);
    });
    loading.set(name, p);
  }
  await p;
}

/** Detector + landmarks with fixed options. */
export class FaceDetector {
  readonly detector: DetectorName;
  private readonly opts: Required<DetectorOptions>;

  private constructor(private readonly fa: FaceApi, opts: Required<DetectorOptions>) {
    this.opts = opts;
    this.detector = opts.detector;
  }

  /** Load face-api and the models the options need. The tfjs backend must already be initialised. */
  static async create(options: DetectorOptions = {}): Promise<FaceDetector> {
    const opts = detectorOptions<DetectorName>(options, ['ssd', 'tiny'], 'ssd');
    const fa = loadFaceApi();
    await loadNet(fa, opts.detector === 'ssd' ? 'ssdMobilenetv1' : 'tinyFaceDetector');
    await loadNet(fa, opts.landmarks === 'tiny' ? 'faceLandmark68TinyNet' : 'faceLandmark68Net');
    return new FaceDetector(fa, opts);
  }

  /** Faces in an RGB image (height x width x 3 uint8), highest score first. */
  async detect(rgb: Uint8Array, width: number, height: number): Promise<(DetectedFace & { score: number })[]> {
    if (rgb.length !== width * height * 3) throw new Error(`detect: expected ${width}x${height}x3 bytes, got ${rgb.length}`);
    const o = this.opts;
    const options =
      o.detector === 'ssd'
        ? new this.fa.SsdMobilenetv1Options({ minConfidence: o.minScore, maxResults: o.maxFaces })
        : new this.fa.TinyFaceDetectorOptions({ inputSize: o.tinyInputSize, scoreThreshold: o.minScore });
    const x = tf.tensor3d(rgb, [height, width, 3], 'int32');
    try {
      const res = await this.fa.detectAllFaces(x, options).withFaceLandmarks(o.landmarks === 'tiny');
      return res
        .map((r) => ({
          box: { x: r.detection.box.x, y: r.detection.box.y, width: r.detection.box.width, height: r.detection.box.height },
          score: r.detection.score,
          landmarks: r.landmarks.positions.map((p) => [p.x, p.y] as Point),
        }))
        .sort((a, b) => b.score - a.score)
        .slice(0, o.maxFaces);
    } finally {
      x.dispose();
    }
  }
}
