/**
 * Node's one way to open TRN: the engine (onnxruntime-node when it loads, tfjs otherwise), its threads and
 * the test-time augmentation, for a model folder (kept apart from src/infer/runner.ts because it imports
 * the ONNX Runtime runner and uses process, which the browser lacks).
 */
import { initBackend } from '../backend/index.js';
import type { InputSpec } from '../model/config.js';
import { loadModel, type ModelSource } from '../model/io.js';
import type { PoiModel } from '../model/poi.js';
import { createTfjsRunner, parseTta, withFlipTta, type TrnRunner, type Tta } from './runner.js';

/** Where TRN runs: onnxruntime-node when it loads ('auto'), or one engine by name. */
export type Runtime = 'auto' | 'onnx' | 'tfjs';

export const RUNTIMES: readonly Runtime[] = ['auto', 'onnx', 'tfjs'];

export interface OpenRunnerOptions {
  /** Default 'auto'. */
  runtime?: Runtime;
  /** 'flip': each face and its mirror image, averaged. Default 'none'. */
  tta?: Tta;
  /** onnxruntime's intra-op threads; the wasm threads when tfjs is initialised here. */
  threads?: number;
  /** tfjs backend, initialised (with `threads`) before the tfjs model loads; default as initBackend. */
  backend?: string;
  /**
   * The tfjs model, when the caller shares it (the recognizer keeps it for PIN's explanation): loaded
   * only if tfjs runs, and left to the caller to dispose. Without it, the tfjs path loads the model
   * from the folder and the runner owns it.
   */
  getModel?: () => Promise<PoiModel>;
}

/**
 * The one rule for opening TRN, used by the recognizer, `poi eval`, `poi calibrate` and `poi report`:
 * runtime 'tfjs' → tfjs; 'onnx' → onnxruntime or an error; 'auto' → onnxruntime when the package loads
 * and the session opens, otherwise tfjs with a warning naming why. Then `tta` wraps whichever runs.
 */
export async function openRunner(model: ModelSource, opts: OpenRunnerOptions = {}): Promise<TrnRunner> {
  const runtime = opts.runtime ?? 'auto';
  if (!RUNTIMES.includes(runtime)) throw new Error(`unknown runtime "${runtime}" (auto, onnx or tfjs)`);
  const tta = parseTta(opts.tta) ?? 'none';
  const { runner, input } = await openEngine(model, runtime, opts);
  return tta === 'flip' ? withFlipTta(runner, input) : runner;
}

async function openEngine(model: ModelSource, runtime: Runtime, opts: OpenRunnerOptions): Promise<{ runner: TrnRunner; input: InputSpec }> {
  if (runtime !== 'tfjs') {
    const { onnxAvailable, createOrtRunner } = await import('./ort-runner.js');
    if (!onnxAvailable()) {
      if (runtime === 'onnx') throw new Error('onnxruntime-node is not available; use runtime "tfjs"');
    } else {
      try {
        const runner = await createOrtRunner(model, { threads: opts.threads });
        return { runner, input: runner.input };
      } catch (e) {
        if (runtime === 'onnx') throw e;
        process.emitWarning(`poi: onnxruntime failed (${(e as Error).message}); using tfjs`);
      }
    }
  }
  if (opts.getModel) {
    const m = await opts.getModel();
    return { runner: createTfjsRunner(m), input: m.config.input };
  }
  await initBackend({ backend: opts.backend, threads: opts.threads });
  const m = (await loadModel(model)).model;
  return { runner: createTfjsRunner(m, { dispose: true }), input: m.config.input };
}
