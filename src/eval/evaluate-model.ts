/**
 * Evaluating a saved model folder on a dataset split, as `poi eval` does: TRN's predictions for a whole
 * set on the chosen runtime, then every metric of src/eval/metrics.ts.
 */
import type { FerplusSoftMode } from '../data/ferplus.js';
import { defaultSplits, loadSet, parseMapping } from '../data/load.js';
import type { ImageSet } from '../data/types.js';
import type { Tta } from '../infer/runner.js';
import { openRunner, type Runtime } from '../infer/runtime.js';
import { modelFolderOf, readModelFolder, type ModelSource } from '../model/io.js';
import { evaluate, type EvalReport } from './metrics.js';
import { predictSetWithRunner, type SetPredictions } from './predict.js';

export type { Runtime };

/**
 * TRN predictions for a whole set: onnxruntime when asked for, or by default when it loads (falling
 * back to tfjs with a warning if it fails); tfjs otherwise. Returns the runtime that ran.
 */
export async function predictModelSet(
  model: ModelSource,
  set: ImageSet,
  opts: { runtime?: Runtime; backend?: string; threads?: number; tta?: Tta } = {},
): Promise<SetPredictions & { runtime: string }> {
  const folder = await modelFolderOf(model);
  const { manifest } = folder;
  const runner = await openRunner(folder, { runtime: opts.runtime, tta: opts.tta, threads: opts.threads, backend: opts.backend });
  try {
    const pred = await predictSetWithRunner(runner, set, manifest.input, manifest.classes.length);
    return { ...pred, runtime: runner.backend };
  } finally {
    runner.dispose();
  }
}

export interface EvaluateModelOptions {
  /** Split of the dataset (default: its validation split). */
  split?: string;
  /** "theirs=ours,..." class mapping when the dataset names its classes differently. */
  map?: string;
  limit?: number;
  /** FERPlus votes for KL and Spearman: single votes dropped (default) or as cast. */
  votes?: FerplusSoftMode;
  runtime?: Runtime;
  backend?: string;
  threads?: number;
  tta?: Tta;
  quiet?: boolean;
}

/** `poi eval` as a function: the report, and what it was measured on. */
export async function evaluateModel(
  modelDir: string,
  data: string,
  o: EvaluateModelOptions = {},
): Promise<{ report: EvalReport; dataset: string; split: string | null; runtime: string; n: number }> {
  // read once: the manifest for the data, the same bytes for the predictions
  const folder = await readModelFolder(modelDir);
  const { manifest } = folder;
  const split = o.split ?? defaultSplits(data).val;
  const { set, dataset } = await loadSet(data, split, manifest.input, {
    classes: manifest.classes,
    mapping: parseMapping(o.map),
    limit: o.limit,
    quiet: o.quiet,
    votes: o.votes,
  });
  const pred = await predictModelSet(folder, set, { runtime: o.runtime, backend: o.backend, threads: o.threads, tta: o.tta });
  const report = evaluate({
    probs: pred.probs,
    labels: set.labels,
    classes: set.classes,
    votes: set.soft,
    uncertainty: pred.confidence.map((c) => 1 - c),
  });
  return { report, dataset: dataset.name, split: split ?? null, runtime: pred.runtime, n: set.labels.length };
}
