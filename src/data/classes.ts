/** Relabelling a dataset to a model's class list. */
import type { Dataset, Sample } from './types.js';

/**
 * Return `dataset` relabelled to `targetClasses`.
 *
 * Each source class is matched to the target class of the same name (case-insensitive), or to
 * `mapping[source]` when given (mapping keys and values are also matched case-insensitively).
 * A mapping value of `null` (or '') drops that class: its samples are removed and its soft mass is
 * discarded (the rest renormalised). Several source classes may map to one target (their soft mass is
 * summed). Target classes that no source class maps to are allowed (e.g. RAF-DB's 7 classes into an
 * 8-class FERPlus model); a warning is added. A source class that matches nothing throws an Error that
 * lists the source classes, the target classes and the unmatched ones.
 * Samples with label -1 keep it. The input is not modified.
 */
export function mapClasses(
  dataset: Dataset,
  targetClasses: readonly string[],
  mapping?: Record<string, string | null>,
): Dataset {
  const tIndex = new Map<string, number>();
  targetClasses.forEach((c, i) => {
    const k = c.toLowerCase();
    if (tIndex.has(k)) throw new Error(`mapClasses: target class '${c}' appears twice (case-insensitive)`);
    tIndex.set(k, i);
  });
  const mapLower = new Map<string, string | null>();
  if (mapping) for (const [k, v] of Object.entries(mapping)) mapLower.set(k.toLowerCase(), v);
  if (mapping) {
    const src = new Set(dataset.classes.map((c) => c.toLowerCase()));
    const unknownKeys = Object.keys(mapping).filter((k) => !src.has(k.toLowerCase()));
    if (unknownKeys.length) {
      throw new Error(`mapClasses: mapping names classes not in ${dataset.name}: [${unknownKeys.join(', ')}]; its classes are [${dataset.classes.join(', ')}]`);
    }
  }
  // source index -> target index, or -2 = dropped
  const DROP = -2;
  const to: number[] = [];
  const unmatched: string[] = [];
  for (const c of dataset.classes) {
    const key = c.toLowerCase();
    let name: string | null = c;
    if (mapLower.has(key)) name = mapLower.get(key)!;
    if (name === null || name === '') {
      to.push(DROP);
      continue;
    }
    const t = tIndex.get(name.toLowerCase());
    if (t === undefined) {
      unmatched.push(mapLower.has(key) ? `${c} -> ${name} (not a target class)` : c);
      to.push(DROP);
    } else to.push(t);
  }
  if (unmatched.length) {
    throw new Error(
      `mapClasses: classes of ${dataset.name} do not match the target classes.\n` +
        `  dataset classes: [${dataset.classes.join(', ')}]\n` +
        `  target classes:  [${targetClasses.join(', ')}]\n` +
        `  unmatched: [${unmatched.join(', ')}]\n` +
        `  pass a mapping, e.g. { "${unmatched[0].split(' ')[0]}": "${targetClasses[0]}" } (null drops a class)`,
    );
  }
  const warnings = [...dataset.warnings];
  const covered = new Set(to.filter((t) => t >= 0));
  const uncovered = targetClasses.filter((_, i) => !covered.has(i));
  if (uncovered.length) warnings.push(`mapClasses: no ${dataset.name} class maps to target class(es) [${uncovered.join(', ')}]`);
  const K = targetClasses.length;
  const samples: Sample[] = [];
  for (const s of dataset.samples) {
    let label = s.label;
    if (label >= 0) {
      label = to[label];
      if (label === DROP) continue;
    }
    const out: Sample = { path: s.path, label };
    if (s.soft) {
      const soft = new Float32Array(K);
      let sum = 0;
      for (let i = 0; i < s.soft.length; i++) {
        const t = to[i];
        if (t >= 0) {
          soft[t] += s.soft[i];
          sum += s.soft[i];
        }
      }
      if (sum > 0) {
        for (let i = 0; i < K; i++) soft[i] /= sum;
        out.soft = soft;
      }
    }
    samples.push(out);
  }
  return { name: dataset.name, classes: [...targetClasses], samples, warnings };
}

/** Keep the samples with label >= 0. */
export function labelledOnly(dataset: Dataset): Dataset {
  return { ...dataset, samples: dataset.samples.filter((s) => s.label >= 0) };
}

/** Count of samples per class (index = class), plus `unlabelled` for label -1. */
export function classCounts(dataset: Dataset): { counts: number[]; unlabelled: number } {
  const counts = new Array<number>(dataset.classes.length).fill(0);
  let unlabelled = 0;
  for (const s of dataset.samples) {
    if (s.label >= 0) counts[s.label]++;
    else unlabelled++;
  }
  return { counts, unlabelled };
}
