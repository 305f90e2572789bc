/**
 * Time per stage of the photo path (`poi predict --timing`, ImageResult.timing), measured by the shared
 * pipeline (src/infer/pipeline.ts) around the platform's calls and the runner. No imports: browser-safe
 * (`performance` is a global in Node and in browsers).
 */

/** Milliseconds per stage of the photo path. */
export interface StageTiming {
  /** Reading the file and decoding (and shrinking) the photo. */
  decode: number;
  /** The face detector (the platform's detect call, less what it reports as its landmark stage). */
  detect: number;
  /**
   * The landmark net (face-api's 68 points; 0 for BlazeFace, whose keypoints come with its boxes); in the
   * cropped-face mode, all of locating the face.
   */
  landmarks: number;
  /** The similarity warp of every face to the model's input. */
  align: number;
  /** TRN (and its test-time augmentation); in a batch, this image's share by faces. */
  trn: number;
  /** PIN's regions (`explain`); in a batch, this image's share by faces. */
  explain: number;
}

export const STAGES: readonly (keyof StageTiming)[] = ['decode', 'detect', 'landmarks', 'align', 'trn', 'explain'];

export function emptyTiming(): StageTiming {
  return { decode: 0, detect: 0, landmarks: 0, align: 0, trn: 0, explain: 0 };
}

/** Milliseconds as poi's timing tables show them (poi predict --timing, bench:webcam): whole from 100 up, one decimal below. */
export function formatMs(v: number): string {
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

/** Add `b` into `a`. */
export function addTiming(a: StageTiming, b: StageTiming): StageTiming {
  for (const k of STAGES) a[k] += b[k];
  return a;
}

/** Time an async step into timing[stage]. */
export async function timed<T>(timing: StageTiming | undefined, stage: keyof StageTiming, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    if (timing) timing[stage] += performance.now() - t0;
  }
}
