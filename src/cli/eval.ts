/** `poi eval`: evaluate a saved model on a dataset split. */
import { initBackend } from '../backend/index.js';
import type { ImageSet } from '../data/types.js';
import { loadModel, readModelManifest } from '../model/io.js';
import { evaluate } from '../eval/metrics.js';
import { formatReport } from '../eval/format.js';
import { predictSetWithRunner, type SetPredictions } from '../eval/predict.js';
import { withFlipTta, type Tta } from '../infer/runner.js';
import { openTrnRunner, type Runtime } from '../infer/runtime.js';
import type { PoiModel } from '../model/poi.js';
import { parse, str, UsageError, num, runtimeOption, ttaOption, votesOption } from './args.js';
import { defaultSplits, loadSet, parseMapping } from './data.js';

export type { Runtime };

/**
 * TRN predictions for a whole set: onnxruntime when asked for, or by default when it loads (falling
 * back to tfjs with a warning if it fails); tfjs otherwise. Returns the runtime that ran.
 */
export async function predictModelSet(
  modelDir: string,
  set: ImageSet,
  opts: { runtime?: Runtime; backend?: string; threads?: number; tta?: Tta } = {},
): Promise<SetPredictions & { runtime: string }> {
  const getModel = async (): Promise<PoiModel> => {
    await initBackend({ backend: opts.backend, threads: opts.threads });
    return (await loadModel(modelDir)).model;
  };
  const manifest = await readModelManifest(modelDir);
  const base = await openTrnRunner(modelDir, { runtime: opts.runtime, threads: opts.threads, getModel, disposeModel: true });
  const runner = opts.tta === 'flip' ? withFlipTta(base, manifest.input) : base;
  try {
    const pred = await predictSetWithRunner(runner, set, manifest.input, manifest.classes.length);
    return { ...pred, runtime: runner.backend };
  } finally {
    runner.dispose();
  }
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values: v } = parse('eval', argv, {
    model: { type: 'string', short: 'm' },
    data: { type: 'string', short: 'd' },
    split: { type: 'string' },
    json: { type: 'boolean' },
    map: { type: 'string' },
    limit: { type: 'string' },
    runtime: { type: 'string' },
    tta: { type: 'string' },
    votes: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  });
  const modelDir = str(v.model);
  const data = str(v.data);
  if (!modelDir || !data) throw new UsageError('poi eval: --model <dir> and --data <dir> are required');
  const runtime = runtimeOption(v.runtime);
  const tta = ttaOption(v.tta);
  const votes = votesOption(v.votes);
  const threads = num('threads', v.threads, { int: true, min: 1 });
  const manifest = await readModelManifest(modelDir);
  const split = str(v.split) ?? defaultSplits(data).val;
  const { set, dataset } = await loadSet(data, split, manifest.input, {
    classes: manifest.classes,
    mapping: parseMapping(str(v.map)),
    limit: num('limit', v.limit, { int: true, min: 1 }),
    quiet: !!(v.quiet || v.json),
    votes,
  });
  const pred = await predictModelSet(modelDir, set, { runtime, backend: str(v.backend), threads, tta });
  const report = evaluate({
    probs: pred.probs,
    labels: set.labels,
    classes: set.classes,
    votes: set.soft,
    uncertainty: pred.confidence.map((c) => 1 - c),
  });
  if (v.json) {
    process.stdout.write(JSON.stringify({ model: modelDir, data: dataset.name, split: split ?? null, runtime: pred.runtime, ...report }) + '\n');
  } else {
    process.stdout.write(`model ${modelDir} on ${dataset.name} (${set.labels.length} faces, ${pred.runtime})\n`);
    process.stdout.write(formatReport(report) + '\n');
  }
  return 0;
}
