/**
 * Where should a model's describe bands ("clear", "probably", "unsure": src/ui/describe.ts) sit? Runs the
 * model over a labelled split and prints accuracy by confidence band and by the ratio of the second to
 * the first probability, then the band edges that hit the wanted accuracies. With --write, those edges
 * go into the model folder's model.json under `describe` (weights.bin untouched, a model.onnx re-exported),
 * where describeOptionsFor, the web page and the Node API's users read them; a folder without them gets
 * DEFAULT_DESCRIBE.
 *
 *   node dist/bench/tune-describe.js [--model models/poi-ferplus] [--data ../shared/data/ferplus] [--split name] [--clear 0.85] [--unsure 0.55] [--write]
 *
 * "clear" = the lowest c whose faces at or above it are right at least --clear of the time; "unsure" =
 * the highest c below "clear" whose faces below it are right at most --unsure of the time. --write refuses
 * when either was not found (no such c on this split).
 */
import { parseArgs } from 'node:util';
import { readModelManifest, writeDescribeRecord, type DescribeRecord } from '../src/model/io.js';
import { defaultSplits, loadSet } from '../src/data/load.js';
import { predictModelSet } from '../src/eval/evaluate-model.js';
import { initBackend } from '../src/backend/index.js';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/poi-ferplus' },
    data: { type: 'string', default: '../shared/data/ferplus' },
    split: { type: 'string' },
    clear: { type: 'string', default: '0.85' },
    unsure: { type: 'string', default: '0.55' },
    write: { type: 'boolean', default: false },
  },
});

await initBackend({});
const manifest = await readModelManifest(v.model!);
const split = v.split ?? defaultSplits(v.data!).val;
const { set, dataset } = await loadSet(v.data!, split, manifest.input, { classes: manifest.classes, quiet: true });
const { probs, confidence, runtime } = await predictModelSet(v.model!, set);
const k = manifest.classes.length;
const n = set.labels.length;
const rows = Array.from({ length: n }, (_, i) => {
  const p = Array.from(probs.subarray(i * k, i * k + k));
  const order = p.map((x, j) => [x, j] as const).sort((a, b) => b[0] - a[0]);
  return { c: confidence[i], right: order[0][1] === set.labels[i], ratio: order[1][0] / order[0][0] };
});
const acc = (rs: typeof rows) => (rs.length ? rs.filter((r) => r.right).length / rs.length : NaN);
const pct = (x: number) => (Number.isNaN(x) ? '  -  ' : `${(100 * x).toFixed(1)}%`);

console.log(`${v.model} on ${split} (${n} faces, ${runtime}): accuracy ${pct(acc(rows))}`);
const cs = rows.map((r) => r.c).sort((a, b) => a - b);
const q = (f: number) => cs[Math.min(n - 1, Math.floor(f * n))];
console.log(`confidence c: 10th ${q(0.1).toFixed(3)}, median ${q(0.5).toFixed(3)}, 90th ${q(0.9).toFixed(3)}`);
console.log('\nc band        faces  accuracy');
for (let t = 0; t < 1; t += 0.05) {
  const rs = rows.filter((r) => r.c >= t && r.c < t + 0.05);
  if (rs.length) console.log(`${t.toFixed(2)}-${(t + 0.05).toFixed(2)}   ${String(rs.length).padStart(5)}  ${pct(acc(rs))}`);
}
console.log('\np2/p1 band    faces  accuracy');
for (const [a, b] of [[0, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1.01]]) {
  const rs = rows.filter((r) => r.ratio >= a && r.ratio < b);
  console.log(`${a.toFixed(2)}-${Math.min(1, b).toFixed(2)}   ${String(rs.length).padStart(5)}  ${pct(acc(rs))}`);
}
const wantClear = Number(v.clear);
const wantUnsure = Number(v.unsure);
let clear = NaN;
for (const t of cs) if (acc(rows.filter((r) => r.c >= t)) >= wantClear) { clear = t; break; }
let unsure = NaN;
for (let i = cs.length - 1; i >= 0; i--) if (cs[i] < clear && acc(rows.filter((r) => r.c < cs[i])) <= wantUnsure) { unsure = cs[i]; break; }
const share = (f: (r: (typeof rows)[0]) => boolean) => pct(rows.filter(f).length / n);
console.log(`\nclear   (c >= ${clear.toFixed(3)}): ${share((r) => r.c >= clear)} of faces, accuracy ${pct(acc(rows.filter((r) => r.c >= clear)))}`);
console.log(`unsure  (c <  ${unsure.toFixed(3)}): ${share((r) => r.c < unsure)} of faces, accuracy ${pct(acc(rows.filter((r) => r.c < unsure)))}`);

if (v.write) {
  // either band NaN: say why, write nothing
  const why = Number.isNaN(clear)
    ? `"clear" came out NaN: no c has the faces at or above it right at least ${pct(wantClear)} of the time (ask less with --clear), and "unsure" is sought below it`
    : !rows.some((r) => r.c < clear)
      ? `"unsure" came out NaN: "clear" (c >= ${clear.toFixed(3)}) takes every face, so no c is left below it (ask more with --clear)`
      : Number.isNaN(unsure)
        ? `"unsure" came out NaN: no c below "clear" has the faces below it right at most ${pct(wantUnsure)} of the time (ask more with --unsure)`
        : null;
  if (why) {
    console.error(`\nnot written: ${why}; ${v.model}/model.json is unchanged`);
    process.exit(1);
  }
  const record: DescribeRecord = {
    sureAbove: clear,
    unsureBelow: unsure,
    tunedOn: { dataset: dataset.name, split: split ?? '', n },
    target: { clear: wantClear, unsure: wantUnsure },
    tunedAt: new Date().toISOString(),
  };
  const { onnx } = await writeDescribeRecord(v.model!, record);
  console.log(`\nwrote ${v.model}/model.json "describe": ${JSON.stringify(record)}${onnx ? ' (model.onnx re-exported; weights.bin unchanged)' : ' (weights.bin unchanged)'}`);
}
