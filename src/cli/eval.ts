/** `poi eval`: evaluate a saved model on a dataset split (src/eval/evaluate-model.ts), printed or as JSON. */
import { formatReport } from '../eval/format.js';
import { evaluateModel } from '../eval/evaluate-model.js';
import { parse, str, UsageError, DATA_OPTIONS, dataOptions, RUN_OPTIONS, runOptions, type Options } from './args.js';

/** Every option the command takes beyond the common ones (its usage in main.ts lists each). */
export const OPTIONS: Options = {
  ...RUN_OPTIONS,
  ...DATA_OPTIONS,
  model: { type: 'string', short: 'm' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
};

export async function evalCommand(argv: string[]): Promise<number> {
  const { values: v } = parse('eval', argv, OPTIONS);
  const modelDir = str(v.model);
  const { data, ...dataOpts } = dataOptions(v);
  if (!modelDir || !data) throw new UsageError('poi eval: --model <dir> and --data <dir> are required');
  const r = await evaluateModel(modelDir, data, { ...dataOpts, ...runOptions(v), quiet: !!(v.quiet || v.json) });
  if (v.json) {
    process.stdout.write(JSON.stringify({ model: modelDir, data: r.dataset, split: r.split, runtime: r.runtime, ...r.report }) + '\n');
  } else {
    process.stdout.write(`model ${modelDir} on ${r.dataset} (${r.n} faces, ${r.runtime})\n`);
    process.stdout.write(formatReport(r.report) + '\n');
  }
  return 0;
}
