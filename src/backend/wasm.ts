/**
 * The wasm backend (tfjs-backend-wasm 4.22) set up for training, on all cores.
 *
 *   await setupWasm({ threads });   // then tf.setBackend('wasm') (src/backend/index.ts does both)
 *
 * setupWasm
 *  - picks the thread count: opts.threads, else POI_THREADS, else every logical core
 *    (os.availableParallelism(); tfjs-backend-wasm uses at most 8); it must run before the backend
 *    initialises. With 1 thread the plain SIMD build is used (WASM_HAS_MULTITHREAD_SUPPORT is set
 *    false), otherwise the threaded SIMD build;
 *  - checks that tfjs gradients are registered and installs a tile-free FusedBatchNorm gradient;
 *  - registers poi's training kernels for 'wasm' (kernels/index.ts);
 *  - registers the native oneDNN kernels on top when the addon is built (native.ts), unless
 *    opts.native is false or POI_NATIVE=0.
 *
 * Threads. Stock tfjs-backend-wasm reports WASM_HAS_MULTITHREAD_SUPPORT = false under Node and
 * caps the pool at half the logical cores. patches/@tensorflow+tfjs-backend-wasm+4.22.0.patch
 * (applied by scripts/postinstall.mjs with patch-package on npm install, also where poi-fer is
 * installed as a dependency) runs its threaded SIMD build on Node worker_threads
 * and lifts the cap. The workers are unref'd: a finished script exits by itself while the pool is
 * parked. terminateWasmThreads() stops them explicitly (the wasm backend is unusable afterwards).
 * TFJS_WASM_NODE_THREADS=0 forces the single-threaded build.
 */
import * as tf from '../tf.js';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { ensureGradients, registerWasmTrainingKernels } from './kernels/index.js';

export { ensureGradients } from './kernels/index.js';

export interface WasmSetup {
  threads?: number;
  /** Register poi's native (oneDNN) kernels when the addon is built (default true; POI_NATIVE=0 disables). */
  native?: boolean;
}

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');
let wasmModule: WasmModule | null = null;

/** Threads wanted: explicit, else POI_THREADS, else all logical cores (at least 1). */
export function defaultWasmThreads(explicit?: number): number {
  const env = process.env.POI_THREADS;
  const n = explicit ?? (env != null && env !== '' ? Number(env) : undefined);
  if (n != null && Number.isFinite(n) && n >= 1) return Math.floor(n);
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, cores);
}

/** poi-fer's postinstall script (this file is dist/src/backend/wasm.js once compiled). */
function postinstallScript(): string {
  return fileURLToPath(new URL('../../../scripts/postinstall.mjs', import.meta.url));
}

function backendInitialised(): boolean {
  const b = tf.engine().registry['wasm'];
  return b != null;
}

export async function setupWasm(opts: WasmSetup = {}): Promise<void> {
  wasmModule ??= await import('@tensorflow/tfjs-backend-wasm');
  const threads = defaultWasmThreads(opts.threads);
  if (!backendInitialised()) {
    wasmModule.setThreadsCount(threads);
    if (threads === 1) {
      // One thread: the plain SIMD build (no worker isolate, no shared-memory atomics).
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    } else if (!(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'))) {
      const why =
        process.env.TFJS_WASM_NODE_THREADS === '0'
          ? 'TFJS_WASM_NODE_THREADS=0'
          : `the worker_threads patch of @tensorflow/tfjs-backend-wasm is not applied (poi-fer's install script applies it: node ${postinstallScript()})`;
      process.emitWarning(`poi: the wasm backend will run single-threaded: ${why}`);
    }
  } else if (wasmThreads() !== threads) {
    process.emitWarning(`poi: wasm backend already initialised with ${wasmThreads()} thread(s); ${threads} requested`);
  }
  await ensureGradients();
  registerWasmTrainingKernels();
  if (opts.native !== false) {
    const { registerNativeKernels } = await import('./native.js');
    registerNativeKernels(threads);
  }
}

/** Threads the initialised wasm backend actually uses (-1 before it has initialised). */
export function wasmThreads(): number {
  if (wasmModule == null || !backendInitialised()) return -1;
  try {
    return wasmModule.getThreadsCount();
  } catch {
    return -1;
  }
}

/**
 * Stops the wasm backend's worker threads by disposing and removing the backend. Not needed for a
 * script to exit (the workers are unref'd); use it to free them in a long-lived process. The
 * 'wasm' backend (and every tensor on it) cannot be used again in this process afterwards.
 */
export function terminateWasmThreads(): void {
  if (tf.engine().registryFactory['wasm'] == null) return;
  tf.removeBackend('wasm');
}
