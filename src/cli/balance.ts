/**
 * `poi balance <model dir> --data <dir> [--tau 1] [--split train] [--out dir]`: bake post-hoc logit
 * adjustment into the model (src/model/balance.ts), with the class frequencies of the training split.
 */
import { num, parse, str, UsageError, type Options } from './args.js';
import { defaultSplits } from '../data/load.js';

/** Every option the command takes beyond the common ones (its usage in main.ts lists each). */
export const OPTIONS: Options = {
  data: { type: 'string', short: 'd' },
  split: { type: 'string' },
  tau: { type: 'string' },
  out: { type: 'string', short: 'o' },
};

export async function balanceCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse('balance', argv, OPTIONS, true);
  if (positionals.length !== 1) throw new UsageError('poi balance <model dir> --data <dir> [--tau 1] [--split train] [--out dir]: one model folder expected');
  const data = str(v.data);
  if (!data) throw new UsageError('poi balance: --data <dir> is needed (its training split gives the class frequencies)');
  const model = positionals[0];
  const split = str(v.split) ?? defaultSplits(data).train;
  const tau = num('tau', v.tau, { min: 0 }) ?? 1;
  const { readModelManifest } = await import('../model/io.js');
  const { classPrior, writeBalancedModel } = await import('../model/balance.js');
  const manifest = await readModelManifest(model);
  const prior = classPrior(data, split, manifest.classes);
  const out = str(v.out) ?? model;
  const written = await writeBalancedModel(model, out, tau, { ...prior, split: split ?? '' });
  const freq = manifest.classes.map((c, i) => `${c} ${(prior.prior[i] * 100).toFixed(1)}%`).join(', ');
  process.stderr.write(`wrote ${out}: logits − ${tau}·log(class frequency) from ${prior.dataset} (${prior.n} labels: ${freq})\n`);
  // a model whose c is its top probability: the offsets moved c, so its describe bands were dropped
  if (manifest.describe && !written.describe) {
    const { staleDescribeNote } = await import('./describe-note.js');
    process.stderr.write(staleDescribeNote(manifest.describe, out) + '\n');
  }
  return 0;
}
