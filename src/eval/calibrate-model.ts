/**
 * Calibrating a saved model folder, as `poi calibrate` does: fit one temperature for TRN's logits on a
 * labelled split and bake it into the folder (src/model/calibration.ts), so every runtime gives
 * calibrated probabilities; measure the same-split numbers (optimistic: T was fitted on them) and a
 * 2-fold cross-fitted ECE (honest: each half is calibrated with the T of the other half); check the
 * written folder reproduces the fitted probabilities.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../data/types.js';
import type { FerplusSoftMode } from '../data/ferplus.js';
import type { Tta } from '../infer/runner.js';
import { crossFitTemperature, fitTemperature, logitsFromProbs, meanNll, PROB_FLOOR, scaleProbs, uncertaintyVsVotes, type CrossFit } from './calibrate.js';
import { accuracy, expectedCalibrationError, riskCoverage } from './metrics.js';
import { describeStaleAfterHeadEdit, HEAD_LAYER, writeCalibratedModel } from '../model/calibration.js';
import { ONNX_FILE, readModelFolder, type CalibrationRecord, type DescribeRecord } from '../model/io.js';
import { hasUncertaintyHead } from '../model/objectives.js';
import { defaultSplits, loadSet, parseMapping } from '../data/load.js';
import { predictModelSet, type Runtime } from './evaluate-model.js';

export interface CalibrateOptions {
  /** The model folder to calibrate. */
  model: string;
  /** Dataset folder and split (default: the dataset's validation split). */
  data: string;
  split?: string;
  /** Where to write the calibrated model (default: the model folder itself). */
  out?: string;
  /** Seed of the 2-fold split for the cross-fitted ECE (default 1). */
  seed?: number;
  /** Fit and report only; write nothing. */
  dryRun?: boolean;
  runtime?: Runtime;
  /**
   * 'flip': fit T to the flip-averaged reading (for a model that will run with --tta flip). The baked
   * head is checked on the plain reading, where dividing the logits by T is exact.
   */
  tta?: Tta;
  backend?: string;
  threads?: number;
  limit?: number;
  map?: string;
  /** FERPlus votes for the Spearman figures: single votes dropped (default) or as cast. */
  votes?: FerplusSoftMode;
  quiet?: boolean;
}

interface Side {
  nll: number;
  ece: number;
  accuracy: number;
  /** Accuracy of the half of the faces the model is most sure about (by its confidence). */
  acc50: number;
}

export interface CalibrateResult {
  model: string;
  out: string | null;
  data: string;
  /** The dataset's name (e.g. ferplus:FER2013Valid). */
  dataset: string;
  split: string;
  runtime: string;
  n: number;
  /** This run's fitted temperature (relative to the weights as they were). */
  temperature: number;
  /** Total temperature relative to the trained weights (differs after an earlier calibration). */
  totalTemperature: number;
  /** The previous total temperature when the folder was already calibrated. */
  previousTemperature: number | null;
  atBound: boolean;
  /** Faces with a class probability under PROB_FLOOR (float32 underflow): their logits are known only up to the clamp. */
  saturated: number;
  before: Side;
  after: Side;
  crossFitted: CrossFit;
  /** Spearman(uncertainty score, vote entropy) before and after, for information; null without votes. */
  uncertaintyVsVotes: { before: Record<string, number>; after: Record<string, number> } | null;
  /** Largest differences between the written model's outputs and the fitted ones, over `faces` re-predicted faces. */
  verified: { faces: number; maxProbDiff: number; maxConfidenceDiff: number } | null;
  onnxReexported: boolean;
  /**
   * Describe bands (model.json's `describe`) the new temperature makes stale, dropped from the written
   * folder: a model without the uncertainty module's, whose c is the top probability; else null (kept).
   */
  staleDescribe: DescribeRecord | null;
}

function side(probs: Float32Array, labels: ArrayLike<number>, confidence: ArrayLike<number>): Side {
  const rc = riskCoverage(probs, labels, Float64Array.from(confidence, (c) => 1 - c), [0.5]);
  return {
    nll: meanNll(probs, labels),
    ece: expectedCalibrationError(probs, labels).ece,
    accuracy: accuracy(probs, labels),
    acc50: rc.points[0].accuracy,
  };
}

/** The first n faces of a set. */
export function firstFaces(set: ImageSet, n: number): ImageSet {
  const per = set.height * set.width * set.channels;
  const k = set.classes.length;
  return {
    ...set,
    pixels: set.pixels.subarray(0, n * per),
    labels: set.labels.subarray(0, n),
    soft: set.soft ? set.soft.subarray(0, n * k) : set.soft,
    paths: set.paths.slice(0, n),
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Faces re-predicted with the written model to check the baked head matches the fitted T. */
const VERIFY_FACES = 256;

export async function calibrateModel(o: CalibrateOptions): Promise<CalibrateResult> {
  // read once (readModelFolder names a missing weights.bin): the manifest and the first predictions share it
  const folder = await readModelFolder(o.model);
  const { manifest } = folder;
  const split = o.split ?? defaultSplits(o.data).val;
  if (!split) throw new Error(`poi calibrate: cannot tell which split of ${o.data} is the validation split; pass --split`);
  const { set, dataset } = await loadSet(o.data, split, manifest.input, {
    classes: manifest.classes,
    mapping: parseMapping(o.map),
    limit: o.limit,
    quiet: o.quiet,
    votes: o.votes,
  });
  const k = manifest.classes.length;
  const run = { runtime: o.runtime, backend: o.backend, threads: o.threads };
  const pred = await predictModelSet(folder, set, { ...run, tta: o.tta });
  const fit = fitTemperature(logitsFromProbs(pred.probs), set.labels);
  let saturated = 0;
  for (let i = 0; i < set.labels.length; i++) if (pred.probs.subarray(i * k, (i + 1) * k).some((p) => p < PROB_FLOOR)) saturated++;
  const T = fit.temperature;
  const calibrated = scaleProbs(pred.probs, k, T);
  // without the uncertainty module the confidence is the top probability, which T does change
  const uncHead = hasUncertaintyHead(manifest.config.model);
  const confAfter = uncHead ? pred.confidence : Float32Array.from({ length: set.labels.length }, (_, i) => Math.max(...calibrated.subarray(i * k, (i + 1) * k)));
  const before = side(pred.probs, set.labels, pred.confidence);
  const after = side(calibrated, set.labels, confAfter);
  const cross = crossFitTemperature(pred.probs, set.labels, { seed: o.seed ?? 1 });
  const votes = set.soft
    ? {
        before: uncertaintyVsVotes(pred.probs, pred.confidence, set.soft, k),
        after: uncertaintyVsVotes(calibrated, confAfter, set.soft, k),
      }
    : null;
  const prev = manifest.calibration ?? null;
  const total = (prev?.temperature ?? 1) * T;
  const result: CalibrateResult = {
    model: o.model,
    out: o.dryRun ? null : (o.out ?? o.model),
    data: o.data,
    dataset: dataset.name,
    split,
    runtime: pred.runtime,
    n: fit.n,
    temperature: T,
    totalTemperature: total,
    previousTemperature: prev ? prev.temperature : null,
    atBound: fit.atBound,
    saturated,
    before,
    after,
    crossFitted: cross,
    uncertaintyVsVotes: votes,
    verified: null,
    onnxReexported: false,
    staleDescribe: describeStaleAfterHeadEdit(manifest).length ? manifest.describe! : null,
  };
  if (o.dryRun) return result;

  const out = o.out ?? o.model;
  const { previous: older, ...prevRest } = prev ?? ({} as Partial<CalibrationRecord>);
  const record: CalibrationRecord = {
    method: 'temperature',
    temperature: total,
    layer: HEAD_LAYER,
    fittedOn: { dataset: dataset.name, split, n: fit.n, ...(o.tta === 'flip' ? { tta: 'flip' as const } : {}) },
    before: { nll: before.nll, ece: before.ece },
    after: { nll: after.nll, ece: after.ece },
    crossFitted: { folds: cross.folds, seed: cross.seed, temperatures: cross.temperatures, ece: cross.ece, nll: cross.nll },
    calibratedAt: new Date().toISOString(),
    ...(prev ? { previous: [...(older ?? []), prevRest as Omit<CalibrationRecord, 'previous'>] } : {}),
  };
  // the rewrite re-exports the folder's model.onnx from the new weights and never keeps a stale one,
  // so the written folder holds one exactly when it was re-exported
  await writeCalibratedModel(o.model, out, T, record);
  result.onnxReexported = existsSync(join(out, ONNX_FILE));
  // check the written folder really gives softmax(log p / T) and the same confidence
  const m = Math.min(VERIFY_FACES, set.labels.length);
  const check = await predictModelSet(out, firstFaces(set, m), run);
  // averaging two views does not commute with dividing logits by T: with TTA, check on the plain reading
  const plain = o.tta === 'flip' ? await predictModelSet(folder, firstFaces(set, m), run) : pred;
  const expected = o.tta === 'flip' ? scaleProbs(plain.probs, k, T) : calibrated;
  const expectedConf = o.tta === 'flip' ? (uncHead ? plain.confidence : Float32Array.from({ length: m }, (_, i) => Math.max(...expected.subarray(i * k, (i + 1) * k)))) : confAfter;
  // rows with a probability under PROB_FLOOR (float32 underflow) know their logits only up to the
  // clamp, so scaleProbs is approximate there while the baked model is exact: compare the others
  const exact: number[] = [];
  for (let i = 0; i < m; i++) if (plain.probs.subarray(i * k, (i + 1) * k).every((p) => p >= PROB_FLOOR)) exact.push(i);
  const rowsOf = (a: Float32Array, w: number) => Float32Array.from(exact.flatMap((i) => Array.from(a.subarray(i * w, (i + 1) * w))));
  result.verified = {
    faces: exact.length,
    maxProbDiff: maxAbsDiff(rowsOf(check.probs, k), rowsOf(expected, k)),
    maxConfidenceDiff: maxAbsDiff(rowsOf(check.confidence, 1), rowsOf(expectedConf, 1)),
  };
  if (result.verified.maxProbDiff > 1e-3 || result.verified.maxConfidenceDiff > 1e-3) {
    throw new Error(
      `${out}: the calibrated model does not reproduce the fitted probabilities (max differences ${result.verified.maxProbDiff.toExponential(2)} ` +
        `in probabilities, ${result.verified.maxConfidenceDiff.toExponential(2)} in confidence)`,
    );
  }
  return result;
}

