#!/usr/bin/env node
// From a finished run folder to its results/ record: the run's config, log and summary, `poi eval` of
// best/ (text and JSON), and a post-hoc balance grid (τ = 0, 0.25, 0.5, 0.75, 1: accuracy, mean class
// accuracy, the lowest class recall) so the balanced objective is reported beside the plain one.
//   node scripts/finish-run.mjs <run dir> <results dir> [--data ../shared/data/ferplus]
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: v, positionals: [run, out] } = parseArgs({ options: { data: { type: 'string', default: '../shared/data/ferplus' } }, allowPositionals: true });
if (!run || !out) {
  console.error('usage: node scripts/finish-run.mjs <run dir> <results dir> [--data dir]');
  process.exit(2);
}
const poi = (...args) => execFileSync(process.execPath, ['bin/poi.js', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
mkdirSync(out, { recursive: true });
for (const f of ['config.json', 'log.jsonl', 'summary.json']) copyFileSync(join(run, f), join(out, f));
const best = join(run, 'best');
writeFileSync(join(out, 'eval-valid.txt'), poi('eval', '--model', best, '--data', v.data));
writeFileSync(join(out, 'eval-valid-votes-raw.json'), poi('eval', '--model', best, '--data', v.data, '--json', '--votes', 'raw'));
const rows = ['| τ | accuracy | mean class accuracy | lowest class recall | per-class recall |', '|---|---|---|---|---|'];
const tmp = mkdtempSync(join(tmpdir(), 'poi-balance-'));
for (const tau of [0, 0.25, 0.5, 0.75, 1]) {
  let model = best;
  if (tau > 0) {
    model = join(tmp, `tau-${tau}`);
    poi('balance', best, '--data', v.data, '--tau', String(tau), '--out', model);
  }
  const r = JSON.parse(poi('eval', '--model', model, '--data', v.data, '--json'));
  if (tau === 0) writeFileSync(join(out, 'eval-valid.json'), JSON.stringify(r, null, 2) + '\n');
  const rec = r.perClass.map((c) => c.recall);
  const pct = (x) => `${(100 * x).toFixed(2)}%`;
  rows.push(`| ${tau} | ${pct(r.accuracy)} | ${pct(r.meanClassAccuracy)} | ${pct(Math.min(...rec))} | ${r.perClass.map((c) => `${c.name} ${(100 * c.recall).toFixed(0)}`).join(', ')} |`);
}
writeFileSync(join(out, 'balance-grid.md'), `poi balance <best> --tau τ, then poi eval (FER2013Valid)\n\n${rows.join('\n')}\n`);
console.log(rows.join('\n'));
