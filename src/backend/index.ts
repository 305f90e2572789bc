/**
 * Backend selection. One model code path; the tensor engine underneath is chosen at run time:
 *   - `--backend <name>` or POI_BACKEND=<name> picks explicitly (wasm, cpu, tensorflow, webgl, ...);
 *   - otherwise @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node when the user has installed them,
 *     then wasm (with poi's training kernels registered), then cpu.
 */
import * as tf from '../tf.js';
import { createRequire } from 'node:module';
import { nativeActive } from './native.js';

export type BackendName = 'wasm' | 'cpu' | 'tensorflow' | string;

const require = createRequire(import.meta.url);
let initialised: string | null = null;

export interface BackendOptions {
  /** Explicit backend; falls back to POI_BACKEND, then auto. */
  backend?: BackendName;
  /** Threads for the wasm backend (default: all logical cores; POI_THREADS overrides). */
  threads?: number;
}

function tryRequire(name: string): boolean {
  try {
    require(name);
    return true;
  } catch {
    return false;
  }
}

async function initWasm(threads?: number): Promise<void> {
  const wasm = await import('../backend/wasm.js');
  await wasm.setupWasm({ threads });
}

/**
 * Initialise the tensor backend once per process and return its name: the tfjs backend name, with
 * '+native' appended when poi's native oneDNN kernels run under the wasm backend ('wasm+native').
 */
export async function initBackend(opts: BackendOptions = {}): Promise<string> {
  const wanted = opts.backend ?? process.env.POI_BACKEND ?? 'auto';
  if (initialised && (wanted === 'auto' || wanted === initialised)) return label(initialised);
  const envThreads = process.env.POI_THREADS ? Number(process.env.POI_THREADS) : undefined;
  const threads = opts.threads ?? envThreads;
  let name: string;
  if (wanted === 'auto') {
    if (tryRequire('@tensorflow/tfjs-node-gpu') || tryRequire('@tensorflow/tfjs-node')) {
      name = 'tensorflow';
    } else {
      try {
        await initWasm(threads);
        name = 'wasm';
      } catch (e) {
        process.emitWarning(`poi: wasm backend unavailable (${(e as Error).message}); using cpu`);
        await import('@tensorflow/tfjs-backend-cpu');
        name = 'cpu';
      }
    }
  } else if (wanted === 'wasm') {
    await initWasm(threads);
    name = 'wasm';
  } else if (wanted === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    name = 'cpu';
  } else if (wanted === 'tensorflow') {
    if (!tryRequire('@tensorflow/tfjs-node-gpu') && !tryRequire('@tensorflow/tfjs-node')) {
      throw new Error('backend "tensorflow" needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu installed');
    }
    name = 'tensorflow';
  } else {
    name = wanted;
    // another backend someone registered (webgl in a browser, say); otherwise say what there is
    if (tf.findBackendFactory(name) == null) {
      throw new Error(`unknown backend "${name}"; choose auto, wasm, cpu or tensorflow (tensorflow needs @tensorflow/tfjs-node installed)`);
    }
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`could not initialise tfjs backend "${name}"`);
  await tf.ready();
  // tfjs-backend-cpu greets Node users with an advert for tfjs-node on first use; poi chose cpu on purpose
  if (name === 'cpu') (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  initialised = name;
  return label(name);
}

/** The active backend's name as initBackend reports it ('wasm+native' with the native kernels). */
export function backendLabel(): string {
  return label(tf.getBackend());
}

function label(name: string): string {
  return name === 'wasm' && nativeActive() ? 'wasm+native' : name;
}
