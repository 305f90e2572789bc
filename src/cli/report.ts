/** `poi report`: an HTML page with plots for a run folder or a model folder (see src/report/build.ts). */
import { initBackend } from '../backend/index.js';
import { num, parse, str, UsageError, DATA_OPTIONS, dataOptions, RUN_OPTIONS, runOptions } from './args.js';
import { parseMapping } from '../data/load.js';

export const REPORT_USAGE = `poi report <run dir | model dir> [--out <dir>] [--data <dataset dir>] [--split name]
                                  [--limit N] [--faces N] [--votes drop-single|raw] [--map "theirs=ours,..."] [--quiet]
                                  [--runtime tfjs|onnx|auto] [--tta flip]

Writes report.html with PNG plots (training curves, confusion matrix, reliability diagram, uncertainty
vs vote entropy, risk-coverage, the most and least sure faces) and metrics.json into --out
(default <dir>/report/). A run folder's model is <run>/best and its data the validation split recorded
in <run>/config.json; a bare model folder needs --data. --votes raw measures KL and vote entropy against
the FERPlus votes as cast (default: single votes dropped, Microsoft's rule, as in poi eval). TRN runs on
tfjs unless --runtime says otherwise (the engine the metrics saved with the model were measured on).
`;

export async function reportCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(
    'report',
    argv,
    {
      ...RUN_OPTIONS,
      ...DATA_OPTIONS,
      out: { type: 'string', short: 'o' },
      faces: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
    },
    true,
  );
  if (v.help) {
    process.stdout.write(REPORT_USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(`poi report: expected one run or model folder, got ${positionals.length ? positionals.join(' ') : 'none'}\n\n${REPORT_USAGE}`);
  }
  const { data, split, map, limit, votes } = dataOptions(v);
  const run = runOptions(v);
  const faces = num('faces', v.faces, { int: true, min: 0, max: 60 });
  const mapping = parseMapping(map);
  // fail on a bad folder before the backend starts (cheap checks first)
  const { resolveSource } = await import('../report/build.js');
  const src = resolveSource(positionals[0]);
  if (!src.runDir && !data) {
    throw new UsageError(`poi report: ${positionals[0]} is a model folder without its run; pass --data <dataset dir> to say what to evaluate on`);
  }
  const backend = await initBackend({ backend: run.backend, threads: run.threads });
  const { buildReport } = await import('../report/build.js');
  const r = await buildReport({
    dir: positionals[0],
    out: str(v.out),
    data,
    split,
    mapping,
    limit,
    faces,
    votes,
    backend,
    threads: run.threads,
    runtime: run.runtime,
    tta: run.tta,
    quiet: !!v.quiet,
  });
  for (const w of r.warnings) process.stderr.write(`poi report: chart warning: ${w}\n`);
  process.stdout.write(`${r.html}\n`);
  return 0;
}
