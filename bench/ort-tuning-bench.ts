/**
 * `npm run bench:ort-tuning`: the two choices poi makes for onnxruntime, measured in interleaved rounds
 * of one run so the ratios hold on a noisy shared machine:
 *  1. the PReLU form of the export (GraphOptions.prelu: the ONNX PRelu operator against per-channel 1x1
 *     convolutions), faces/s at batch 1 and 64, and the largest difference between the two exports'
 *     probabilities (only backbones with PReLUs, mobilefacenet, differ);
 *  2. the chunk size a batch of 64 is run in (OrtRunnerOptions.maxBatch), default form.
 *
 *   node dist/bench/ort-tuning-bench.js [--model models/poi-ferplus] [--seconds 3] [--rounds 3] [--threads N]
 */
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { onnxBytesFromDir, ONNX_INPUT, ONNX_PROBS } from '../src/onnx/export.js';
import type { GraphOptions } from '../src/onnx/graph.js';
import { modelFolderOf } from '../src/model/io.js';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/poi-ferplus' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string' },
  },
});
const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
const threads = v.threads ? Number(v.threads) : availableParallelism();
const budgetMs = Number(v.seconds) * 1000;
const folder = await modelFolderOf(v.model!);
const { height: H, width: W, channels: C } = folder.manifest.input;
console.log(`${v.model} (${folder.manifest.config.model.trn.kind}), onnxruntime ${threads} thread(s), ${cpus().length} cores, load ${loadavg()[0].toFixed(2)}, ${new Date().toISOString()}`);

const forms: Array<Required<GraphOptions>['prelu']> = ['PRelu', 'scale'];
const sessions = new Map<string, import('onnxruntime-node').InferenceSession>();
for (const prelu of forms) {
  const bytes = await onnxBytesFromDir(folder, { prelu });
  sessions.set(prelu, await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: threads }));
}

function input(n: number): import('onnxruntime-node').Tensor {
  const x = new Float32Array(n * H * W * C);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 1.5;
  return new ort.Tensor('float32', x, [n, H, W, C]);
}

const probe = input(8);
const probs = await Promise.all(forms.map(async (f) => (await sessions.get(f)!.run({ [ONNX_INPUT]: probe }))[ONNX_PROBS].data as Float32Array));
let maxDiff = 0;
for (let i = 0; i < probs[0].length; i++) maxDiff = Math.max(maxDiff, Math.abs(probs[0][i] - probs[1][i]));
console.log(`largest |probability difference| between the forms on 8 faces: ${maxDiff.toExponential(2)}`);

async function facesPerSec(s: import('onnxruntime-node').InferenceSession, x: import('onnxruntime-node').Tensor, n: number): Promise<number> {
  await s.run({ [ONNX_INPUT]: x });
  let calls = 0;
  const t0 = performance.now();
  while (calls < 1 || performance.now() - t0 < budgetMs) {
    await s.run({ [ONNX_INPUT]: x });
    calls++;
  }
  return (calls * n) / ((performance.now() - t0) / 1000);
}

console.log(`${'batch'.padStart(5)} ${'round'.padStart(5)} ${'PRelu op'.padStart(10)} ${'1x1 scale'.padStart(10)} ${'ratio'.padStart(7)}`);
for (const n of [1, 64]) {
  const x = input(n);
  const ratios: number[] = [];
  for (let r = 1; r <= Number(v.rounds); r++) {
    const [a, b] = [await facesPerSec(sessions.get('PRelu')!, x, n), await facesPerSec(sessions.get('scale')!, x, n)];
    ratios.push(b / a);
    console.log(`${String(n).padStart(5)} ${String(r).padStart(5)} ${a.toFixed(1).padStart(10)} ${b.toFixed(1).padStart(10)} ${(b / a).toFixed(2).padStart(6)}x`);
  }
  ratios.sort((p, q) => p - q);
  console.log(`${String(n).padStart(5)} median ratio ${ratios[Math.floor(ratios.length / 2)].toFixed(2)}x`);
}

// 2. chunk sizes: a batch of 64 faces run as 64/m calls of m faces
const chunks = [1, 2, 4, 8, 16, 32, 64];
const big = input(64).data as Float32Array;
const perFace = H * W * C;
const chunkTensors = new Map(chunks.map((m) => [m, new ort.Tensor('float32', big.subarray(0, m * perFace), [m, H, W, C])]));
const scale = sessions.get('scale')!;
const rates = new Map<number, number[]>(chunks.map((m) => [m, []]));
for (let r = 1; r <= Number(v.rounds); r++) {
  for (const m of chunks) {
    const x = chunkTensors.get(m)!;
    rates.get(m)!.push(await facesPerSec(scale, x, m));
  }
}
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
console.log(`\nbatch of 64 in chunks (default form), faces/s, median of ${v.rounds} rounds`);
for (const m of chunks) console.log(`${String(m).padStart(5)} ${median(rates.get(m)!).toFixed(1).padStart(10)}   rounds: ${rates.get(m)!.map((x) => x.toFixed(1)).join(', ')}`);
for (const s of sessions.values()) await s.release();
