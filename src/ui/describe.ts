/**
 * Uncertainty in words, for people: a plain sentence and a level from one face's emotion distribution
 * and poi's confidence c (the uncertainty head's output). Pure, shared by the browser page and the CLI.
 *
 * Two signals, on purpose:
 *  - the distribution's shape says *which* readings compete: every class with p >= ambiguousRatio * p(top)
 *    is a candidate (at most maxCandidates); two or more candidates make the face "ambiguous: A or B";
 *  - c says how far poi trusts its top reading. On FERPlus FER2013Valid (3191 faces) the shipped model
 *    (models/poi-ferplus, 83.9% accuracy) is right 94% of the time with c >= 0.80 (63% of faces) and 69% with
 *    0.65 <= c < 0.80; below 0.65 it is right 64% of the time (its c is not monotone down there: faces with
 *    c < 0.25 are mostly right), so "unsure" means "as unsure as probably" for this model
 *    (`node dist/bench/tune-describe.js --clear 0.9` prints the table). Bands: c >= sureAbove "clear",
 *    c >= unsureBelow "probably", below "unsure". Re-run that command when the shipped model changes.
 */

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

export const DEFAULT_DESCRIBE: DescribeOptions = { ambiguousRatio: 0.5, maxCandidates: 3, sureAbove: 0.8, unsureBelow: 0.65 };

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

/** Describe one face. `probs` maps class → probability (any order); `confidence` is c in [0,1]. */
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
