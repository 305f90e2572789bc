#!/usr/bin/env node
// The README's results rows from run folders: `poi eval --json` of each run's best/ model on
// FER2013Valid (cached as <run>/eval-valid.json) plus the run's summary.json (wall time, images/s).
//   node scripts/results-md.mjs [--data ../shared/data/ferplus] "label=runs/x" ...
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
let data = '../shared/data/ferplus';
const rows = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--data') data = args[++i];
  else rows.push(args[i]);
}
const pct = (x) => `${(100 * x).toFixed(2)}%`;
const f3 = (x) => x.toFixed(3);
console.log('| run | val acc | mean class acc | KL to votes | Spearman(unc., vote entropy) | ECE | acc @50% coverage | training time | img/s | backend |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const spec of rows) {
  const eq = spec.indexOf('=');
  const [label, run] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [spec, spec];
  const evalFile = join(run, 'eval-valid.json');
  if (!existsSync(evalFile)) {
    const out = execFileSync(process.execPath, ['bin/poi.js', 'eval', '--model', join(run, 'best'), '--data', data, '--json'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    writeFileSync(evalFile, out);
  }
  const e = JSON.parse(readFileSync(evalFile, 'utf8'));
  const s = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'));
  const at50 = e.uncertainty.riskCoverage.points.find((p) => Math.abs(p.coverage - 0.5) < 1e-9);
  let backend = '';
  const logFile = `${run}.log`;
  for (const f of [logFile, join(run, 'train.log')]) {
    if (existsSync(f)) backend = /backend (\S+)/.exec(readFileSync(f, 'utf8'))?.[1] ?? backend;
  }
  console.log(
    `| ${label} | ${pct(e.accuracy)} | ${pct(e.meanClassAccuracy)} | ${f3(e.votes.kl)} | ${f3(e.uncertainty.spearmanVoteEntropy)} | ` +
      `${f3(e.calibration.ece)} | ${at50 ? pct(at50.accuracy) : '-'} | ${(s.wallSeconds / 60).toFixed(1)} min | ${s.imagesPerSec.toFixed(1)} | ${backend} |`,
  );
}
