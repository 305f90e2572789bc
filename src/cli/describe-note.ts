/** The line a command prints when its rewrite drops a model folder's describe bands (they read the old c). */
import type { DescribeRecord } from '../model/format.js';

/** `out` null: a dry run, nothing written (the line says what writing would do). */
export function staleDescribeNote(r: DescribeRecord, out: string | null): string {
  const what = `the describe bands (clear at c >= ${r.sureAbove.toFixed(3)}, unsure below ${r.unsureBelow.toFixed(3)}; tuned on ${r.tunedOn.n} faces of ${r.tunedOn.dataset}, split "${r.tunedOn.split}")`;
  if (out === null) return `note: writing would drop ${what} from model.json: they were tuned on the old c`;
  return (
    `dropped ${what} from model.json: they were tuned on the old c, so the model's faces are described with the default bands ` +
    `until they are tuned again: node dist/bench/tune-describe.js --model ${out} --write`
  );
}
