/**
 * The inference step behind an interface, so another engine (ONNX Runtime: src/infer/ort-runner.ts
 * createOrtRunner) can replace tfjs without the recognizer changing, and test-time augmentation can wrap
 * any of them. No Node imports: the browser page runs TRN through the same code (Node's choice of engine
 * is src/infer/runtime.ts).
 */
import * as tf from '../tf.js';
import type { PoiModel } from '../model/poi.js';

/** Runs TRN on a batch of faces. */
export interface TrnRunner {
  readonly backend: string;
  /**
   * `input`: n faces, normalised NHWC float32 ((px/255 - mean)/std, the model's input size and channels).
   * Returns n*K class probabilities (row-major, the model's class order) and n confidences in (0,1).
   */
  run(input: Float32Array, n: number): Promise<{ probs: Float32Array; confidence: Float32Array }>;
  dispose(): void;
}

/** TRN on tfjs (whatever backend initBackend chose). */
export function createTfjsRunner(model: PoiModel, opts: { dispose?: boolean } = {}): TrnRunner {
  const { height, width, channels } = model.config.input;
  const per = height * width * channels;
  let disposed = false;
  return {
    backend: `tfjs-${tf.getBackend()}`,
    async run(input: Float32Array, n: number) {
      if (disposed) throw new Error('runner is disposed');
      if (input.length !== n * per) throw new Error(`runner: expected ${n}x${height}x${width}x${channels} = ${n * per} values, got ${input.length}`);
      if (n === 0) return { probs: new Float32Array(0), confidence: new Float32Array(0) };
      // one read-back per batch (a sync point on GPU backends): each face's probabilities and c in one row
      const both = tf.tidy(() => {
        const out = model.predict(tf.tensor4d(input, [n, height, width, channels]));
        return tf.concat([out.probs, tf.reshape(out.confidence, [n, 1])], 1);
      });
      let v: Float32Array;
      try {
        v = (await both.data()) as Float32Array;
      } finally {
        both.dispose();
      }
      const k = v.length / n - 1;
      const probs = new Float32Array(n * k);
      const confidence = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        probs.set(v.subarray(i * (k + 1), i * (k + 1) + k), i * k);
        confidence[i] = v[i * (k + 1) + k];
      }
      return { probs, confidence };
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      // the model may be shared (the recognizer keeps it for explain); only free it when asked
      if (opts.dispose) model.dispose();
    },
  };
}

/** Test-time augmentation: 'flip' also runs each face's mirror image and averages the two. */
export type Tta = 'none' | 'flip';

/**
 * TRN on each face and on its left-right mirror in one batch of 2n, probabilities and c averaged.
 * Faces are symmetric enough that the mirror is another honest look: on FER2013Valid it adds about
 * half a point of accuracy and lowers KL and ECE, for twice TRN's (small) cost.
 */
export function withFlipTta(runner: TrnRunner, dims: { height: number; width: number; channels: number }): TrnRunner {
  const { height: h, width: w, channels: c } = dims;
  const per = h * w * c;
  return {
    backend: `${runner.backend}+flip`,
    async run(input: Float32Array, n: number) {
      if (input.length !== n * per) throw new Error(`runner: expected ${n}x${h}x${w}x${c} = ${n * per} values, got ${input.length}`);
      const both = new Float32Array(2 * n * per);
      both.set(input);
      for (let f = 0; f < n; f++) {
        for (let y = 0; y < h; y++) {
          const row = f * per + y * w * c;
          for (let x = 0; x < w; x++) {
            for (let ch = 0; ch < c; ch++) both[n * per + row + x * c + ch] = input[row + (w - 1 - x) * c + ch];
          }
        }
      }
      const out = await runner.run(both, 2 * n);
      const k = out.probs.length / (2 * n);
      const probs = new Float32Array(n * k);
      const confidence = new Float32Array(n);
      for (let i = 0; i < n * k; i++) probs[i] = (out.probs[i] + out.probs[n * k + i]) / 2;
      for (let i = 0; i < n; i++) confidence[i] = (out.confidence[i] + out.confidence[n + i]) / 2;
      return { probs, confidence };
    },
    dispose() {
      runner.dispose();
    },
  };
}

/** --tta / options.tta: validated. */
export function parseTta(v: string | undefined): Tta | undefined {
  if (v !== undefined && v !== 'none' && v !== 'flip') throw new Error(`tta: expected none or flip, got "${v}"`);
  return v;
}
