// The comparison protocol (scripts/protocol.mjs): its rows resolve to valid configs that differ only
// where they should, the published noise lists are what they claim, and the tables report mean ± std.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { resolveConfig } from '../src/cli/train.js';
import { parseCsv } from '../src/data/csv.js';
import { tempDir } from './helpers.js';

interface Row { id: string; label: string; config: string; noise?: number; seeds: number[] }
interface Protocol {
  ROWS: Row[];
  runOrder(): { row: Row; seed: number; name: string }[];
  trainArgs(run: { row: Row; seed: number | string; name: string }, o: { data: string; runs: string }): string[];
  meanStd(xs: number[]): { m: number; s: number };
  tables(o: { results: string; data: string; runs: string }): { summary: string; perSeed: string; fitted: string; recall: string; commands: string };
}
const root = resolve(import.meta.dirname, '..', '..');
const load = async (): Promise<Protocol> => (await import(join(root, 'scripts', 'protocol.mjs'))) as Protocol;

test('protocol rows: valid configs on one backbone, input and schedule; ablations differ in one field', async () => {
  const p = await load();
  const names = p.runOrder().map((r) => r.name);
  assert.equal(new Set(names).size, names.length);
  const cfgs = new Map(p.ROWS.map((r) => [r.id, resolveConfig(join(root, r.config))]));
  const ref = cfgs.get('ce')!;
  for (const [id, c] of cfgs) {
    assert.deepEqual(c.model.trn, ref.model.trn, id);
    assert.deepEqual(c.model.input, ref.model.input, id);
    // the long rows (configs/noise-long/) differ in the epoch count alone
    const long = p.ROWS.find((r) => r.id === id)!.config.startsWith('configs/noise-long/');
    assert.deepEqual({ ...c.train }, { ...ref.train, ...(long ? { epochs: 10 } : {}) }, id);
  }
  const poi = cfgs.get('poi')!;
  assert.equal(poi.model.method, 'poi');
  assert.equal(cfgs.get('poi-no-prior')!.model.pin.useAuPrior, false);
  assert.equal(cfgs.get('poi-no-mutual')!.model.pin.mutual, false);
  assert.equal(cfgs.get('poi-no-uncertainty')!.model.uncertainty.enabled, false);
  for (const id of ['poi-no-prior', 'poi-no-mutual', 'poi-no-uncertainty']) {
    const a = cfgs.get(id)!;
    const diff = ['useAuPrior', 'mutual'].filter((k) => (a.model.pin as never)[k] !== (poi.model.pin as never)[k]).length + (a.model.uncertainty.enabled !== poi.model.uncertainty.enabled ? 1 : 0);
    assert.equal(diff, 1, id);
  }
  // noisy rows read the published list, clean rows none
  const run = p.runOrder().find((r) => r.name === 'poi-n30-s1')!;
  assert.deepEqual(p.trainArgs(run, { data: 'D', runs: 'R' }).slice(-2), ['--noise-list', 'noise/ferplus/FER2013Train-n30-seed1.csv']);
  assert.ok(!p.trainArgs(p.runOrder()[0], { data: 'D', runs: 'R' }).includes('--noise-list'));
});

test('published noise lists: the stated fraction of FER2013Train, each flip to another class', () => {
  for (const rate of [10, 20, 30]) {
    const file = join(root, 'noise', 'ferplus', `FER2013Train-n${rate}-seed1.csv`);
    const [head, ...rows] = parseCsv(readFileSync(file, 'utf8'), file);
    assert.deepEqual(head.fields, ['index', 'path', 'from', 'to', 'from_class', 'to_class']);
    // 25,045 labelled faces under the majority protocol
    assert.equal(rows.length, Math.round((rate / 100) * 25045), file);
    const paths = new Set(rows.map((r) => r.fields[1]));
    assert.equal(paths.size, rows.length);
    for (const r of rows) {
      assert.match(r.fields[1], /^FER2013Train\/fer\d+\.png$/);
      assert.notEqual(r.fields[4], r.fields[5]);
    }
  }
});

test('protocol tables: mean ± sample std over the recorded seeds, and each run on its own line', async () => {
  const p = await load();
  const dir = tempDir('poi-protocol-');
  const rec = (name: string, acc: number) => {
    mkdirSync(join(dir, name), { recursive: true });
    const perClass = [{ name: 'neutral', recall: acc }, { name: 'fear', recall: acc / 4 }];
    const ev = { accuracy: acc, meanClassAccuracy: acc / 2, perClass, votes: { kl: 0.5 }, calibration: { ece: 0.02 }, uncertainty: { spearmanVoteEntropy: 0.4, maxProbSpearmanVoteEntropy: 0.45 } };
    writeFileSync(join(dir, name, 'eval-valid.json'), JSON.stringify(ev));
    writeFileSync(join(dir, name, 'eval-valid-votes-raw.json'), JSON.stringify(ev));
    writeFileSync(join(dir, name, 'summary.json'), JSON.stringify({ wallSeconds: 600 }));
  };
  rec('ce-s1', 0.8);
  rec('ce-s2', 0.82);
  rec('ce-s3', 0.84);
  rec('poi-s1', 0.83);
  assert.deepEqual(p.meanStd([0.8, 0.82, 0.84]).m.toFixed(4), '0.8200');
  const t = p.tables({ results: dir, data: 'D', runs: 'R' });
  // mean 82.00, sample std 2.00 (points)
  assert.match(t.summary, /\| CE \| 1, 2, 3 \| 82\.00 ± 2\.00 \| 41\.00 ± 1\.00 \|/);
  assert.match(t.summary, /\| POI \(shared trunk, ensemble teacher\) \| 1 \| 83\.00 \|/);
  assert.equal(t.perSeed.split('\n').filter((l) => l.startsWith('| CE |')).length, 3);
  // recall per class, mean over the seeds: neutral 82.0, fear 20.5
  assert.match(t.recall, /^\| run \| seeds \| neutral \| fear \|/);
  assert.match(t.recall, /\| CE \| 3 \| 82\.0 \| 20\.5 \|/);
  // the real seeds: a loop over a row's seeds, or its one seed; no placeholder
  const lines = t.commands.split('\n');
  assert.equal(lines.length, p.ROWS.length);
  assert.equal(lines[0], 'for s in 1 2 3; do npx poi train --config configs/protocol/ce.json --seed $s --data ../shared/data/ferplus --out R/ce-s$s --quiet; done');
  assert.ok(lines.includes('npx poi train --config configs/protocol/ce.json --seed 1 --data ../shared/data/ferplus --out R/ce-n10-s1 --quiet --noise-list noise/ferplus/FER2013Train-n10-seed1.csv'), t.commands);
  assert.doesNotMatch(t.commands, /\bN\b/);
  // no run has the calibrate / fit-confidence record: no fitted table
  assert.equal(t.fitted, '');
  writeFileSync(join(dir, 'poi-s1', 'calibrate.json'), JSON.stringify({ after: { ece: 0.021 }, crossFitted: { ece: 0.025 } }));
  writeFileSync(join(dir, 'poi-s1', 'fit-confidence.json'), JSON.stringify({ spearman: { before: 0.5, after: 0.62, oneMinusMaxP: 0.58 } }));
  writeFileSync(join(dir, 'ce-s2', 'calibrate.json'), JSON.stringify({ after: { ece: 0.018 }, crossFitted: { ece: 0.02 } }));
  const f = p.tables({ results: dir, data: 'D', runs: 'R' }).fitted;
  assert.match(f, /\| POI \(shared trunk, ensemble teacher\) \| 1 \| 0\.620 \| 0\.580 \| 0\.021 \| 0\.025 \|/);
  // CE has no uncertainty head: no fit-confidence, only the calibrated ECE, and only the seed that has it
  assert.match(f, /\| CE \| 2 \| — \| — \| 0\.018 \| 0\.020 \|/);
  p.ROWS.forEach((r, i) => {
    for (const s of r.seeds) assert.ok(lines[i].includes(r.seeds.length === 1 ? `--seed ${s} ` : `for s in ${r.seeds.join(' ')};`), `${r.id}: seed ${s}`);
  });
});

test('configs/noise-long: the protocol configs with only the schedule lengthened (10 epochs), fixed before any run', () => {
  for (const name of ['ce', 'poi', 'poi-reject']) {
    const long = resolveConfig(join(root, 'configs', 'noise-long', `${name}.json`));
    const short = resolveConfig(join(root, 'configs', 'protocol', `${name}.json`));
    assert.equal(long.train.epochs, 10, name);
    assert.deepEqual({ ...long, train: { ...long.train, epochs: 0 } }, { ...short, train: { ...short.train, epochs: 0 } }, name);
  }
});
