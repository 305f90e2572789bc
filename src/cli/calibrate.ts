/** `poi calibrate <model dir> --data <dir>`: parse, src/eval/calibrate-model.ts, print. */
import { PROB_FLOOR } from '../eval/calibrate.js';
import { calibrateModel, type CalibrateResult } from '../eval/calibrate-model.js';
import { HEAD_LAYER } from '../model/calibration.js';
import { num, parse, str, UsageError, DATA_OPTIONS, dataOptions, RUN_OPTIONS, runOptions, type Options } from './args.js';
import { staleDescribeNote } from './describe-note.js';

export { calibrateModel, type CalibrateOptions, type CalibrateResult } from '../eval/calibrate-model.js';

const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(2)}%` : 'n/a');

export function formatCalibration(r: CalibrateResult): string {
  const lines: string[] = [];
  lines.push(`model ${r.model}: ${r.n} labelled faces of ${r.dataset} (split "${r.split}" of ${r.data}; ${r.runtime})`);
  lines.push(
    `note: T is fitted on this split; if the model was selected on it too (the default validation split), the ` +
      `"after" numbers are optimistic — quote the cross-fitted ECE`,
  );
  if (r.previousTemperature !== null) {
    lines.push(
      `already calibrated (T = ${r.previousTemperature.toFixed(4)}): this run fits relative to the current weights; ` +
        `recorded temperature = ${r.previousTemperature.toFixed(4)} x ${r.temperature.toFixed(4)} = ${r.totalTemperature.toFixed(4)}`,
    );
  }
  lines.push(`temperature T = ${r.temperature.toFixed(4)}  (logits / T; ${Math.abs(r.temperature - 1) < 0.005 ? 'about 1: already calibrated on this split' : r.temperature < 1 ? 'sharpens: the model was under-confident' : 'softens: the model was over-confident'})`);
  if (r.saturated > 0) {
    lines.push(`note: ${r.saturated} faces have a class probability under ${PROB_FLOOR} (float32 underflow); the fit sees those logits only up to that clamp`);
  }
  if (r.atBound) lines.push(`warning: T is on the edge of the search range [0.05, 20]; the data want a more extreme value`);
  lines.push(`                 NLL      ECE    accuracy  acc@50`);
  lines.push(`before         ${f4(r.before.nll)}  ${f4(r.before.ece)}  ${pct(r.before.accuracy).padStart(8)}  ${pct(r.before.acc50)}`);
  lines.push(`after (same)   ${f4(r.after.nll)}  ${f4(r.after.ece)}  ${pct(r.after.accuracy).padStart(8)}  ${pct(r.after.acc50)}`);
  const c = r.crossFitted;
  lines.push(
    `cross-fitted   ${f4(c.nll)}  ${f4(c.ece)}   (${c.folds}-fold, seed ${c.seed}, T per fold ${c.temperatures.map((t) => t.toFixed(4)).join(', ')})`,
  );
  if (r.uncertaintyVsVotes) {
    lines.push(`Spearman(uncertainty, vote entropy), for information (poi reports 1-c):`);
    for (const name of Object.keys(r.uncertaintyVsVotes.before)) {
      lines.push(`  ${name.padEnd(24)} before ${f4(r.uncertaintyVsVotes.before[name])}  after ${f4(r.uncertaintyVsVotes.after[name])}`);
    }
  }
  if (r.out === null) {
    lines.push('dry run: nothing written');
    if (r.staleDescribe) lines.push(staleDescribeNote(r.staleDescribe, null));
  } else {
    lines.push(
      `wrote ${r.out}: ${HEAD_LAYER} weight and bias divided by ${r.temperature.toFixed(4)}, calibration recorded in model.json` +
        (r.onnxReexported ? ', model.onnx re-exported' : ''),
    );
    if (r.verified) lines.push(`verified on ${r.verified.faces} faces: max |Δp| ${r.verified.maxProbDiff.toExponential(1)}, max |Δc| ${r.verified.maxConfidenceDiff.toExponential(1)}`);
    if (r.staleDescribe) lines.push(staleDescribeNote(r.staleDescribe, r.out));
  }
  return lines.join('\n');
}

/** Every option the command takes beyond the common ones (its usage in main.ts lists each). */
export const OPTIONS: Options = {
    ...RUN_OPTIONS,
    ...DATA_OPTIONS,
    out: { type: 'string', short: 'o' },
    seed: { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
};

export async function calibrateCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse('calibrate', argv, OPTIONS, true);
  if (positionals.length !== 1) throw new UsageError('poi calibrate: expected one model folder: poi calibrate <model dir> --data <dir> [--split name] [--out <model dir>]');
  const { data, ...dataOpts } = dataOptions(v);
  if (!data) throw new UsageError('poi calibrate: --data <dir> is required (a labelled dataset folder)');
  const r = await calibrateModel({
    model: positionals[0],
    data,
    ...dataOpts,
    ...runOptions(v),
    out: str(v.out),
    seed: num('seed', v.seed, { int: true, min: 0 }),
    dryRun: !!v['dry-run'],
    quiet: !!(v.quiet || v.json),
  });
  process.stdout.write(v.json ? JSON.stringify(r) + '\n' : formatCalibration(r) + '\n');
  return 0;
}
