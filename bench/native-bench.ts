/**
 * `npm run bench:native`: training and inference images/s of poi's networks on the pure wasm path
 * and with the native oneDNN kernels (wasm+native), in one process, switching the native kernels
 * off and on between measurements; then, where Debian's python3-torch is installed, the same CE
 * networks in PyTorch (bench/torch_reference.py) at the same batch and thread count. Ratios are
 * what to read: the machine is shared and absolute numbers move between runs.
 *
 *   node dist/bench/native-bench.js [--steps 4] [--only poi,ce,resnet18,sep,sep2,sepp] [--no-torch]
 *
 * A training step here is forward + loss + gradients + an SGD update, as in the PyTorch script.
 * The `sep` rows are one MobileNet-style depthwise-separable block alone (depthwise 3x3 + ReLU or
 * PReLU + pointwise 1x1 + ReLU or PReLU, batch 32 at 56x56; gradients for the filters, the slopes
 * and the block's input, as a block in the middle of a network pays them): the layers of
 * MobileNet and MobileFaceNet.
 */
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { defaultWasmThreads } from '../src/backend/wasm.js';
import { loadError, nativeActive, nativeInfo, setNativeEnabled } from '../src/backend/native.js';
import { mergeConfig, presetConfig, type PoiConfigOverrides } from '../src/model/config.js';
import { PoiModel } from '../src/model/poi.js';
import { imagesPerSec, inferStep, randomBatch, trainStep } from './step.js';

const { values: v } = parseArgs({
  options: {
    steps: { type: 'string', default: '4' },
    only: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const STEPS = Number(v.steps);
const classes = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt'];
const RESNET18: PoiConfigOverrides = { model: { trn: { kind: 'resnet', widths: [64, 128, 256, 512], depths: [2, 2, 2, 2], dropout: 0 } } };

interface Row {
  id: string;
  label: string;
  preset: string;
  over: PoiConfigOverrides;
  batch: number;
  steps: number;
  /** Network name in torch_reference.py, for the CE rows it mirrors. */
  torch?: string;
  /** A depthwise-separable block instead of a poi network: input [batch, hw, hw, cin], stride, cout. */
  sep?: { hw: number; cin: number; cout: number; stride: number; prelu?: boolean };
}
const ROWS: Row[] = [
  { id: 'poi', label: 'POI default (PIN + TRN vgg 32-256)', preset: 'poi', over: {}, batch: 64, steps: STEPS },
  { id: 'ce', label: 'TRN alone, CE (vgg 32-256)', preset: 'ce', over: {}, batch: 64, steps: STEPS, torch: 'vgg' },
  // batch 32: at 64 a ResNet-18 step outgrows the 4 GB wasm32 heap
  { id: 'resnet18', label: 'ResNet-18 64-512, CE (batch 32)', preset: 'ce', over: RESNET18, batch: 32, steps: Math.max(2, Math.ceil(STEPS / 2)), torch: 'resnet18' },
  { id: 'sep', label: 'dw-separable block 64ch 56x56 s1', preset: '', over: {}, batch: 32, steps: STEPS, sep: { hw: 56, cin: 64, cout: 64, stride: 1 } },
  { id: 'sep2', label: 'dw-separable block 64->128 56x56 s2', preset: '', over: {}, batch: 32, steps: STEPS, sep: { hw: 56, cin: 64, cout: 128, stride: 2 } },
  { id: 'sepp', label: 'dw-separable block, PReLU, 64ch s1', preset: '', over: {}, batch: 32, steps: STEPS, sep: { hw: 56, cin: 64, cout: 64, stride: 1, prelu: true } },
];

const backend = await initBackend({ backend: 'wasm' });
const threads = defaultWasmThreads();
if (!nativeActive()) {
  console.log(`native kernels unavailable (${loadError()}); nothing to compare. Build them: npm run build:native`);
  process.exit(0);
}
console.log(`${backend}, ${threads} thread(s), oneDNN ${nativeInfo()?.onednn}, ${new Date().toISOString()}`);

function measure(m: PoiModel, batch: number, steps: number): { train: number; infer: number } {
  const { x, y } = randomBatch(m, batch);
  const opt = tf.train.sgd(1e-4);
  const step = trainStep(m, x, y, opt);
  step();
  const train = imagesPerSec(step, steps, batch);
  const infer = inferStep(m, x);
  infer();
  const inf = imagesPerSec(infer, steps, batch);
  opt.dispose();
  tf.dispose([x, y]);
  return { train, infer: inf };
}

/**
 * One depthwise-separable block: y = act(conv1x1(act(depthwise3x3(x, stride)))), act = ReLU or
 * PReLU (per-channel slopes). A training step is the forward pass, the backward pass from a given
 * dy (as a block inside a network receives it; a scalar loss here would add tfjs' ones(x.shape)
 * in JS to both sides) to x and both filters (and the slopes), and SGD on the filters.
 */
function measureSeparable(sep: NonNullable<Row['sep']>, batch: number, steps: number): { train: number; infer: number } {
  const { hw, cin, cout, stride, prelu } = sep;
  const x = tf.randomNormal([batch, hw, hw, cin]) as tf.Tensor4D;
  const dw = tf.variable(tf.randomNormal([3, 3, cin, 1], 0, 1 / 3) as tf.Tensor4D, true, 'sep_dw');
  const pw = tf.variable(tf.randomNormal([1, 1, cin, cout], 0, 1 / Math.sqrt(cin)) as tf.Tensor4D, true, 'sep_pw');
  const a1 = tf.variable(tf.fill([cin], 0.25), true, 'sep_a1');
  const a2 = tf.variable(tf.fill([cout], 0.25), true, 'sep_a2');
  const act = (h: tf.Tensor4D, a: tf.Tensor | undefined): tf.Tensor4D => (a != null ? (tf.prelu(h, a as tf.Tensor4D) as tf.Tensor4D) : tf.relu(h));
  const block = (xx: tf.Tensor, f1: tf.Tensor, f2: tf.Tensor, s1?: tf.Tensor, s2?: tf.Tensor) =>
    act(tf.conv2d(act(tf.depthwiseConv2d(xx as tf.Tensor4D, f1 as tf.Tensor4D, stride, 'same'), s1), f2 as tf.Tensor4D, 1, 'same'), s2);
  const params = prelu ? [dw, pw, a1, a2] : [dw, pw];
  const dy = tf.tidy(() => tf.randomNormal(block(x, dw, pw, ...params.slice(2)).shape, 0, 1e-3));
  const grads = tf.grads(block);
  const opt = tf.train.sgd(1e-4);
  const step = () => {
    const [gx, ...gs] = grads([x, ...params], dy);
    opt.applyGradients(Object.fromEntries(params.map((p, i) => [p.name, gs[i]])));
    gs[0].dataSync();
    tf.dispose([gx, ...gs]);
  };
  const infer = () => {
    const y = tf.tidy(() => block(x, dw, pw, ...params.slice(2)));
    y.dispose();
  };
  step();
  const train = imagesPerSec(step, steps, batch);
  infer();
  const inf = imagesPerSec(infer, steps, batch);
  opt.dispose();
  tf.dispose([x, dw, pw, a1, a2, dy]);
  return { train, infer: inf };
}

const only = v.only?.split(',');
const rows = ROWS.filter((r) => !only || only.includes(r.id));
const results: Array<{ row: Row; wasm: { train: number; infer: number }; native: { train: number; infer: number } }> = [];
const f1 = (n: number) => n.toFixed(1).padStart(8);
const f2 = (n: number) => `${n.toFixed(2)}x`.padStart(7);
console.log(`\n${'network'.padEnd(36)} ${'batch'.padStart(5)} | ${'train img/s: wasm'.padStart(17)} ${'native'.padStart(8)} ${'ratio'.padStart(7)} | ${'infer img/s: wasm'.padStart(17)} ${'native'.padStart(8)} ${'ratio'.padStart(7)}`);
for (const row of rows) {
  let wasm: { train: number; infer: number };
  let native: { train: number; infer: number };
  if (row.sep != null) {
    setNativeEnabled(false);
    wasm = measureSeparable(row.sep, row.batch, row.steps);
    setNativeEnabled(true);
    native = measureSeparable(row.sep, row.batch, row.steps);
  } else {
    const cfg = mergeConfig(presetConfig(row.preset), row.over);
    const m = new PoiModel(cfg.model, classes, 1);
    setNativeEnabled(false);
    wasm = measure(m, row.batch, row.steps);
    setNativeEnabled(true);
    native = measure(m, row.batch, row.steps);
    m.dispose();
  }
  results.push({ row, wasm, native });
  console.log(
    `${row.label.padEnd(36)} ${String(row.batch).padStart(5)} | ${f1(wasm.train).padStart(17)} ${f1(native.train)} ${f2(native.train / wasm.train)} | ${f1(wasm.infer).padStart(17)} ${f1(native.infer)} ${f2(native.infer / wasm.infer)}`,
  );
}

// ---------------------------------------------------------------- PyTorch reference
const torchRows = results.filter((r) => r.row.torch != null);
const script = fileURLToPath(new URL('../../bench/torch_reference.py', import.meta.url));
const python = '/usr/bin/python3'; // Debian's python (python3-torch), not a pyenv one on PATH
if (v['no-torch'] || torchRows.length === 0) process.exit(0);
if (!existsSync(python) || !existsSync(script)) {
  console.log(`\nPyTorch reference skipped: ${existsSync(python) ? script : python} not found`);
  process.exit(0);
}
const r = spawnSync(
  python,
  [script, '--threads', String(threads), '--steps', String(STEPS), '--only', torchRows.map((t) => t.row.torch).join(',')],
  { encoding: 'utf8', timeout: 600_000 },
);
const lines = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
if (lines.length === 0 || lines[0].error != null) {
  console.log(`\nPyTorch reference skipped: ${String(lines[0]?.error ?? (r.stderr || 'no output').split('\n')[0])} (apt-get install python3-torch)`);
  process.exit(0);
}
console.log(`\nPyTorch ${String(lines[0].torch)} CPU, ${String(lines[0].threads)} thread(s), same batch (measured after the rows above):`);
console.log(`${'network'.padEnd(36)} | ${'train img/s: torch'.padStart(18)} ${'native/torch'.padStart(12)} ${'wasm/torch'.padStart(10)} | ${'infer: torch'.padStart(12)} ${'native/torch'.padStart(12)}`);
for (const { row, wasm, native } of torchRows) {
  const t = lines.find((l) => l.net === row.torch) as { train: number; infer: number } | undefined;
  if (!t) continue;
  console.log(
    `${row.label.padEnd(36)} | ${f1(t.train).padStart(18)} ${f2(native.train / t.train).padStart(12)} ${f2(wasm.train / t.train).padStart(10)} | ${f1(t.infer).padStart(12)} ${f2(native.infer / t.infer).padStart(12)}`,
  );
}
