/**
 * Replacing the uncertainty head of a saved model folder, as `poi fit-confidence` does. The head
 * (src/model/trn.ts ConfidenceHead: trn.unc.hidden → ReLU → trn.unc.out → sigmoid = c) reads the pooled
 * features and nothing reads it, so swapping its four tensors changes the reported confidence and
 * nothing else: the probabilities, the temperature and the balance offsets (trn.head) are untouched,
 * and `poi calibrate` / `poi balance` leave these tensors alone in turn. The describe bands, which read
 * c, go stale and are dropped.
 */
import { packTensors, rewriteModelFolder, unpackTensors } from './io.js';
import type { ConfidenceRecord, ModelManifest, TensorMap, WeightDtype } from './format.js';
import { hasUncertaintyHead } from './objectives.js';
import { CONFIDENCE_HIDDEN_LAYER, CONFIDENCE_OUT_LAYER } from './trn.js';

export const CONFIDENCE_LAYERS = [CONFIDENCE_HIDDEN_LAYER, CONFIDENCE_OUT_LAYER] as const;

/** The head's tensor names: weight and bias of each layer. */
export const CONFIDENCE_TENSORS = CONFIDENCE_LAYERS.flatMap((l) => [`${l}.w`, `${l}.b`]);

/**
 * Refuse, naming the folder and why, a model without the uncertainty head: its confidence is the top
 * probability, and there is no head to refit.
 */
export function requireConfidenceHead(manifest: ModelManifest, dir: string): void {
  if (hasUncertaintyHead(manifest.config.model)) return;
  const m = manifest.config.model;
  const why = m.method !== 'poi' ? `method "${m.method}" trains no uncertainty module` : 'it was trained without the uncertainty module (uncertainty.enabled: false)';
  throw new Error(`${dir}: has no uncertainty head to refit (${why}); its confidence is the top probability`);
}

/** Put `head`'s four tensors in place of the folder's (in place), checking each exists with the same shape. */
export function replaceConfidenceHead(tensors: TensorMap, head: TensorMap, source: string): void {
  for (const name of CONFIDENCE_TENSORS) {
    const old = tensors.get(name);
    const t = head.get(name);
    if (!old) throw new Error(`${source}: no "${name}" in the weights; not a poi TRN with an uncertainty head?`);
    if (!t) throw new Error(`the fitted head lacks "${name}"`);
    if (old.shape.join('x') !== t.shape.join('x')) throw new Error(`${source}: "${name}" has shape [${old.shape}], the fitted head [${t.shape}]`);
    tensors.set(name, { shape: [...t.shape], values: Float32Array.from(t.values) });
  }
}

/**
 * The head's values as a folder of storage type `dtype` will hold them: packing rounds per tensor
 * (float16, or uint8 with the tensor's own min and scale), so packing the head alone rounds it exactly
 * as packing the whole folder does.
 */
export function asStored(head: TensorMap, dtype: WeightDtype): TensorMap {
  const { manifest, data } = packTensors(head, dtype);
  return unpackTensors(manifest, data, 'the fitted head');
}

/**
 * Write `srcDir`'s model with its uncertainty head replaced by `head` and `record` under model.json's
 * `confidence`, into `outDir` (may equal srcDir); a model.onnx is re-exported (rewriteModelFolder).
 * The folder's describe bands (model.json's `describe`) were tuned on the old head's c and are dropped.
 */
export async function writeConfidenceHead(srcDir: string, outDir: string, head: TensorMap, record: ConfidenceRecord): Promise<{ manifest: ModelManifest; onnx: boolean }> {
  const r = await rewriteModelFolder(srcDir, outDir, { edit: (t, source) => replaceConfidenceHead(t, head, source), patch: { confidence: record }, drop: ['describe'] });
  return { manifest: r.manifest, onnx: r.onnx };
}
