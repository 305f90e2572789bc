/**
 * Time per kernel of a POI training step on the current backend (top-level kernels only: a kernel
 * called from inside another kernel counts towards its caller).
 *
 *   node dist/bench/profile-step.js [--preset poi] [--batch 64] [--steps 3] [--resnet]
 */
import { parseArgs } from 'node:util';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { mergeConfig, presetConfig, type PoiConfigOverrides } from '../src/model/config.js';
import { PoiModel } from '../src/model/poi.js';
import { randomBatch, trainStep } from './step.js';

const { values: v } = parseArgs({
  options: {
    preset: { type: 'string', default: 'poi' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '3' },
    resnet: { type: 'boolean', default: false },
    backend: { type: 'string' },
    shapes: { type: 'boolean', default: false },
  },
});
const B = Number(v.batch);
const STEPS = Number(v.steps);
const backend = await initBackend({ backend: v.backend });
const classes = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt'];
const over: PoiConfigOverrides = v.resnet
  ? { model: { trn: { kind: 'resnet', widths: [64, 128, 256, 512], depths: [2, 2, 2, 2], dropout: 0 } } }
  : {};
const cfg = mergeConfig(presetConfig(v.preset!), over);
const m = new PoiModel(cfg.model, classes, 1);
const { x, y } = randomBatch(m, B);

// wrap every kernel of the active backend with a timer
const times = new Map<string, { ms: number; calls: number }>();
let depth = 0;
let recording = false;
const bname = tf.getBackend();
for (const k of tf.getKernelsForBackend(bname)) {
  const f = k.kernelFunc;
  (k as { kernelFunc: tf.KernelFunc }).kernelFunc = ((args: never) => {
    if (depth > 0 || !recording) {
      depth++;
      try {
        return f(args);
      } finally {
        depth--;
      }
    }
    depth++;
    const t0 = performance.now();
    try {
      return f(args);
    } finally {
      depth--;
      // --shapes: one row per kernel and input shapes
      const a = args as unknown as { inputs: Record<string, tf.TensorInfo | null> };
      const label = v.shapes
        ? `${k.kernelName} ${Object.values(a.inputs).map((t) => (t ? `[${t.shape}]` : '-')).join(' ')}`
        : k.kernelName;
      const e = times.get(label) ?? { ms: 0, calls: 0 };
      e.ms += performance.now() - t0;
      e.calls++;
      times.set(label, e);
    }
  }) as tf.KernelFunc;
}

const step = trainStep(m, x, y);
step();
recording = true;
const t0 = performance.now();
for (let i = 0; i < STEPS; i++) step();
const total = (performance.now() - t0) / STEPS;
recording = false;
const rows = [...times.entries()].sort((a, b) => b[1].ms - a[1].ms);
const inKernels = rows.reduce((s, [, e]) => s + e.ms, 0) / STEPS;
console.log(`backend ${backend}, preset ${v.preset}${v.resnet ? ' + resnet-18' : ''}, batch ${B}: ${total.toFixed(0)} ms/step, ${inKernels.toFixed(0)} ms in kernels`);
console.log(`| kernel | ms/step | % of step | calls/step |\n|---|---:|---:|---:|`);
for (const [name, e] of rows.slice(0, 22)) {
  console.log(`| ${name} | ${(e.ms / STEPS).toFixed(1)} | ${((100 * e.ms) / STEPS / total).toFixed(1)} | ${e.calls / STEPS} |`);
}
