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
import { loadError, loadNative } from '../src/backend/native.js';

const wasmJs = new URL('../src/backend/wasm.js', import.meta.url).href;
const tfJs = new URL('../src/tf.js', import.meta.url).href;

interface ChildOut {
  native?: boolean;
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

/**
 * Per-thread CPU time of convolutions alone. Outputs are not read back: copying a big output out of
 * the wasm heap is single-threaded main-thread work that, next to the fast native kernels, outweighs
 * the convolution itself, and measuring it is what made this test fail where the native kernels are
 * built. Returns the path that ran (the wasm pool or oneDNN's OpenMP team) and the ticks.
 */
function convTicks(env: Record<string, string>) {
  return child(
    '{ threads: 2 }',
    `
    const x = tf.randomNormal([64, 24, 24, 32]), f = tf.randomNormal([3, 3, 32, 64]);
    tf.conv2d(x, f, 1, 'same').dispose();
    const { nativeActive } = await import(${JSON.stringify(new URL('../src/backend/native.js', import.meta.url).href)});
    out.native = nativeActive();
    // enough convolutions for about a second of CPU on either path, so a tick (10 ms) is a small part
    const before = ticks();
    const t0 = process.cpuUsage();
    let n = 0;
    while (n < 400 && (process.cpuUsage(t0).user + process.cpuUsage(t0).system) < 1e6) { tf.conv2d(x, f, 1, 'same').dispose(); n++; }
    const after = ticks();
    const d = after.map((a) => a.cpu - (before.find((b) => b.tid === a.tid)?.cpu ?? 0));
    const mainTid = process.pid;
    const main = d[after.findIndex((a) => a.tid === mainTid)];
    const busy = d.filter((v, i) => after[i].tid !== mainTid).sort((p, q) => q - p);
    out.ticks = { main, others: busy[0] ?? 0 };
  `,
    env,
  );
}

for (const path of ['wasm', 'native'] as const) {
  const nativeBuilt = path === 'native' && loadNative() != null;
  test(`convolution work is split across threads on the ${path} path (per-thread CPU time, Linux)`, { skip: cores < 2 || !safeProc() ? 'needs 2 cores and /proc' : path === 'native' && !nativeBuilt ? `native kernels not built: ${loadError()}` : false }, () => {
    const r = convTicks(path === 'wasm' ? { POI_NATIVE: '0' } : {});
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.out.threads, 2);
    assert.equal(r.out.native, path === 'native', 'the path under test ran the convolutions');
    const { main, others } = r.out.ticks!;
    // two threads: the busiest helper (a wasm pool worker, or oneDNN's second OpenMP thread) must do a real share
    assert.ok(others >= 0.25 * (main + others), `${path}: helper ${others} vs main ${main} ticks: work was not split`);
  });
}

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
