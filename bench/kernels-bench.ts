/**
 * Training throughput of a small CNN on the wasm backend, 1 thread vs all threads.
 *
 *   npx tsc -p . && node dist/bench/kernels-bench.js [--threads=N] [--rounds=3] [--steps=8] [--batch=64] [--bn=arith|fused]
 *
 * Model: 48x48x1 -> [conv3x3 (32, 64, 128) + batch norm + ReLU + maxpool 2x2] -> global mean ->
 * dense 7 -> softmax cross-entropy, Adam. One step = forward + backward + update.
 *
 * With 1 thread setupWasm uses the plain SIMD build, with more the threaded SIMD build (patched to
 * run on worker_threads). The thread count of the wasm backend is fixed when it initialises, so each measurement runs in a
 * child process; the parent alternates 1-thread and N-thread children (rounds times) so that load
 * from other processes on a shared machine hits both alike, and reports medians and their ratio.
 *
 *   --child=T   run one measurement with T threads and print one JSON line (used by the parent)
 *   --kernels   in the child, also time the conv/pool gradient kernels of each layer
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '../src/tf.js';
import { defaultWasmThreads, setupWasm, wasmThreads } from '../src/backend/wasm.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'] as [string, string];
  }),
);
const num = (k: string, d: number) => (args.has(k) ? Number(args.get(k)) : d);

interface Result {
  threads: number;
  actualThreads: number;
  multithread: boolean;
  batch: number;
  msPerStep: number;
  imagesPerSec: number;
  /** process CPU time / wall time during the timed steps (all threads). */
  cpuPerWall: number;
  /** share of the CPU time spent in threads other than the main one (Linux /proc; -1 elsewhere). */
  workerShare: number;
  kernels?: Record<string, number>;
}

/** CPU ticks per thread of this process (Linux), keyed by thread id. */
function threadTicks(): Map<number, number> {
  const m = new Map<number, number>();
  try {
    for (const t of readdirSync('/proc/self/task')) {
      const s = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      m.set(Number(t), Number(f[11]) + Number(f[12]));
    }
  } catch {
    // not Linux
  }
  return m;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function child(threads: number): Promise<void> {
  const batch = num('batch', 64);
  const steps = num('steps', 8);
  const fusedBn = args.get('bn') === 'fused';
  await setupWasm({ threads });
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed to initialise');
  await tf.ready();
  const multithread = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) as boolean;

  const chans = [1, 32, 64, 128];
  const classes = 7;
  const v = (shape: number[], s: number) => tf.variable(tf.randomNormal(shape, 0, s, 'float32', 1));
  const params: { w: tf.Variable; g: tf.Variable; b: tf.Variable }[] = [];
  for (let i = 0; i < 3; i++) {
    params.push({ w: v([3, 3, chans[i], chans[i + 1]], Math.sqrt(2 / (9 * chans[i]))), g: tf.variable(tf.ones([chans[i + 1]])), b: tf.variable(tf.zeros([chans[i + 1]])) });
  }
  const wd = v([128, classes], 0.1);
  const bd = tf.variable(tf.zeros([classes]));
  const x = tf.randomNormal([batch, 48, 48, 1], 0, 1, 'float32', 2);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % classes), 'int32'), classes);

  const loss = (): tf.Scalar => {
    let h: tf.Tensor4D = x as tf.Tensor4D;
    for (const p of params) {
      const c = tf.conv2d(h, p.w as tf.Tensor4D, 1, 'same');
      const { mean, variance } = tf.moments(c, [0, 1, 2]);
      const n = fusedBn
        ? tf.batchNorm(c, mean, variance, p.b, p.g, 1e-5)
        : tf.add(tf.mul(tf.mul(tf.sub(c, mean), tf.rsqrt(tf.add(variance, 1e-5))), p.g), p.b);
      h = tf.maxPool(tf.relu(n) as tf.Tensor4D, 2, 2, 'same');
    }
    const logits = tf.add(tf.matMul(tf.mean(h, [1, 2]), wd), bd);
    return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
  };
  const opt = tf.train.adam(1e-3);
  const step = () => {
    const l = opt.minimize(loss, true);
    l?.dataSync();
    l?.dispose();
  };
  step();
  step(); // warm-up (operator creation, heap growth)
  const ticks0 = threadTicks();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  const wall = performance.now() - t0;
  const ms = wall / steps;
  const cpu = process.cpuUsage(cpu0);
  const ticks1 = threadTicks();
  let mainTicks = 0;
  let otherTicks = 0;
  for (const [tid, v] of ticks1) {
    const d = v - (ticks0.get(tid) ?? 0);
    if (tid === process.pid) mainTicks += d;
    else otherTicks += d;
  }
  const workerShare = mainTicks + otherTicks > 0 ? +(otherTicks / (mainTicks + otherTicks)).toFixed(2) : -1;
  const cpuPerWall = +((cpu.user + cpu.system) / 1000 / wall).toFixed(2);

  let kernels: Record<string, number> | undefined;
  if (args.has('kernels')) {
    kernels = {};
    const time = (name: string, f: () => tf.Tensor | tf.Tensor[]) => {
      tf.tidy(() => { const r = f(); (Array.isArray(r) ? r[0] : r).dataSync(); });
      const reps = 3;
      const s = performance.now();
      for (let i = 0; i < reps; i++) tf.tidy(() => { const r = f(); (Array.isArray(r) ? r[0] : r).dataSync(); });
      kernels![name] = +((performance.now() - s) / reps).toFixed(2);
    };
    let hw = 48;
    for (let i = 0; i < 3; i++) {
      const xi = tf.randomNormal([batch, hw, hw, chans[i]]) as tf.Tensor4D;
      const w = params[i].w as tf.Tensor4D;
      const dy = tf.randomNormal([batch, hw, hw, chans[i + 1]]) as tf.Tensor4D;
      time(`L${i + 1} conv fwd`, () => tf.conv2d(xi, w, 1, 'same'));
      time(`L${i + 1} conv dFilter`, () => tf.engine().runKernel('Conv2DBackpropFilter', { x: xi, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: w.shape }) as tf.Tensor);
      if (i > 0) time(`L${i + 1} conv dInput`, () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: xi.shape }) as tf.Tensor);
      const yp = tf.maxPool(dy, 2, 2, 'same');
      time(`L${i + 1} maxPoolGrad`, () => tf.engine().runKernel('MaxPoolGrad', { dy: yp, input: dy, output: yp }, { filterSize: 2, strides: 2, pad: 'same' }) as tf.Tensor);
      tf.dispose([xi, dy, yp]);
      hw /= 2;
    }
    const a = tf.randomNormal([batch, 128]);
    const g = tf.randomNormal([batch, classes]);
    time('dense dW (matMul transposeA)', () => tf.matMul(a, g, true, false));
    tf.dispose([a, g]);
  }
  const r: Result = { threads, actualThreads: wasmThreads(), multithread, batch, msPerStep: +ms.toFixed(1), imagesPerSec: +((batch * 1000) / ms).toFixed(1), cpuPerWall, workerShare, kernels };
  console.log(JSON.stringify(r));
}

function parent(): void {
  const all = defaultWasmThreads(args.has('threads') ? num('threads', 0) : undefined);
  const rounds = num('rounds', 3);
  const self = fileURLToPath(import.meta.url);
  const pass = process.argv.slice(2).filter((a) => !a.startsWith('--threads') && !a.startsWith('--rounds'));
  const runs: Record<number, Result[]> = { 1: [], [all]: [] };
  const order = all === 1 ? [1] : [1, all];
  console.log(`kernels-bench: small CNN 48x48x1, batch ${num('batch', 64)}, ${num('steps', 8)} timed steps per run; 1 vs ${all} threads, ${rounds} alternating rounds`);
  console.log(`machine: ${os.cpus().length} logical cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (let r = 0; r < rounds; r++) {
    for (const th of r % 2 ? [...order].reverse() : order) {
      const p = spawnSync(process.execPath, [self, `--child=${th}`, ...pass], { encoding: 'utf8', env: { ...process.env, POI_THREADS: '' }, timeout: 600_000 });
      const line = p.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (p.status !== 0 || line == null) {
        console.error(p.stdout, p.stderr);
        throw new Error(`child with ${th} thread(s) failed (status ${p.status}, signal ${p.signal})`);
      }
      const res = JSON.parse(line) as Result;
      runs[th].push(res);
      console.log(`  round ${r + 1}: threads=${th} (actual ${res.actualThreads}, multithread=${res.multithread}) ${res.msPerStep} ms/step, ${res.imagesPerSec} images/s, cpu/wall ${res.cpuPerWall}, worker-thread share of cpu ${res.workerShare}${res.kernels ? ' ' + JSON.stringify(res.kernels) : ''}`);
    }
  }
  const m1 = median(runs[1].map((r) => r.imagesPerSec));
  console.log(`1 thread: ${m1} images/s (median)`);
  if (all > 1) {
    const mN = median(runs[all].map((r) => r.imagesPerSec));
    console.log(`${all} threads: ${mN} images/s (median)`);
    console.log(`speed-up ${all} vs 1 thread: ${(mN / m1).toFixed(2)}x`);
  }
  console.log(`load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other processes compete for the same cores)`);
}

if (args.has('child')) {
  await child(num('child', 1));
} else {
  parent();
}
