/**
 * `poi export --onnx <model dir> [--out file]`: write the TRN as ONNX (default <model dir>/model.onnx).
 * `poi export --weights float16|uint8 <model dir> [--out dir]`: the model folder with compact weights
 * (default: rewritten in place; a model.onnx in it is re-exported from the new weights).
 */
import { parse, str, UsageError, type Options } from './args.js';

const USAGE = 'poi export --onnx <model dir> [--out file] | poi export --weights float32|float16|uint8 <model dir> [--out dir]';

/** Every option the command takes beyond the common ones (its usage in main.ts lists each). */
export const OPTIONS: Options = { onnx: { type: 'boolean' }, weights: { type: 'string' }, out: { type: 'string', short: 'o' } };

export async function exportCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse('export', argv, OPTIONS, true);
  if (!v.onnx === !v.weights) throw new UsageError(`${USAGE}: say one format, --onnx or --weights`);
  if (positionals.length !== 1) throw new UsageError(`${USAGE}: one model folder expected`);
  const t0 = performance.now();
  if (v.weights) {
    const { WEIGHT_DTYPES } = await import('../model/format.js');
    const dtype = str(v.weights) as (typeof WEIGHT_DTYPES)[number];
    if (!WEIGHT_DTYPES.includes(dtype)) throw new UsageError(`--weights: expected one of ${WEIGHT_DTYPES.join(', ')}, got "${dtype}"`);
    const { rewriteWeights } = await import('../model/io.js');
    const out = str(v.out) ?? positionals[0];
    const r = await rewriteWeights(positionals[0], out, dtype);
    process.stderr.write(`wrote ${out} with ${dtype} weights: ${(r.after / 1e6).toFixed(2)} MB (was ${(r.before / 1e6).toFixed(2)} MB)${r.onnx ? ', model.onnx re-exported' : ''}\n`);
    return 0;
  }
  const { exportOnnxFromDir } = await import('../onnx/export.js');
  const file = await exportOnnxFromDir(positionals[0], str(v.out));
  process.stderr.write(`wrote ${file} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  return 0;
}
