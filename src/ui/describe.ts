/**
 * Uncertainty in words, for people: a plain sentence and a level from one face's emotion distribution
 * and poi's confidence c (the uncertainty head's output). Pure, shared by the browser page and the CLI.
 *
 * Two signals, on purpose:
 *  - the distribution's shape says *which* readings compete: every class with p >= ambiguousRatio * p(top)
 *    is a candidate (at most maxCandidates); two or more candidates make the face "ambiguous: A or B";
 *  - c says how far poi trusts its top reading. Bands: c >= sureAbove "clear", c >= unsureBelow
 *    "probably", below "unsure".
 *
 * The bands are per model: each model's c has its own scale (a refitted uncertainty head, another
 * backbone or objective moves it), so a model folder stores its own under model.json's `describe`
 * (DescribeRecord), and describeOptionsFor(manifest) gives the options to describe that model's faces
 * with. DEFAULT_DESCRIBE's bands are the fallback for a folder without them. To tune a folder's bands
 * (accuracy by band of c on a labelled split, the edges that hit the wanted accuracies, written into
 * model.json): `node dist/bench/tune-describe.js --model <dir> --write` (see its --clear and --unsure).
 */

import type { ModelManifest } from '../model/format.js';

export interface DescribeOptions {
  /** A class is a candidate when its probability is at least this fraction of the top one. */
  ambiguousRatio: number;
  /** At most this many candidates are named. */
  maxCandidates: number;
  /** c at or above this: "clear". */
  sureAbove: number;
  /** c below this: "unsure". */
  unsureBelow: number;
}

/** The fallback, for a model folder without bands of its own (its bands were tuned on models/poi-ferplus). */
export const DEFAULT_DESCRIBE: DescribeOptions = { ambiguousRatio: 0.5, maxCandidates: 3, sureAbove: 0.8, unsureBelow: 0.65 };

/** The part of a model folder's manifest describeOptionsFor reads (ModelManifest fits). */
export type DescribeSource = Pick<ModelManifest, 'describe'>;

/**
 * Why a pair of bands cannot be used, or null when it can: both numbers in [0, 1] (not NaN) and
 * unsureBelow <= sureAbove.
 */
export function describeBandsProblem(bands: { sureAbove: number; unsureBelow: number }): string | null {
  const { sureAbove, unsureBelow } = bands;
  for (const [name, v] of [['sureAbove', sureAbove], ['unsureBelow', unsureBelow]] as const) {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) return `${name} must be a number in [0, 1], got ${v}`;
  }
  if (unsureBelow > sureAbove) return `unsureBelow (${unsureBelow}) is above sureAbove (${sureAbove})`;
  return null;
}

/**
 * The options to describe one model's faces with: DEFAULT_DESCRIBE with the bands the model folder
 * stores (model.json's `describe`), or DEFAULT_DESCRIBE itself when it stores none. Bands that cannot
 * be used (a hand-edited model.json) are refused, naming why.
 */
export function describeOptionsFor(manifest: DescribeSource): DescribeOptions {
  const r = manifest.describe;
  if (!r) return { ...DEFAULT_DESCRIBE };
  const problem = describeBandsProblem(r);
  if (problem) throw new Error(`model.json "describe": ${problem}`);
  return { ...DEFAULT_DESCRIBE, sureAbove: r.sureAbove, unsureBelow: r.unsureBelow };
}

export type UncertaintyLevel = 'clear' | 'probable' | 'ambiguous' | 'unsure';

export interface Description {
  level: UncertaintyLevel;
  /** The competing readings, most likely first (one when the face is not ambiguous). */
  candidates: string[];
  /** e.g. "clear: happiness", "ambiguous: surprise or fear", "unsure: maybe sadness; people may read it differently". */
  sentence: string;
  /** Band of c for a gauge: 'high' >= sureAbove, 'low' < unsureBelow, else 'mid'. */
  band: 'high' | 'mid' | 'low';
}

/** "a", "a or b", "a, b or c". */
export function orList(names: string[]): string {
  if (names.length <= 1) return names[0] ?? '';
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/**
 * Describe one face. `probs` maps class → probability (any order); `confidence` is c in [0,1]; `opts`
 * of a model's faces: describeOptionsFor(its manifest), so its own bands apply.
 */
export function describeUncertainty(probs: Record<string, number>, confidence: number, opts: Partial<DescribeOptions> = {}): Description {
  const o = { ...DEFAULT_DESCRIBE, ...opts };
  const ranked = Object.entries(probs).sort((a, b) => b[1] - a[1]);
  if (!ranked.length) throw new Error('describeUncertainty: empty distribution');
  const top = ranked[0][1];
  const candidates = ranked.filter(([, p]) => p >= o.ambiguousRatio * top).slice(0, Math.max(1, o.maxCandidates)).map(([n]) => n);
  const band = confidence >= o.sureAbove ? 'high' : confidence < o.unsureBelow ? 'low' : 'mid';
  const first = candidates[0];
  if (candidates.length >= 2) return { level: 'ambiguous', candidates, sentence: `ambiguous: ${orList(candidates)}`, band };
  if (band === 'high') return { level: 'clear', candidates, sentence: `clear: ${first}`, band };
  if (band === 'mid') return { level: 'probable', candidates, sentence: `probably ${first}`, band };
  return { level: 'unsure', candidates, sentence: `unsure: maybe ${first}; people may read it differently`, band };
}
