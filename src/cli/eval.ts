/** `poi eval`: evaluate a saved model on a dataset split (src/eval/evaluate-model.ts), printed or as JSON. */
import { formatReport } from '../eval/format.js';
import { evaluateModel } from '../eval/evaluate-model.js';
import { parse, str, UsageError, num, runtimeOption, ttaOption, votesOption } from './args.js';

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
  const r = await evaluateModel(modelDir, data, {
    split: str(v.split),
    map: str(v.map),
    limit: num('limit', v.limit, { int: true, min: 1 }),
    votes: votesOption(v.votes),
    runtime: runtimeOption(v.runtime),
    tta: ttaOption(v.tta),
    backend: str(v.backend),
    threads: num('threads', v.threads, { int: true, min: 1 }),
    quiet: !!(v.quiet || v.json),
  });
  if (v.json) {
    process.stdout.write(JSON.stringify({ model: modelDir, data: r.dataset, split: r.split, runtime: r.runtime, ...r.report }) + '\n');
  } else {
    process.stdout.write(`model ${modelDir} on ${r.dataset} (${r.n} faces, ${r.runtime})\n`);
    process.stdout.write(formatReport(r.report) + '\n');
  }
  return 0;
}
