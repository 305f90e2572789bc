/**
 * How much of a noise list a trained model has memorised: TRN over the training split (no augmentation),
 * split into the faces whose label the list flipped and the rest. For a flipped face, "memorised" is
 * the prediction equal to the flipped (wrong) label, "recovered" equal to the original one; for the
 * other faces, accuracy against their label. A method robust to label noise keeps "memorised" low;
 * a training accuracy on noisy labels says nothing about which half it fits.
 *
 *   node dist/bench/noise-fit.js --noise-list noise/ferplus/FER2013Train-n30-seed1.csv [--data ../shared/data/ferplus]
 *       [--json out.json] <model dir or checkpoint.bin> [...]
 *
 * A run's best/ is the epoch chosen on FER2013Valid; its checkpoint.bin holds the last epoch's weights, which
 * is where memorisation shows.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/model/io.js';
import { defaultSplits, loadSet } from '../src/data/load.js';
import { readNoiseList } from '../src/data/noise.js';
import { predictSet } from '../src/eval/predict.js';
import { modelFromCheckpoint } from '../src/train/trainer.js';
import { initBackend } from '../src/backend/index.js';
import { argmaxRows, noiseFit, type NoiseFit } from '../src/eval/metrics.js';

const { values: v, positionals: models } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/ferplus' },
    'noise-list': { type: 'string' },
    json: { type: 'string' },
  },
  allowPositionals: true,
});
if (!v['noise-list'] || !models.length) {
  console.error('usage: node dist/bench/noise-fit.js --noise-list <csv> [--data dir] [--json out.json] <model dir> [...]');
  process.exit(2);
}

await initBackend({});
const out: Record<string, NoiseFit> = {};
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const split = defaultSplits(v.data!).train;
// models of one input spec and class list share one decoded training set
const sets = new Map<string, Awaited<ReturnType<typeof loadSet>>['set']>();
for (const dir of models) {
  const { model, input, classes } = dir.endsWith('.bin')
    ? await modelFromCheckpoint(dir).then((c) => ({ model: c.model, input: c.config.model.input, classes: c.classes }))
    : await loadModel(dir).then((m) => ({ model: m.model, input: m.manifest.input, classes: m.manifest.classes }));
  const key = JSON.stringify([input, classes]);
  if (!sets.has(key)) sets.set(key, (await loadSet(v.data!, split, input, { classes, quiet: true })).set);
  const set = sets.get(key)!;
  const flips = readNoiseList(v['noise-list']!, set.paths, set.labels, classes);
  const { probs } = await predictSet(model, set);
  const fit = noiseFit(argmaxRows(probs, model.numClasses), set.labels, flips);
  out[dir] = fit;
  console.log(
    `${dir}: ${fit.flipped} flipped faces: memorised ${pct(fit.memorised)}, recovered ${pct(fit.recovered)}; ` +
      `${fit.clean} other faces: accuracy ${pct(fit.cleanAccuracy)}`,
  );
  model.dispose();
}
if (v.json) writeFileSync(v.json, JSON.stringify({ noiseList: v['noise-list'], data: v.data, models: out }, null, 2) + '\n');
