/**
 * The AU prior (DESIGN.md part 1): prototypical action units per emotion (EMFACS/FACS) and the facial
 * region that shows each AU. This is data, not learned; PIN is initialised and supervised from it.
 */

/** The AUs the prior mentions, in a fixed order (index = AU slot in every AU vector). */
export const AUS = [1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 20, 23, 24, 25, 26] as const;
export type Au = (typeof AUS)[number];

export const AU_NAMES: Record<Au, string> = {
  1: 'inner brow raiser', 2: 'outer brow raiser', 4: 'brow lowerer', 5: 'upper lid raiser',
  6: 'cheek raiser', 7: 'lid tightener', 9: 'nose wrinkler', 10: 'upper lip raiser',
  12: 'lip corner puller', 14: 'dimpler', 15: 'lip corner depressor', 16: 'lower lip depressor',
  17: 'chin raiser', 20: 'lip stretcher', 23: 'lip tightener', 24: 'lip pressor', 25: 'lips part',
  26: 'jaw drop',
};

/** Prototypes: required AUs, and optional ones (the parenthesised AUs of DESIGN.md). */
export const EMOTION_PROTOTYPES: Record<string, { required: Au[]; optional: Au[] }> = {
  neutral: { required: [], optional: [] },
  happiness: { required: [6, 12], optional: [25] },
  surprise: { required: [1, 2, 5, 26], optional: [25] },
  sadness: { required: [1, 4, 15], optional: [17] },
  anger: { required: [4, 5, 7, 23], optional: [24] },
  disgust: { required: [9, 15, 16], optional: [10, 17] },
  fear: { required: [1, 2, 4, 5, 7, 20, 26], optional: [] },
  // contempt's AU12 is unilateral; the prior cannot say which side, so it counts as AU12.
  contempt: { required: [12, 14], optional: [] },
};

/** Other spellings users' datasets use for the same emotions (RAF-DB, AffectNet, folder names). */
const ALIASES: Record<string, string> = {
  happy: 'happiness', happiness: 'happiness', joy: 'happiness',
  sad: 'sadness', sadness: 'sadness',
  surprised: 'surprise', surprise: 'surprise',
  angry: 'anger', anger: 'anger',
  disgusted: 'disgust', disgust: 'disgust',
  fearful: 'fear', fear: 'fear', scared: 'fear',
  neutral: 'neutral', calm: 'neutral',
  contempt: 'contempt',
};

/** Canonical prior name of a dataset's class name, or null if the prior does not know it. */
export function priorEmotion(className: string): string | null {
  return ALIASES[className.trim().toLowerCase()] ?? null;
}

/** A region of the aligned face. Boxes are [y0, x0, y1, x1] as fractions of the face crop. */
export interface RegionSpec {
  name: string;
  /** AUs this region can show. */
  aus: Au[];
  box: [number, number, number, number];
}

/**
 * PIN's branches. Upper face = brows + eyes; middle = nose + cheeks (AU6, the cheek raiser, shows in
 * both the eyes and the cheeks, so both regions see it: choice); lower = mouth + chin; global = all.
 * Boxes are canonical positions on a pre-aligned crop (FERPlus 48x48, RAF-DB aligned); they overlap on
 * purpose so a slightly misaligned face keeps each feature inside its region.
 */
export const DEFAULT_REGIONS: RegionSpec[] = [
  { name: 'upper', aus: [1, 2, 4, 5, 6, 7], box: [0.0, 0.0, 0.55, 1.0] },
  { name: 'middle', aus: [6, 9, 10], box: [0.3, 0.15, 0.75, 0.85] },
  { name: 'lower', aus: [12, 14, 15, 16, 17, 20, 23, 24, 25, 26], box: [0.55, 0.1, 1.0, 0.9] },
  { name: 'global', aus: [...AUS], box: [0, 0, 1, 1] },
];

/** Weight of an optional AU in a prototype pattern (choice). */
export const OPTIONAL_AU_WEIGHT = 0.5;

/**
 * Pattern matrix P [classes x aus] in [0,1]: 1 for a required AU, OPTIONAL_AU_WEIGHT for an optional
 * one. Rows of classes the prior does not know are null.
 */
export function auPatterns(classes: string[], aus: readonly Au[] = AUS): (Float32Array | null)[] {
  return classes.map((c) => {
    const e = priorEmotion(c);
    if (!e) return null;
    const proto = EMOTION_PROTOTYPES[e];
    const row = new Float32Array(aus.length);
    aus.forEach((au, j) => {
      if (proto.required.includes(au)) row[j] = 1;
      else if (proto.optional.includes(au)) row[j] = OPTIONAL_AU_WEIGHT;
    });
    return row;
  });
}

/**
 * Prior-consistent regional targets (DESIGN.md part 2, choice). For a region with AU set S, the target
 * for label y is t_e ∝ exp(-d(y, e) / tau), d = L1 distance between y's and e's patterns restricted to S.
 * Emotions that look the same in this region (d = 0) share the mass equally with y; a region cannot be
 * blamed for failing to separate them. Classes unknown to the prior get a one-hot target.
 * Returns T [classes x classes], row y = target for label y.
 */
export function regionalTargets(classes: string[], regionAus: readonly Au[], tau: number): Float32Array {
  const k = classes.length;
  const pats = auPatterns(classes, regionAus);
  const t = new Float32Array(k * k);
  for (let y = 0; y < k; y++) {
    const py = pats[y];
    if (!py || tau <= 0) {
      t[y * k + y] = 1;
      continue;
    }
    let sum = 0;
    for (let e = 0; e < k; e++) {
      const pe = pats[e];
      if (!pe) continue;
      let d = 0;
      for (let j = 0; j < py.length; j++) d += Math.abs(py[j] - pe[j]);
      const w = Math.exp(-d / tau);
      t[y * k + e] = w;
      sum += w;
    }
    for (let e = 0; e < k; e++) t[y * k + e] /= sum;
  }
  return t;
}

/**
 * Initial AU→emotion matrix for a region (choice). PIN scores emotion e from AU activations a in [0,1]
 * as (2a-1)·M[:,e]: with M = scale·(2p_e-1)/nAU, every AU that agrees with e's prototype adds and every
 * one that disagrees subtracts, so the score is scale·(1 - 2·Hamming/nAU) for binary a, highest for
 * the emotion whose pattern the AUs match (neutral when all are off), and zero while a ≈ 0.5 at init.
 * Classes unknown to the prior get a zero column (learned from data).
 */
export function priorAuToEmotion(classes: string[], regionAus: readonly Au[], scale: number): Float32Array {
  const pats = auPatterns(classes, regionAus);
  const a = regionAus.length;
  const k = classes.length;
  const m = new Float32Array(a * k);
  for (let e = 0; e < k; e++) {
    const p = pats[e];
    if (!p) continue;
    for (let j = 0; j < a; j++) m[j * k + e] = (scale * (2 * p[j] - 1)) / a;
  }
  return m;
}
