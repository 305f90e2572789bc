/**
 * Baking a temperature into a saved model folder. Temperature scaling divides TRN's logits by T; the
 * logits are the output of one Dense layer (trn.head: logits = g·W + b), so dividing W and b by T gives
 * exactly logits / T. After that every consumer of the folder — tfjs, the ONNX export, the browser
 * page, every command — gets calibrated probabilities with no code of its own.
 *
 * The uncertainty module's confidence c is untouched: it reads the pooled features g, not the logits
 * (src/model/trn.ts). Only a model without that module, whose confidence is the top probability,
 * sees its confidence change, and then it is the calibrated top probability (and its describe bands,
 * tuned on the old one, are dropped).
 */
import { readModelManifest, rewriteModelFolder } from './io.js';
import { hasUncertaintyHead } from './objectives.js';
import type { CalibrationRecord, ModelManifest, TensorMap } from './format.js';

/** TRN's classification layer (src/model/trn.ts: new Dense(p, 'trn.head', ...)). */
export const HEAD_LAYER = 'trn.head';

/** Divide the head's weight and bias by `factor` in a tensor map (in place). */
export function scaleHead(tensors: TensorMap, factor: number, source: string): void {
  if (!(factor > 0 && Number.isFinite(factor))) throw new RangeError(`temperature must be positive and finite, got ${factor}`);
  for (const name of [`${HEAD_LAYER}.w`, `${HEAD_LAYER}.b`]) {
    const t = tensors.get(name);
    if (!t) throw new Error(`${source}: no "${name}" in the weights; not a poi TRN?`);
    const inv = 1 / factor;
    for (let i = 0; i < t.values.length; i++) t.values[i] *= inv;
  }
}

/** Subtract per-class offsets from the head's bias (in place): logits − offset, for every consumer. */
export function shiftHeadBias(tensors: TensorMap, offsets: ArrayLike<number>, source: string): void {
  const b = tensors.get(`${HEAD_LAYER}.b`);
  if (!b) throw new Error(`${source}: no "${HEAD_LAYER}.b" in the weights; not a poi TRN?`);
  if (b.values.length !== offsets.length) throw new Error(`${source}: ${offsets.length} offsets for a head of ${b.values.length} classes`);
  for (let i = 0; i < offsets.length; i++) b.values[i] -= offsets[i];
}

/**
 * Write `srcDir`'s model with its head divided by `factor` and `record` under model.json's
 * `calibration`, into `outDir` (may equal srcDir); a model.onnx is re-exported (rewriteModelFolder).
 */
export async function writeCalibratedModel(srcDir: string, outDir: string, factor: number, record: CalibrationRecord): Promise<ModelManifest> {
  const drop = describeStaleAfterHeadEdit(await readModelManifest(srcDir));
  return (await rewriteModelFolder(srcDir, outDir, { edit: (t, source) => scaleHead(t, factor, source), patch: { calibration: record }, drop })).manifest;
}

/**
 * The records an edit of trn.head (a temperature, balance offsets) makes stale: none for a model with
 * the uncertainty module, whose c does not read the logits; the describe bands of one without it, whose
 * c is the top probability the edit moves.
 */
export function describeStaleAfterHeadEdit(manifest: ModelManifest): 'describe'[] {
  return manifest.describe && !hasUncertaintyHead(manifest.config.model) ? ['describe'] : [];
}
