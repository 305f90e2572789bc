/**
 * The wasm backend's threads under Node (patches/@tensorflow+tfjs-backend-wasm+4.22.0.patch).
 * Each case runs in a fresh child process: the thread count is fixed when the backend initialises,
 * and the child must also exit by itself (the worker threads are unref'd).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import os from 'node:os';

const wasmJs = new URL('../src/backend/wasm.js', import.meta.url).href;
const tfJs = new URL('../src/tf.js', import.meta.url).href;

interface ChildOut {
  mt: boolean;
  threads: number;
  ticks?: { main: number; others: number };
  removed?: boolean;
}

/** Runs `body` in a child with setupWasm(opts) + setBackend('wasm'); returns its JSON line. */
function child(opts: string, body: string, env: Record<string, string> = {}): { out: ChildOut; status: number | null; ms: number; stderr: string } {
  const src = `
    import * as tf from ${JSON.stringify(tfJs)};
    import * as w from ${JSON.stringify(wasmJs)};
    import { readdirSync, readFileSync } from 'node:fs';
    await w.setupWasm(${opts});
    if (!(await tf.setBackend('wasm'))) throw new Error('no wasm');
    const out = { mt: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'), threads: w.wasmThreads() };
    const ticks = () => readdirSync('/proc/self/task').map((t) => {
      const s = readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      return { tid: +t, cpu: +f[11] + +f[12] };
    });
    ${body}
    console.log(JSON.stringify(out));
  `;
  const t0 = Date.now();
  const p = spawnSync(process.execPath, ['--input-type=module', '-e', src], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, POI_THREADS: '', TFJS_WASM_NODE_THREADS: '', ...env },
  });
  const line = p.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  assert.ok(line != null, `child printed no result (status ${p.status}, signal ${p.signal}):\n${p.stdout}\n${p.stderr}`);
  return { out: JSON.parse(line) as ChildOut, status: p.status, ms: Date.now() - t0, stderr: p.stderr };
}

const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
const TRAIN_STEP = `
  const x = tf.randomNormal([16, 24, 24, 8]);
  const f = tf.variable(tf.randomNormal([3, 3, 8, 32], 0, 0.1));
  const opt = tf.train.sgd(0.01);
  for (let i = 0; i < 3; i++) opt.minimize(() => tf.mean(tf.square(tf.maxPool(tf.relu(tf.conv2d(x, f, 1, 'same')), 2, 2, 'same'))));
`;

test('default: multithread support under Node, all logical cores (max 8), process exits by itself', () => {
  const r = child('{}', TRAIN_STEP);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.out.mt, true);
  assert.equal(r.out.threads, Math.min(cores, 8));
});

test('threads option and POI_THREADS override the default', () => {
  const a = child('{ threads: 1 }', '');
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.out.threads, 1);
  assert.equal(a.out.mt, false, 'one thread uses the plain SIMD build');
  if (cores >= 2) {
    const b = child('{ threads: 2 }', '');
    assert.equal(b.out.threads, 2);
  }
  const c = child('{}', '', { POI_THREADS: '1' });
  assert.equal(c.out.threads, 1);
});

test('TFJS_WASM_NODE_THREADS=0 falls back to the single-threaded build with a warning', () => {
  const r = child('{ threads: 2 }', '', { TFJS_WASM_NODE_THREADS: '0' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.out.mt, false);
  assert.equal(r.out.threads, 1);
  assert.match(r.stderr, /single-threaded/);
});

test('convolution work is split across threads (per-thread CPU time, Linux)', { skip: cores < 2 || !safeProc() }, () => {
  const r = child(
    '{ threads: 2 }',
    `
    const x = tf.randomNormal([64, 24, 24, 32]), f = tf.randomNormal([3, 3, 32, 64]);
    tf.conv2d(x, f, 1, 'same').dispose();
    const before = ticks();
    for (let i = 0; i < 15; i++) { const y = tf.conv2d(x, f, 1, 'same'); y.dataSync(); y.dispose(); }
    const after = ticks();
    const d = after.map((a) => a.cpu - (before.find((b) => b.tid === a.tid)?.cpu ?? 0));
    const mainTid = process.pid;
    const main = d[after.findIndex((a) => a.tid === mainTid)];
    const busy = d.filter((v, i) => after[i].tid !== mainTid).sort((p, q) => q - p);
    out.ticks = { main, others: busy[0] ?? 0 };
  `,
  );
  assert.equal(r.out.threads, 2);
  const { main, others } = r.out.ticks!;
  // With two threads XNNPACK splits each convolution; the busiest worker must do a real share.
  assert.ok(others >= 0.25 * (main + others), `worker ${others} vs main ${main} ticks: work was not split`);
});

test('terminateWasmThreads removes the backend', () => {
  const r = child('{ threads: 2 }', `w.terminateWasmThreads(); out.removed = tf.findBackend('wasm') == null && tf.engine().registryFactory['wasm'] == null;`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.out.removed, true);
});

function safeProc(): boolean {
  try {
    return readdirSync('/proc/self/task').length > 0;
  } catch {
    return false;
  }
}
