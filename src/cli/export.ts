/** `poi export --onnx <model dir> [--out file]`: write the TRN as ONNX (default <model dir>/model.onnx). */
import { parse, str, UsageError } from './args.js';

export async function exportCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse('export', argv, { onnx: { type: 'boolean' }, out: { type: 'string', short: 'o' } }, true);
  if (!v.onnx) throw new UsageError('poi export: say the format: --onnx (the only one so far)');
  if (positionals.length !== 1) throw new UsageError('poi export --onnx <model dir> [--out file]: one model folder expected');
  const { exportOnnxFromDir } = await import('../onnx/export.js');
  const t0 = performance.now();
  const file = await exportOnnxFromDir(positionals[0], str(v.out));
  process.stderr.write(`wrote ${file} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  return 0;
}
