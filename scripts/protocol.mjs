#!/usr/bin/env node
// The comparison protocol (README "Does POI earn its place?"): every method and ablation on the same
// backbone (dlib's pretrained ResNet at 112x112), the same 3-epoch schedule and the same seeds, clean
// and under the published noise lists (noise/ferplus/). Resumable at two levels: a run interrupted
// mid-epoch resumes exactly from its checkpoint (`poi train --resume`), and a finished run is recorded
// in results/protocol/<run>/ (config, log, summary, evaluations, and the uncertainty after `poi
// calibrate` + `poi fit-confidence` on a copy of its best/) and never trained again.
//
//   node scripts/protocol.mjs list                       what is done, what is left, in order
//   node scripts/protocol.mjs run [run ...]              train + record the next pending runs (or the named ones)
//   node scripts/protocol.mjs table                      write the README tables from results/protocol/
//   options: --data ../shared/data/ferplus --runs runs/protocol --results results/protocol --max N
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const NOISE = (rate) => `noise/ferplus/FER2013Train-n${rate}-seed1.csv`;
const SEEDS = [1, 2, 3];

/** The protocol's rows, in the order they run: one config per method, a seed list, optional noise. */
export const ROWS = [
  { id: 'ce', label: 'CE', config: 'configs/protocol/ce.json', seeds: SEEDS },
  { id: 'poi', label: 'POI (shared trunk, ensemble teacher)', config: 'configs/protocol/poi.json', seeds: SEEDS },
  { id: 'poi-teacher-pin', label: "POI, teacher PIN's q alone", config: 'configs/protocol/poi-teacher-pin.json', seeds: SEEDS },
  { id: 'poi-v1', label: 'POI v1 (own PIN stem, teacher q)', config: 'configs/protocol/poi-v1.json', seeds: SEEDS },
  // the teacher divided by the class prior (transfer.priorCorrection): POI's soft labels had been taking fear and anger away
  { id: 'poi-prior-teacher', label: 'POI, teacher divided by the class prior (τ 0.5)', config: 'configs/protocol/poi-prior-teacher.json', seeds: SEEDS },
  { id: 'ld', label: 'LD (vote distribution)', config: 'configs/protocol/ld.json', seeds: SEEDS },
  { id: 'poi-no-prior', label: 'POI without the AU prior', config: 'configs/protocol/poi-no-prior.json', seeds: SEEDS },
  { id: 'poi-no-mutual', label: 'POI without mutual learning', config: 'configs/protocol/poi-no-mutual.json', seeds: SEEDS },
  { id: 'poi-no-uncertainty', label: 'POI without the uncertainty module', config: 'configs/protocol/poi-no-uncertainty.json', seeds: SEEDS },
  { id: 'ce-n30', label: 'CE, 30% noise', config: 'configs/protocol/ce.json', noise: 30, seeds: SEEDS },
  { id: 'poi-n30', label: 'POI, 30% noise', config: 'configs/protocol/poi.json', noise: 30, seeds: SEEDS },
  { id: 'poi-reject-n30', label: 'POI rejecting labels both networks doubt, 30% noise', config: 'configs/protocol/poi-reject.json', noise: 30, seeds: SEEDS },
  { id: 'poi-reject', label: 'POI rejecting labels both networks doubt', config: 'configs/protocol/poi-reject.json', seeds: SEEDS },
  { id: 'ce-n10', label: 'CE, 10% noise', config: 'configs/protocol/ce.json', noise: 10, seeds: [1] },
  { id: 'poi-n10', label: 'POI, 10% noise', config: 'configs/protocol/poi.json', noise: 10, seeds: [1] },
  { id: 'ce-n20', label: 'CE, 20% noise', config: 'configs/protocol/ce.json', noise: 20, seeds: [1] },
  { id: 'poi-n20', label: 'POI, 20% noise', config: 'configs/protocol/poi.json', noise: 20, seeds: [1] },
  // 10 epochs instead of 3: long enough for CE to start fitting the flipped labels (configs/noise-long/)
  { id: 'ce-long-n30', label: 'CE, 30% noise, 10 epochs', config: 'configs/noise-long/ce.json', noise: 30, seeds: [1] },
  { id: 'poi-long-n30', label: 'POI, 30% noise, 10 epochs', config: 'configs/noise-long/poi.json', noise: 30, seeds: [1] },
  { id: 'ce-long', label: 'CE, 10 epochs', config: 'configs/noise-long/ce.json', seeds: [1] },
  { id: 'poi-long', label: 'POI, 10 epochs', config: 'configs/noise-long/poi.json', seeds: [1] },
  { id: 'poi-reject-long-n30', label: 'POI rejecting labels both networks doubt, 30% noise, 10 epochs', config: 'configs/noise-long/poi-reject.json', noise: 30, seeds: [1] },
];

/** Runs in the order they are trained: every row's first seed, then second seeds, then third. */
export function runOrder() {
  const out = [];
  const most = Math.max(...ROWS.map((r) => r.seeds.length));
  for (let i = 0; i < most; i++) for (const r of ROWS) if (r.seeds[i] !== undefined) out.push({ row: r, seed: r.seeds[i], name: `${r.id}-s${r.seeds[i]}` });
  return out;
}

export function trainArgs(run, o) {
  const a = ['train', '--config', run.row.config, '--seed', String(run.seed), '--data', o.data, '--out', join(o.runs, run.name), '--quiet'];
  if (run.row.noise) a.push('--noise-list', NOISE(run.row.noise));
  return a;
}

const poi = (args, opts = {}) => execFileSync(process.execPath, ['bin/poi.js', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });

function record(run, o) {
  const dir = join(o.runs, run.name);
  const out = join(o.results, run.name);
  mkdirSync(out, { recursive: true });
  for (const f of ['config.json', 'log.jsonl']) copyFileSync(join(dir, f), join(out, f));
  const best = join(dir, 'best');
  writeFileSync(join(out, 'eval-valid.json'), poi(['eval', '--model', best, '--data', o.data, '--json']));
  writeFileSync(join(out, 'eval-valid-votes-raw.json'), poi(['eval', '--model', best, '--data', o.data, '--json', '--votes', 'raw']));
  recordFitted(best, out, o);
  // summary last: its presence marks the record complete
  copyFileSync(join(dir, 'summary.json'), join(out, 'summary.json'));
}

/**
 * The uncertainty the shipped-model recipe reports, per run: `poi calibrate` (temperature, with its
 * cross-fitted ECE) then, for models with an uncertainty head, `poi fit-confidence` (Spearman of the
 * refitted c against the raw vote entropy, beside 1 − max p), on a scratch copy of best/.
 */
function recordFitted(best, out, o) {
  const tmp = mkdtempSync(join(tmpdir(), 'poi-protocol-'));
  try {
    const copy = join(tmp, 'model');
    cpSync(best, copy, { recursive: true });
    writeFileSync(join(out, 'calibrate.json'), poi(['calibrate', copy, '--data', o.data, '--json', '--quiet']));
    const manifest = JSON.parse(readFileSync(join(copy, 'model.json'), 'utf8'));
    const m = manifest.config.model;
    if (m.method === 'poi' && m.uncertainty?.enabled !== false) {
      writeFileSync(join(out, 'fit-confidence.json'), poi(['fit-confidence', copy, '--data', o.data, '--json', '--quiet']));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const done = (run, o) => existsSync(join(o.results, run.name, 'summary.json'));

function runOne(run, o) {
  const dir = join(o.runs, run.name);
  if (!existsSync(join(dir, 'summary.json'))) {
    const args = trainArgs(run, o);
    if (existsSync(join(dir, 'config.json'))) args.push('--resume');
    console.log(`[protocol] ${run.name}: npx poi ${args.join(' ')}`);
    const r = spawnSync(process.execPath, ['bin/poi.js', ...args], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${run.name}: poi train exited with ${r.status ?? r.signal}`);
  }
  console.log(`[protocol] ${run.name}: evaluating best/ into ${join(o.results, run.name)}`);
  record(run, o);
}

// ---- tables ----------------------------------------------------------------------------------------

const METRICS = [
  ['val acc', (e) => 100 * e.drop.accuracy, 2],
  ['mean class acc', (e) => 100 * e.drop.meanClassAccuracy, 2],
  ['KL to votes', (e) => e.drop.votes.kl, 3],
  ['Spearman(unc., raw vote entropy)', (e) => e.raw.uncertainty.spearmanVoteEntropy, 3],
  ['Spearman(1 − max p, raw)', (e) => e.raw.uncertainty.maxProbSpearmanVoteEntropy ?? NaN, 3],
  ['ECE', (e) => e.drop.calibration.ece, 3],
  ['train min', (e) => e.summary.wallSeconds / 60, 1],
];

/** After `poi calibrate` + `poi fit-confidence` (recordFitted); runs recorded before it have none. */
const FITTED = [
  ['Spearman(c refitted, raw vote entropy)', (e) => e.fit?.spearman.after ?? NaN, 3],
  ['Spearman(1 − max p, raw)', (e) => e.fit?.spearman.oneMinusMaxP ?? NaN, 3],
  ['ECE calibrated', (e) => e.cal?.after.ece ?? NaN, 3],
  ['ECE calibrated, cross-fitted', (e) => e.cal?.crossFitted?.ece ?? NaN, 3],
];

function readRecord(o, name) {
  const dir = join(o.results, name);
  if (!existsSync(join(dir, 'summary.json'))) return null;
  const j = (f) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const maybe = (f) => (existsSync(join(dir, f)) ? j(f) : null);
  return { summary: j('summary.json'), drop: j('eval-valid.json'), raw: j('eval-valid-votes-raw.json'), cal: maybe('calibrate.json'), fit: maybe('fit-confidence.json') };
}

export function meanStd(xs) {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const s = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : NaN;
  return { m, s };
}

/** A row's `poi train` runs as one shell line: the seed itself, or a loop over the row's seeds. */
export function commandLine(row, o) {
  if (row.seeds.length === 1) {
    const [seed] = row.seeds;
    return `npx poi ${trainArgs({ row, seed, name: `${row.id}-s${seed}` }, o).join(' ')}`;
  }
  return `for s in ${row.seeds.join(' ')}; do npx poi ${trainArgs({ row, seed: '$s', name: `${row.id}-s$s` }, o).join(' ')}; done`;
}

export function tables(o) {
  const head = `| run | seeds | ${METRICS.map(([n]) => n).join(' | ')} |`;
  const sep = `|---|---|${METRICS.map(() => '---').join('|')}|`;
  const summary = [head, sep];
  const perSeed = ['| run | seed | ' + METRICS.map(([n]) => n).join(' | ') + ' |', sep];
  for (const row of ROWS) {
    const recs = row.seeds.map((s) => [s, readRecord(o, `${row.id}-s${s}`)]).filter(([, r]) => r);
    if (!recs.length) continue;
    const cells = METRICS.map(([, f, d]) => {
      const { m, s } = meanStd(recs.map(([, r]) => f(r)));
      return Number.isNaN(s) ? m.toFixed(d) : `${m.toFixed(d)} ± ${s.toFixed(d)}`;
    });
    summary.push(`| ${row.label} | ${recs.map(([s]) => s).join(', ')} | ${cells.join(' | ')} |`);
    for (const [s, r] of recs) perSeed.push(`| ${row.label} | ${s} | ${METRICS.map(([, f, d]) => f(r).toFixed(d)).join(' | ')} |`);
  }
  const fitted = [`| run | seeds | ${FITTED.map(([n]) => n).join(' | ')} |`, `|---|---|${FITTED.map(() => '---').join('|')}|`];
  for (const row of ROWS) {
    const recs = row.seeds.map((s) => [s, readRecord(o, `${row.id}-s${s}`)]).filter(([, r]) => r && r.cal);
    if (!recs.length) continue;
    const cells = FITTED.map(([, f, d]) => {
      const xs = recs.map(([, r]) => f(r)).filter((x) => !Number.isNaN(x));
      if (!xs.length) return '—';
      const { m, s } = meanStd(xs);
      return Number.isNaN(s) ? m.toFixed(d) : `${m.toFixed(d)} ± ${s.toFixed(d)}`;
    });
    fitted.push(`| ${row.label} | ${recs.map(([s]) => s).join(', ')} | ${cells.join(' | ')} |`);
  }
  const recall = [];
  for (const row of ROWS) {
    const recs = row.seeds.map((s) => readRecord(o, `${row.id}-s${s}`)).filter((r) => r?.drop.perClass);
    if (!recs.length) continue;
    const classes = recs[0].drop.perClass.map((c) => c.name);
    if (!recall.length) recall.push(`| run | seeds | ${classes.join(' | ')} |`, `|---|---|${classes.map(() => '---:').join('|')}|`);
    const cells = classes.map((_, i) => (100 * meanStd(recs.map((r) => r.drop.perClass[i].recall)).m).toFixed(1));
    recall.push(`| ${row.label} | ${recs.length} | ${cells.join(' | ')} |`);
  }
  const cmds = ROWS.map((r) => commandLine(r, o).replace(`${o.data}`, '../shared/data/ferplus'));
  return { summary: summary.join('\n'), perSeed: perSeed.join('\n'), fitted: fitted.length > 2 ? fitted.join('\n') : '', recall: recall.join('\n'), commands: cmds.join('\n') };
}

function writeReadme(o) {
  const t = tables(o);
  const block = [
    '<!-- protocol:begin (written by `node scripts/protocol.mjs table`) -->',
    'Mean ± standard deviation over the seeds listed (sample std); FER2013Valid; `poi eval` of each run\'s best epoch, uncalibrated.',
    '',
    t.summary,
    '',
    '<details><summary>Per-seed values</summary>',
    '',
    t.perSeed,
    '',
    '</details>',
    '',
    '<details><summary>Recall per class (%, mean over the seeds recorded)</summary>',
    '',
    t.recall,
    '',
    '</details>',
    '',
    ...(t.fitted
      ? ['Uncertainty as the shipped model reports it: each run\'s best/ after `poi calibrate` and, with an uncertainty head, `poi fit-confidence` (runs recorded since `scripts/protocol.mjs` does this):', '', t.fitted, '']
      : []),
    'Each row\'s runs, one per seed (`node scripts/protocol.mjs run` runs them all in order, resumably):',
    '',
    '```sh',
    t.commands,
    '```',
    '<!-- protocol:end -->',
  ].join('\n');
  const readme = readFileSync('README.md', 'utf8');
  const re = /<!-- protocol:begin[\s\S]*?<!-- protocol:end -->/;
  if (!re.test(readme)) throw new Error('README.md has no <!-- protocol:begin --> ... <!-- protocol:end --> block');
  writeFileSync('README.md', readme.replace(re, block));
  console.log(t.summary);
}

// ---- main ------------------------------------------------------------------------------------------

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: v, positionals: [cmd, ...names] } = parseArgs({
    options: {
      data: { type: 'string', default: '../shared/data/ferplus' },
      runs: { type: 'string', default: 'runs/protocol' },
      results: { type: 'string', default: 'results/protocol' },
      max: { type: 'string' },
    },
    allowPositionals: true,
  });
  const o = { data: v.data, runs: v.runs, results: v.results };
  const all = runOrder();
  if (cmd === 'list') {
    for (const r of all) console.log(`${done(r, o) ? 'done   ' : existsSync(join(o.runs, r.name, 'config.json')) ? 'started' : 'pending'}  ${r.name}`);
  } else if (cmd === 'run') {
    const unknown = names.filter((n) => !all.some((r) => r.name === n));
    if (unknown.length) throw new Error(`unknown runs: ${unknown.join(', ')}; see \`node scripts/protocol.mjs list\``);
    let todo = (names.length ? names.map((n) => all.find((r) => r.name === n)) : all).filter((r) => !done(r, o));
    if (v.max) todo = todo.slice(0, Number(v.max));
    for (const r of todo) runOne(r, o);
  } else if (cmd === 'table') {
    writeReadme(o);
  } else {
    console.error('usage: node scripts/protocol.mjs list | run [run ...] [--max N] | table   [--data dir] [--runs dir] [--results dir]');
    process.exit(2);
  }
}
