/**
 * From TRN's outputs to the per-face fields of a result (emotion distribution, top emotion, confidence,
 * uncertainty). Pure code (no Node imports): createRecognizer (src/infer/recognizer.ts) and the browser demo
 * (web/src/engine.ts) both build their faces with it.
 */

/** Round to 4 decimals (what `poi predict --json` prints). */
export const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/** classes[i] → values[offset + i], optionally rounded. */
export function distribution(classes: readonly string[], values: ArrayLike<number>, offset = 0, round?: (v: number) => number): Record<string, number> {
  const out: Record<string, number> = {};
  classes.forEach((c, i) => (out[c] = round ? round(values[offset + i]) : values[offset + i]));
  return out;
}

export interface EmotionFields {
  /** Class name → probability (sums to 1), in the model's class order. */
  emotions: Record<string, number>;
  /** The most probable class (the first one on a tie). */
  emotion: string;
  /** Its probability. */
  probability: number;
  /** The uncertainty module's confidence in (0,1). */
  confidence: number;
  /** 1 - confidence. */
  uncertainty: number;
}

/**
 * The fields of face i from a batch's outputs: probs [n*K] row-major in the model's class order, confidence [n].
 * `round` (e.g. round4) is applied to every number; without it the values are as computed.
 */
export function emotionFields(classes: readonly string[], probs: ArrayLike<number>, confidence: ArrayLike<number>, i: number, round: (v: number) => number = (v) => v): EmotionFields {
  const k = classes.length;
  if (probs.length < (i + 1) * k || confidence.length <= i) throw new Error(`emotionFields: face ${i} is not in outputs of ${probs.length} probabilities and ${confidence.length} confidences for ${k} classes`);
  let best = 0;
  for (let c = 1; c < k; c++) if (probs[i * k + c] > probs[i * k + best]) best = c;
  const conf = confidence[i];
  return {
    emotions: distribution(classes, probs, i * k, round),
    emotion: classes[best],
    probability: round(probs[i * k + best]),
    confidence: round(conf),
    uncertainty: round(1 - conf),
  };
}
