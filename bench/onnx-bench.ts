/**
 * `npm run bench:onnx`: inference faces/s of tfjs (wasm) vs onnxruntime-node on the same networks, in
 * one run so the ratios hold on a noisy shared machine. Rows: the shipped TRN (models/poi-ferplus) and
 * a ResNet-18 (poi's resnet backbone: 3x3 stem, no max-pool, widths 64-512, 2-2-2-2 blocks, 48x48x1;
 * random weights), each at batch 1 and 64. Both paths start from a Float32Array and end with the
 * probabilities and confidences in Float32Arrays.
 *
 *   node dist/bench/onnx-bench.js [--seconds 2] [--model models/poi-ferplus] [--backend wasm]
 */
import { loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { presetConfig, mergeConfig } from '../src/model/config.js';
import { loadModel, saveModel } from '../src/model/io.js';
import { PoiModel } from '../src/model/poi.js';
import { createOrtRunner, onnxAvailable } from '../src/infer/ort-runner.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const { values: v } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    model: { type: 'string', default: 'models/poi-ferplus' },
    backend: { type: 'string', default: 'wasm' },
  },
});
const BUDGET_MS = Number(v.seconds) * 1000;
const classes = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt'];

if (!onnxAvailable()) {
  console.error('onnxruntime-node does not load here; nothing to compare');
  process.exit(1);
}
const backend = await initBackend({ backend: v.backend });
console.log(`tfjs-${backend} vs onnxruntime-node, ${cpus().length} cores, load ${loadavg()[0].toFixed(2)}, ${new Date().toISOString()}`);
console.log(`each cell: one warm-up call, then calls for >= ${v.seconds} s (at least 1)`);

/** faces/s of `call` on batches of n: one warm-up, then calls until the time budget is spent. */
async function facesPerSec(n: number, call: () => Promise<void>): Promise<number> {
  await call();
  let calls = 0;
  const t0 = performance.now();
  while (calls < 1 || performance.now() - t0 < BUDGET_MS) {
    await call();
    calls++;
  }
  return (calls * n) / ((performance.now() - t0) / 1000);
}

function input(n: number, per: number): Float32Array {
  const x = new Float32Array(n * per);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 1.5;
  return x;
}

const scratch = mkdtempSync(join(tmpdir(), 'poi-bench-'));

async function row(label: string, model: PoiModel, dir: string): Promise<void> {
  // exports go to a scratch cache, not the user's (a model.onnx next to the model is used as is)
  const runner = await createOrtRunner(dir, { cacheDir: join(scratch, 'onnx') });
  const { height: h, width: w, channels: c } = model.config.input;
  for (const n of [1, 64]) {
    const x = input(n, h * w * c);
    const tfjs = await facesPerSec(n, async () => {
      const t = tf.tensor4d(x, [n, h, w, c]);
      const out = model.predict(t);
      await out.probs.data();
      await out.confidence.data();
      tf.dispose([t, out.probs, out.confidence]);
    });
    const ort = await facesPerSec(n, async () => {
      await runner.run(x, n);
    });
    console.log(`${label.padEnd(34)} ${String(n).padStart(5)} ${tfjs.toFixed(1).padStart(12)} ${ort.toFixed(1).padStart(12)} ${(ort / tfjs).toFixed(2).padStart(8)}x`);
  }
  runner.dispose();
}

console.log(`${'network'.padEnd(34)} ${'batch'.padStart(5)} ${('tfjs-' + backend).padStart(12)} ${'onnxruntime'.padStart(12)} ${'ratio'.padStart(9)}`);
const shipped = await loadModel(v.model);
const mf = shipped.model.flops().trn / 1e6;
await row(`shipped TRN (${shipped.manifest.config.model.trn.kind}, ${mf.toFixed(0)} MFLOP)`, shipped.model, v.model);
shipped.model.dispose();

const cfg = mergeConfig(presetConfig('ce'), { model: { trn: { kind: 'resnet', widths: [64, 128, 256, 512], depths: [2, 2, 2, 2], dropout: 0 } } });
const resnet = new PoiModel(cfg.model, classes, 1);
const dir = join(scratch, 'resnet18');
await saveModel(resnet, cfg, dir);
await row(`ResNet-18 64-512 (${(resnet.flops().trn / 1e6).toFixed(0)} MFLOP)`, resnet, dir);
resnet.dispose();
rmSync(scratch, { recursive: true, force: true });
