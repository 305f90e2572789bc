/** `poi report`: an HTML page with plots for a run folder or a model folder (see src/report/build.ts). */
import { initBackend } from '../backend/index.js';
import { num, parse, str, UsageError, DATA_OPTIONS, dataOptions, RUN_OPTIONS, runOptions, type Options } from './args.js';
import { parseMapping } from '../data/load.js';

/** Every option the command takes beyond the common ones (its usage in main.ts lists each). */
export const OPTIONS: Options = {
  ...RUN_OPTIONS,
  ...DATA_OPTIONS,
  out: { type: 'string', short: 'o' },
  faces: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
};

export async function reportCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse('report', argv, OPTIONS, true);
  if (positionals.length !== 1) {
    throw new UsageError(`poi report: expected one run or model folder, got ${positionals.length ? positionals.join(' ') : 'none'} (poi report --help for the options)`);
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
