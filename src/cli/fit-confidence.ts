/**
 * `poi fit-confidence <model dir> --data <dir>`: parse, src/eval/fit-confidence.ts, print. The new head
 * changes c, so the folder's describe bands (model.json's `describe`) are dropped, and the output says so.
 */
import { fitConfidence, type FitConfidenceResult } from '../eval/fit-confidence.js';
import { CONFIDENCE_LAYERS } from '../model/confidence.js';
import { num, parse, str, UsageError, type Options } from './args.js';
import { staleDescribeNote } from './describe-note.js';

export { fitConfidence, type FitConfidenceOptions, type FitConfidenceResult } from '../eval/fit-confidence.js';

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');

export function formatFitConfidence(r: FitConfidenceResult): string {
  const lines: string[] = [];
  lines.push(
    `model ${r.model}: uncertainty head (${r.dim} → ${r.hidden} → 1) fitted on ${r.fittedOn.n} faces of ${r.fittedOn.dataset} ` +
      `(split "${r.fittedOn.split}"), ${r.epochs} epochs, seed ${r.seed}, towards 1 − H(votes)/log K; final BCE ${f3(r.loss[r.loss.length - 1])}`,
  );
  if (r.previous) lines.push(`already refitted (${r.previous.fittedAt}): "before" is that fit, not the trained c`);
  if (r.inSample) lines.push('note: measured on the split it was fitted on: the "after" figure is optimistic');
  lines.push(`Spearman(uncertainty, raw vote entropy) on ${r.measuredOn.n} faces of ${r.measuredOn.dataset} (split "${r.measuredOn.split}"):`);
  lines.push(`  1 − c, head before    ${f3(r.spearman.before)}`);
  lines.push(`  1 − c, fitted head    ${f3(r.spearman.after)}`);
  lines.push(`  1 − max p             ${f3(r.spearman.oneMinusMaxP)}   (the same model's probabilities, unchanged)`);
  if (r.out === null) {
    lines.push('dry run: nothing written');
    if (r.staleDescribe) lines.push(staleDescribeNote(r.staleDescribe, null));
  } else {
    lines.push(`wrote ${r.out}: ${CONFIDENCE_LAYERS.join(' and ')} replaced, recorded under "confidence" in model.json` + (r.onnxReexported ? ', model.onnx re-exported' : ''));
    const v = r.verified;
    if (v) {
      lines.push(
        `verified on ${v.faces} faces: max |Δp| ${v.maxProbDiff.toExponential(1)}, max |Δc| ${v.maxConfidenceDiff.toExponential(1)}` +
          (v.onnx ? `; model.onnx: ${v.onnx.maxProbDiff.toExponential(1)}, ${v.onnx.maxConfidenceDiff.toExponential(1)}` : ''),
      );
    }
    if (r.staleDescribe) lines.push(staleDescribeNote(r.staleDescribe, r.out));
  }
  return lines.join('\n');
}

/** Every option the command takes beyond the common ones (its usage in main.ts lists each). */
export const OPTIONS: Options = {
  data: { type: 'string', short: 'd' },
  split: { type: 'string' },
  'val-split': { type: 'string' },
  epochs: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string', short: 'o' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
};

export async function fitConfidenceCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse('fit-confidence', argv, OPTIONS, true);
  if (positionals.length !== 1) {
    throw new UsageError('poi fit-confidence: expected one model folder: poi fit-confidence <model dir> --data <dir> [--split train] [--val-split valid] [--out <model dir>]');
  }
  const data = str(v.data);
  if (!data) throw new UsageError("poi fit-confidence: --data <dir> is required (a dataset with annotators' votes, such as FERPlus)");
  const r = await fitConfidence({
    model: positionals[0],
    data,
    split: str(v.split),
    valSplit: str(v['val-split']),
    epochs: num('epochs', v.epochs, { int: true, min: 1 }),
    seed: num('seed', v.seed, { int: true, min: 0 }),
    out: str(v.out),
    dryRun: !!v['dry-run'],
    backend: str(v.backend),
    threads: num('threads', v.threads, { int: true, min: 1 }),
    quiet: !!(v.quiet || v.json),
  });
  process.stdout.write(v.json ? JSON.stringify(r) + '\n' : formatFitConfidence(r) + '\n');
  return 0;
}
