/** End-to-end tests of the `poi` command on a dataset the test writes to disk. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FER_CLASSES, tempDir, votesFor, writeFerplusSplit } from './helpers.js';
import { Rng } from '../src/util/rng.js';

const BIN = resolve('bin/poi.js');
let root = '';
const cache = tempDir('poi-cache-');

function poi(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, POI_CACHE_DIR: cache },
    timeout: 180_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  // FERPlus layout: FER2013Train/ and FER2013Valid/ with label.csv of 10 vote counts
  root = tempDir('poi-ferplus-');
  for (const [split, n] of [['FER2013Train', 96], ['FER2013Valid', 32]] as const) {
    // one row names a missing image: reported and skipped
    await writeFerplusSplit(join(root, split), n, 7, (_, c) => votesFor(c, 8, (c + 1) % 8), ['fer9999999.png,"(0, 0, 48, 48)",10,0,0,0,0,0,0,0,0,0']);
  }
  // a corrupt image in the validation split: reported and skipped
  writeFileSync(join(root, 'FER2013Valid', 'fer0000000.png'), 'not a png');
});

test('poi train, then poi eval --json on a FERPlus-layout folder', async () => {
  const out = join(tempDir(), 'run');
  const t = poi(['train', '--config', 'poi+tiny', '--data', root, '--out', out, '--epochs', '2', '--quiet']);
  assert.equal(t.code, 0, t.err);
  assert.match(t.err, /best val accuracy/);
  assert.match(t.err, /fer0000000\.png/, 'the corrupt image is reported by path');
  assert.ok(existsSync(join(out, 'best', 'model.json')));
  const e = poi(['eval', '--model', join(out, 'best'), '--data', root, '--json']);
  assert.equal(e.code, 0, e.err);
  const r = JSON.parse(e.out);
  assert.equal(r.classes.length, 8);
  assert.deepEqual(r.classes, FER_CLASSES);
  assert.equal(r.labelled, 31);
  for (const k of ['accuracy', 'meanClassAccuracy']) assert.ok(r[k] >= 0 && r[k] <= 1, k);
  assert.ok(r.votes && Number.isFinite(r.votes.kl));
  assert.ok(Number.isFinite(r.uncertainty.spearmanVoteEntropy) || r.uncertainty.spearmanVoteEntropy === null);
  assert.equal(r.confusion.length, 8);
  // --votes raw: the votes as cast, single dissenting votes kept; a set where every face has two single
  // dissenters has zero vote entropy by the default rule and a positive one by the raw votes
  const split = join(tempDir('poi-votes-'), 'FER2013Valid');
  await writeFerplusSplit(split, 16, 5, (_, c) => {
    const v = votesFor(c, 8, (c + 1) % 8);
    v[(c + 1) % 8] = 1;
    v[(c + 2) % 8] = 1;
    return v;
  });
  const dropped = JSON.parse(poi(['eval', '--model', join(out, 'best'), '--data', split, '--json']).out);
  const raw = JSON.parse(poi(['eval', '--model', join(out, 'best'), '--data', split, '--json', '--votes', 'raw']).out);
  assert.equal(dropped.votes.meanEntropy, 0);
  assert.ok(Math.abs(raw.votes.meanEntropy - -(0.8 * Math.log(0.8) + 2 * 0.1 * Math.log(0.1))) < 1e-5, String(raw.votes.meanEntropy));
  assert.match(poi(['eval', '--model', join(out, 'best'), '--data', split, '--votes', 'most']).err, /--votes: expected drop-single or raw/);
  const text = poi(['eval', '--model', join(out, 'best'), '--data', root]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /Confusion matrix/);
  // resume of a finished run is a no-op that still succeeds
  const summary = readFileSync(join(out, 'summary.json'), 'utf8');
  const again = poi(['train', '--data', root, '--out', out, '--resume', '--quiet']);
  assert.equal(again.code, 0, again.err);
  assert.match(again.err, /already finished/);
  assert.equal(readFileSync(join(out, 'summary.json'), 'utf8'), summary, 'summary.json is left as it was');
});

test('bad usage gets a clear message and a non-zero exit', () => {
  const u = poi(['frobnicate']);
  assert.equal(u.code, 2);
  assert.match(u.err, /unknown command "frobnicate"/);
  const m = poi(['train', '--data', root]);
  assert.notEqual(m.code, 0);
  assert.match(m.err, /--out/);
  const p = poi(['train', '--data', root, '--out', join(tempDir(), 'x'), '--config', 'nonesuch']);
  assert.notEqual(p.code, 0);
  assert.match(p.err, /unknown preset "nonesuch"/);
  const n = poi(['train', '--data', root, '--out', join(tempDir(), 'x'), '--noise', 'lots']);
  assert.match(n.err, /--noise: expected a number/);
  const d = poi(['eval', '--model', join(root, 'nope'), '--data', root]);
  assert.notEqual(d.code, 0);
  assert.match(d.err, /not a poi model folder/);
  const h = poi(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /poi train/);
});

test('every command answers --help (and -h, and poi help <command>) with its own usage, exit 0, before checking its arguments', () => {
  for (const cmd of ['train', 'eval', 'calibrate', 'balance', 'fit-confidence', 'export', 'report', 'predict', 'serve', 'demo', 'presets']) {
    for (const args of [[cmd, '--help'], [cmd, '-h'], ['help', cmd], [cmd, '--data', '/nonexistent', '--help']]) {
      const r = poi(args);
      assert.equal(r.code, 0, `poi ${args.join(' ')}: exit ${r.code}, ${r.err}`);
      assert.match(r.out, new RegExp(`^Usage:\\n  poi ${cmd}\\b`), `poi ${args.join(' ')} prints its own usage`);
      assert.match(r.out, /--threads N/, 'and the common options');
      assert.equal(r.err, '');
    }
  }
});

test('poi train --noise-list: a run\'s own noise.csv replays as a published list, and summary.json names it', () => {
  const first = join(tempDir(), 'noisy');
  const a = poi(['train', '--config', 'ce+tiny', '--data', root, '--out', first, '--epochs', '1', '--noise', '0.25', '--quiet']);
  assert.equal(a.code, 0, a.err);
  const list = join(first, 'noise.csv');
  const second = join(tempDir(), 'replayed');
  const b = poi(['train', '--config', 'ce+tiny', '--data', root, '--out', second, '--epochs', '1', '--noise-list', list, '--quiet']);
  assert.equal(b.code, 0, b.err);
  assert.equal(readFileSync(join(second, 'noise.csv'), 'utf8'), readFileSync(list, 'utf8'), 'the same labels are flipped');
  const s = JSON.parse(readFileSync(join(second, 'summary.json'), 'utf8'));
  assert.equal(s.noiseList, list);
  assert.equal(JSON.parse(readFileSync(join(first, 'summary.json'), 'utf8')).noiseList, null);
});

test('poi <command> --help names every option the command accepts, with the details; poi help lists the synopses only', async () => {
  const { COMMON_OPTIONS } = await import('../src/cli/args.js');
  for (const cmd of ['train', 'eval', 'calibrate', 'balance', 'fit-confidence', 'export', 'report', 'predict', 'serve', 'demo']) {
    const { OPTIONS } = (await import(`../src/cli/${cmd}.js`)) as { OPTIONS: Record<string, unknown> };
    const r = poi([cmd, '--help']);
    assert.equal(r.code, 0, r.err);
    for (const name of Object.keys({ ...COMMON_OPTIONS, ...OPTIONS })) {
      assert.match(r.out, new RegExp(`(?<![\\w-])--${name}(?![\\w-])`), `poi ${cmd} --help names --${name}`);
    }
  }
  assert.match(poi(['predict', '--help']).out, /--min-score X +detection threshold[^]*Folders are read recursively/);
  assert.match(poi(['serve', '--help']).out, /--queue N +requests that may wait[^]*curl -F image=@photo\.jpg/);
  assert.match(poi(['report', '--help']).out, /Writes report\.html/);
  const all = poi(['help']).out;
  assert.match(all, /poi predict <files, folders or globs> \[--json\]/);
  assert.doesNotMatch(all, /curl|Folders are read recursively|Writes report\.html/, 'the overview holds each synopsis, not the details');
});
