/**
 * Node's choice of TRN's engine: onnxruntime-node when it loads, tfjs otherwise (kept apart from
 * src/infer/runner.ts because it imports the ONNX module and uses process, which the browser lacks).
 */
import type { ModelSource } from '../model/io.js';
import type { PoiModel } from '../model/poi.js';
import { createTfjsRunner, type TrnRunner } from './runner.js';

/** Where TRN runs: onnxruntime-node when it loads ('auto'), or one engine by name. */
export type Runtime = 'auto' | 'onnx' | 'tfjs';

/**
 * The one rule for choosing TRN's engine, used by the recognizer and by `poi eval`/`calibrate`:
 * 'tfjs' → tfjs; 'onnx' → onnxruntime or an error; 'auto' → onnxruntime when the package loads and the
 * session opens, otherwise tfjs with a warning naming why. `getModel` loads the tfjs model lazily (only
 * the tfjs path needs it); `disposeModel` hands its ownership to the runner.
 */
export async function openTrnRunner(
  model: ModelSource,
  opts: { runtime?: Runtime; threads?: number; getModel: () => Promise<PoiModel>; disposeModel?: boolean },
): Promise<TrnRunner> {
  const runtime = opts.runtime ?? 'auto';
  if (runtime !== 'auto' && runtime !== 'onnx' && runtime !== 'tfjs') throw new Error(`unknown runtime "${runtime}" (auto, onnx or tfjs)`);
  if (runtime !== 'tfjs') {
    const { onnxAvailable, createOrtRunner } = await import('../onnx/runtime.js');
    if (!onnxAvailable()) {
      if (runtime === 'onnx') throw new Error('onnxruntime-node is not available; use runtime "tfjs"');
    } else {
      try {
        return await createOrtRunner(model, { threads: opts.threads });
      } catch (e) {
        if (runtime === 'onnx') throw e;
        process.emitWarning(`poi: onnxruntime failed (${(e as Error).message}); using tfjs`);
      }
    }
  }
  return createTfjsRunner(await opts.getModel(), { dispose: opts.disposeModel });
}
