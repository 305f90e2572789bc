/** `poi eval`: evaluate a saved model on a dataset split. */
import { initBackend } from '../backend/index.js';
import { loadModel } from '../model/io.js';
import { evaluate } from '../eval/metrics.js';
import { formatReport } from '../eval/format.js';
import { predictSet } from '../eval/predict.js';
import { parse, str, UsageError, num } from './args.js';
import { defaultSplits, loadSet, parseMapping } from './data.js';

export async function evalCommand(argv: string[]): Promise<number> {
  const { values: v } = parse('eval', argv, {
    model: { type: 'string', short: 'm' },
    data: { type: 'string', short: 'd' },
    split: { type: 'string' },
    json: { type: 'boolean' },
    map: { type: 'string' },
    limit: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  });
  const modelDir = str(v.model);
  const data = str(v.data);
  if (!modelDir || !data) throw new UsageError('poi eval: --model <dir> and --data <dir> are required');
  await initBackend({ backend: str(v.backend), threads: num('threads', v.threads, { int: true, min: 1 }) });
  const { model, manifest } = await loadModel(modelDir);
  try {
    const split = str(v.split) ?? defaultSplits(data).val;
    const { set, dataset } = await loadSet(data, split, manifest.input, {
      classes: manifest.classes,
      mapping: parseMapping(str(v.map)),
      limit: num('limit', v.limit, { int: true, min: 1 }),
      quiet: !!(v.quiet || v.json),
    });
    const pred = await predictSet(model, set);
    const report = evaluate({
      probs: pred.probs,
      labels: set.labels,
      classes: set.classes,
      votes: set.soft,
      uncertainty: pred.confidence.map((c) => 1 - c),
    });
    if (v.json) {
      process.stdout.write(JSON.stringify({ model: modelDir, data: dataset.name, split: split ?? null, ...report }) + '\n');
    } else {
      process.stdout.write(`model ${modelDir} on ${dataset.name} (${set.labels.length} faces)\n`);
      process.stdout.write(formatReport(report) + '\n');
    }
    return 0;
  } finally {
    model.dispose();
  }
}
