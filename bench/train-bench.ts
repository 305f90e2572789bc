/**
 * `npm run bench`: training images/s and inference faces/s of poi's networks on this machine, in one
 * run, so the ratios between rows are meaningful even on a noisy shared machine.
 *
 *   node dist/bench/train-bench.js [--backend wasm] [--batch 64] [--steps 6] [--rounds 1] [--only poi,ce+dlib]
 */
import { parseArgs } from 'node:util';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { mergeConfig, presetConfig, type PoiConfigOverrides } from '../src/model/config.js';
import { PoiModel } from '../src/model/poi.js';
import { imagesPerSec, inferStep, randomBatch, trainStep } from './step.js';

const { values: v } = parseArgs({
  options: {
    backend: { type: 'string' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '6' },
    only: { type: 'string' },
    rounds: { type: 'string', default: '1' },
  },
});
const BATCH = Number(v.batch);
const STEPS = Number(v.steps);
const classes = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt'];

/** Backbones measured: the default, a narrower one and a deeper one, each as POI and as CE. */
const VGG = (widths: number[], depths: number[]): PoiConfigOverrides => ({ model: { trn: { kind: 'vgg', widths, depths, dropout: 0.3 } } });
const ROWS: Array<[string, string, PoiConfigOverrides, number?]> = [
  ['poi (default: vgg 32-256 x1)', 'poi', {}],
  ['ce  (default: vgg 32-256 x1)', 'ce', {}],
  ['poi  vgg 16-128 x1', 'poi', VGG([16, 32, 64, 128], [1, 1, 1, 1])],
  ['ce   vgg 16-128 x1', 'ce', VGG([16, 32, 64, 128], [1, 1, 1, 1])],
  ['poi  vgg 32-256 x1-2-2-2', 'poi', VGG([32, 64, 128, 256], [1, 2, 2, 2])],
  ['ce   vgg 32-256 x1-2-2-2', 'ce', VGG([32, 64, 128, 256], [1, 2, 2, 2])],
  // batch 32: at 64 a ResNet-18 step outgrows the 4 GB wasm32 heap
  ['ce   resnet-18 64-512 (batch 32)', 'ce', { model: { trn: { kind: 'resnet', widths: [64, 128, 256, 512], depths: [2, 2, 2, 2], dropout: 0 } } }, 32],
  // the pretrained dlib ResNet-29 at 112x112 (weights do not change the speed: random here)
  ['poi  dlib-resnet 112 (PIN: 2 stages)', 'poi+dlib', {}],
  ['ce   dlib-resnet 112', 'ce+dlib', {}],
  // MobileFaceNet at 112x112 RGB (depthwise convs and PReLU: native kernels)
  ['poi  mobilefacenet 112 (PIN: 2 stages)', 'poi+mobilefacenet', {}],
  ['ce   mobilefacenet 112', 'ce+mobilefacenet', {}],
];

const backend = await initBackend({ backend: v.backend });
const ROUNDS = Number(v.rounds);
console.log(`backend ${backend}, batch ${BATCH}, ${STEPS} timed steps after 2 warm-up steps${ROUNDS > 1 ? `, median of ${ROUNDS} interleaved rounds` : ''}, ${new Date().toISOString()}`);
console.log(`${'network'.padEnd(38)} ${'TRN MFLOP'.padStart(9)} ${'PIN MFLOP'.padStart(9)} ${'train img/s'.padStart(12)} ${'infer img/s'.padStart(12)} ${'GFLOP/s train'.padStart(13)}`);
const only = v.only?.split(',');
const rows = ROWS.filter(([, preset]) => !only || only.some((o) => o === preset || preset.split('+').includes(o)));
/** One row once: a fresh model, 2 warm-up steps, then the timed training steps and inference passes. */
function measure([, preset, over, rowBatch]: (typeof ROWS)[number]): { train: number; infer: number; trn: number; pin: number } {
  const B = rowBatch ?? BATCH;
  const cfg = mergeConfig(presetConfig(preset), over);
  const m = new PoiModel(cfg.model, classes, 1);
  const { x, y } = randomBatch(m, B);
  const step = trainStep(m, x, y);
  for (let i = 0; i < 2; i++) step();
  const train = imagesPerSec(step, STEPS, B);
  const infer = inferStep(m, x);
  infer();
  const inf = imagesPerSec(infer, STEPS, B);
  const f = m.flops();
  m.dispose();
  tf.dispose([x, y]);
  return { train, infer: inf, ...f };
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
// rounds interleave the rows, so a change in the machine's load hits every row alike
const runs = rows.map(() => [] as ReturnType<typeof measure>[]);
for (let r = 0; r < ROUNDS; r++) rows.forEach((row, i) => runs[i].push(measure(row)));
rows.forEach(([label], i) => {
  const train = median(runs[i].map((m) => m.train));
  const inf = median(runs[i].map((m) => m.infer));
  const { trn, pin } = runs[i][0];
  // a training step is about 3x the forward FLOPs (forward, input gradient, weight gradient)
  const gflops = (3 * (trn + pin) * train) / 1e9;
  console.log(
    `${label.padEnd(38)} ${(trn / 1e6).toFixed(0).padStart(9)} ${(pin / 1e6).toFixed(0).padStart(9)} ${train.toFixed(1).padStart(12)} ${inf.toFixed(1).padStart(12)} ${gflops.toFixed(1).padStart(13)}`,
  );
});
