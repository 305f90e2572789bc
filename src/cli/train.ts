/** `poi train`: train POI or a baseline on a dataset, writing a run folder. */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend } from '../backend/index.js';
import { mergeConfig, presetConfig, type PoiConfig } from '../model/config.js';
import { checkConfig } from '../model/config-check.js';
import { train } from '../train/trainer.js';
import { checkRunFolder, checkRunLock } from '../train/run-folder.js';
import { num, parse, str, UsageError, type Options } from './args.js';
import { defaultSplits, loadSet } from '../data/load.js';

/** Resolve --config: a preset name ("poi", "ce+tiny") or a JSON file {"preset"?: ..., ...overrides}. */
export function resolveConfig(spec: string | undefined): PoiConfig {
  if (!spec) return presetConfig('poi');
  if (spec.endsWith('.json') || existsSync(spec)) {
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(readFileSync(spec, 'utf8'));
    } catch (e) {
      throw new Error(`${spec}: cannot read config (${(e as Error).message})`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`${spec}: a config file holds a JSON object, got ${JSON.stringify(obj)}`);
    // a run folder's config.json holds {config: {...}}
    if (obj.config && typeof obj.config === 'object') obj = obj.config as Record<string, unknown>;
    const { preset, ...rest } = obj;
    if (preset !== undefined && typeof preset !== 'string') throw new Error(`${spec}: config.preset: expected a preset name, got ${JSON.stringify(preset)}`);
    let config: PoiConfig;
    try {
      config = mergeConfig(presetConfig(preset ?? 'poi'), rest);
    } catch (e) {
      throw new Error(`${spec}: ${(e as Error).message}`);
    }
    checkConfig(config, spec);
    return config;
  }
  return presetConfig(spec);
}

/** Every option the command takes beyond the common ones (its usage in main.ts lists each). */
export const OPTIONS: Options = {
  config: { type: 'string', short: 'c' },
  data: { type: 'string', short: 'd' },
  val: { type: 'string' },
  split: { type: 'string' },
  'val-split': { type: 'string' },
  out: { type: 'string', short: 'o' },
  noise: { type: 'string' },
  'noise-list': { type: 'string' },
  seed: { type: 'string' },
  resume: { type: 'boolean' },
  overwrite: { type: 'boolean' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  'batch-size': { type: 'string' },
  'limit-train': { type: 'string' },
  'limit-val': { type: 'string' },
  'checkpoint-minutes': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
};

export async function trainCommand(argv: string[]): Promise<number> {
  const { values: v } = parse('train', argv, OPTIONS);
  const data = str(v.data);
  const out = str(v.out);
  if (!data || !out) throw new UsageError('poi train: --data <dir> and --out <run dir> are required');

  let config: PoiConfig;
  const runConfig = join(out, 'config.json');
  if (v.resume && existsSync(runConfig) && !v.config) config = resolveConfig(runConfig);
  else config = resolveConfig(str(v.config));
  const over: Record<string, unknown> = {};
  const noise = num('noise', v.noise, { min: 0, max: 0.95 });
  const seed = num('seed', v.seed, { int: true, min: 0, max: Number.MAX_SAFE_INTEGER });
  if (noise !== undefined) config.noise = noise;
  const noiseList = str(v['noise-list']);
  if (noiseList !== undefined) {
    if (!existsSync(noiseList)) throw new UsageError(`poi train: --noise-list ${noiseList}: no such file`);
    config.noiseList = noiseList;
  }
  if (seed !== undefined) config.seed = seed;
  const epochs = num('epochs', v.epochs, { int: true, min: 1 });
  const lr = num('lr', v.lr, { min: 0 });
  const bs = num('batch-size', v['batch-size'], { int: true, min: 1 });
  const lt = num('limit-train', v['limit-train'], { int: true, min: 0 });
  const lv = num('limit-val', v['limit-val'], { int: true, min: 0 });
  if (epochs !== undefined) over.epochs = epochs;
  if (lr !== undefined) over.lr = lr;
  if (bs !== undefined) over.batchSize = bs;
  if (lt !== undefined) over.limitTrain = lt;
  if (lv !== undefined) over.limitVal = lv;
  config = mergeConfig(config, { train: over });

  // refuse a folder in use or holding a run before minutes of data loading (train() checks again, under the lock)
  if (existsSync(out)) {
    await checkRunLock(resolve(out));
    await checkRunFolder(resolve(out), { resume: !!v.resume, overwrite: !!v.overwrite, dryRun: true }, () => {});
  }
  const backend = await initBackend({ backend: str(v.backend), threads: num('threads', v.threads, { int: true, min: 1 }) });
  const splits = defaultSplits(data);
  const trainSplit = str(v.split) ?? splits.train;
  const valPath = str(v.val) ?? (splits.val ? data : undefined);
  const valSplit = str(v['val-split']) ?? (str(v.val) ? undefined : splits.val);
  const input = config.model.input;
  const { set: trainSet, dataset: trainDs } = await loadSet(data, trainSplit, input, { limit: config.train.limitTrain, quiet: !!v.quiet });
  const val = valPath
    ? await loadSet(valPath, valSplit, input, { classes: trainSet.classes, limit: config.train.limitVal, quiet: !!v.quiet })
    : null;
  if (!val) process.stderr.write('poi train: no validation split found; the last epoch is saved as best/\n');

  const result = await train({
    config,
    outDir: resolve(out),
    resume: !!v.resume,
    overwrite: !!v.overwrite,
    progress: !v.quiet,
    checkpointMinutes: num('checkpoint-minutes', v['checkpoint-minutes'], { min: 0 }),
    data: {
      train: trainSet,
      val: val?.set ?? null,
      source: {
        train: { path: resolve(data), split: trainSplit ?? null, name: trainDs.name, n: trainSet.labels.length },
        val: val ? { path: resolve(valPath!), split: valSplit ?? null, name: val.dataset.name, n: val.set.labels.length } : null,
        backend,
      },
    },
  });
  const b = result.best;
  process.stderr.write(
    `done in ${(result.wallSeconds / 60).toFixed(1)} min of training` +
      (b ? `; best val accuracy ${(b.accuracy * 100).toFixed(2)}% at epoch ${b.epoch}` : '') +
      `; model in ${join(resolve(out), 'best')}\n`,
  );
  return 0;
}
