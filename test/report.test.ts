/** `poi report`: the HTML page and its PNG plots for a run folder and for a bare model folder. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../src/backend/index.js';
import { loadSet } from '../src/data/load.js';
import { evaluate, type EvalReport } from '../src/eval/metrics.js';
import { predictSet } from '../src/eval/predict.js';
import { presetConfig } from '../src/model/config.js';
import { loadModel, saveModel } from '../src/model/io.js';
import { PoiModel } from '../src/model/poi.js';
import { headline, train } from '../src/train/trainer.js';
import { buildReport, resolveSource } from '../src/report/build.js';
import { binByEntropy, confusionCells, confusionSpec, thin, trainingCurvesSpec } from '../src/report/charts.js';
import { selectFaces } from '../src/report/faces.js';
import { headlineFigures } from '../src/report/page.js';
import { renderSpec } from '../src/report/render.js';
import { Rng } from '../src/util/rng.js';
import { onnxAvailable } from '../src/infer/ort-runner.js';
import { syntheticSet, tempDir, votesFor, writeFerplusSplit } from './helpers.js';

process.env.POI_CACHE_DIR = tempDir('poi-report-cache-');
const BIN = resolve('bin/poi.js');
let data = ''; // FERPlus-layout dataset on disk (FER2013Valid only)
let run = ''; // a run folder: 1 epoch of poi+tiny

before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
  // FERPlus layout: FER2013Valid/ with label.csv of 10 vote counts; some faces split the annotators,
  // so the vote entropy varies
  data = tempDir('poi-report-ferplus-');
  await writeFerplusSplit(join(data, 'FER2013Valid'), 40, 11, (i, c) => votesFor(c, i % 4 === 0 ? 6 : i % 4 === 1 ? 8 : 10, (c + 1) % 8));

  // a run folder whose config.json records the on-disk set as its validation data
  run = join(tempDir('poi-report-run-'), 'run');
  const config = presetConfig('poi+tiny');
  config.train.epochs = 2;
  await train({
    config,
    data: {
      train: syntheticSet(64, 16, 1),
      val: syntheticSet(32, 16, 2),
      source: { train: { path: '/synthetic', split: null, name: 'synthetic', n: 64 }, val: { path: data, split: 'valid', name: 'ferplus:FER2013Valid', n: 40 } },
    },
    outDir: run,
    progress: false,
    log: () => {},
  });
});

/** The model's evaluation on an on-disk set (default: the shared one), computed here independently of the report code. */
async function referenceEval(modelDir: string, opts: { data?: string; votes?: 'raw' | 'drop-single' } = {}): Promise<EvalReport> {
  const { model, manifest } = await loadModel(modelDir);
  const { set } = await loadSet(opts.data ?? data, 'valid', manifest.input, { classes: manifest.classes, quiet: true, votes: opts.votes });
  const pred = await predictSet(model, set);
  model.dispose();
  return evaluate({ probs: pred.probs, labels: set.labels, classes: set.classes, votes: set.soft, uncertainty: pred.confidence.map((c) => 1 - c) });
}

/** An untrained poi+tiny model saved as a bare model folder (no run around it). */
async function bareModel(seed: number): Promise<string> {
  const dir = join(tempDir(), 'model');
  const config = presetConfig('poi+tiny');
  const model = new PoiModel(config.model, syntheticSet(8).classes, seed);
  await saveModel(model, config, dir, {});
  model.dispose();
  return dir;
}

/** data-metric → data-value of the headline cards. */
function headlineFromHtml(html: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of html.matchAll(/data-metric="([^"]+)" data-value="([^"]+)"/g)) out[m[1]] = Number(m[2]);
  return out;
}

/** Every PNG in the folder is referenced by the page, every referenced image exists and is a real PNG. */
async function checkImages(outDir: string, html: string): Promise<string[]> {
  const referenced = [...html.matchAll(/<img src="([^"]+)"/g)].map((m) => decodeURI(m[1]));
  const files = readdirSync(outDir).filter((f) => f.endsWith('.png'));
  assert.deepEqual([...referenced].sort(), [...files].sort(), 'the page references exactly the PNGs written');
  for (const f of referenced) {
    const p = join(outDir, f);
    assert.ok(existsSync(p), `${f} exists`);
    assert.ok(statSync(p).size > 3000, `${f} is ${statSync(p).size} bytes`);
    const meta = await sharp(p).metadata();
    assert.equal(meta.format, 'png', f);
    assert.ok(meta.width! >= 200 && meta.height! >= 150, `${f} is ${meta.width}x${meta.height}`);
    // not a blank image: some pixels differ from the background
    const stats = await sharp(p).stats();
    assert.ok(stats.channels.some((c) => c.stdev > 5), `${f} has content`);
  }
  return referenced;
}

test('report for a run folder: page, every plot, and the numbers of evaluate', async () => {
  const r = await buildReport({ dir: run, quiet: true, backend: 'wasm' });
  assert.equal(r.outDir, join(run, 'report'));
  assert.deepEqual(r.warnings, [], 'the chart specs compile without warnings');
  const html = readFileSync(r.html, 'utf8');
  const imgs = await checkImages(r.outDir, html);
  for (const f of ['training-curves', 'confusion', 'reliability', 'uncertainty-entropy', 'risk-coverage', 'faces-most-sure', 'faces-least-sure']) {
    assert.ok(imgs.includes(`${f}.png`), `${f}.png is on the page`);
  }
  // the faces grids: 12 each at 112 px in rows of 6
  const faces = await sharp(join(r.outDir, 'faces-most-sure.png')).metadata();
  assert.ok(faces.width! >= 6 * 112 && faces.height! >= 2 * 112, `faces grid ${faces.width}x${faces.height}`);

  // the headline numbers are those of evaluate on the same model and data
  const ref = await referenceEval(join(run, 'best'));
  const want = headline(ref);
  const got = headlineFromHtml(html);
  for (const key of ['accuracy', 'meanClassAccuracy', 'klToVotes', 'spearman', 'ece', 'acc@50', 'acc@80', 'acc@100', 'aurc']) {
    assert.ok(key in want, `evaluate gives ${key}`);
    assert.ok(key in got, `the page shows ${key}`);
    if (Number.isNaN(want[key])) assert.ok(Number.isNaN(got[key]), key);
    else assert.ok(Math.abs(got[key] - want[key]) < 1e-12, `${key}: page ${got[key]}, evaluate ${want[key]}`);
  }
  assert.equal(ref.labelled, 40);
  assert.match(html, new RegExp(`>${(ref.accuracy * 100).toFixed(2)}%<`), 'accuracy is displayed');
  // per-class table, config summary, data source
  for (const c of ref.perClass) {
    assert.match(html, new RegExp(`<tr data-class="${c.name}"><th>${c.name}</th><td>${c.precision.toFixed(3)}</td><td>${c.recall.toFixed(3)}</td>`));
  }
  assert.match(html, /<th>preset<\/th><td>poi\+tiny<\/td>/);
  assert.match(html, /<th>epochs logged<\/th><td>2 of 2<\/td>/);
  assert.match(html, /FER2013Valid/);
  // metrics.json holds the same evaluation
  const saved = JSON.parse(readFileSync(join(r.outDir, 'metrics.json'), 'utf8'));
  assert.deepEqual(saved.confusion, ref.confusion);
  assert.equal(saved.headline.accuracy, ref.accuracy);
  // the Vega-Lite specs are kept next to the page
  assert.ok(existsSync(join(r.outDir, 'specs', 'confusion.vl.json')));
});

test('report for a bare model folder needs --data; binned uncertainty plot; no training curves', async () => {
  const bare = await bareModel(3);
  await assert.rejects(buildReport({ dir: bare, quiet: true }), /--data/);
  const out = join(tempDir(), 'rep');
  const r = await buildReport({ dir: bare, out, data, split: 'valid', quiet: true, maxScatter: 10, faces: 4 });
  assert.equal(r.outDir, out);
  assert.deepEqual(r.warnings, []);
  const html = readFileSync(r.html, 'utf8');
  const imgs = await checkImages(out, html);
  assert.ok(!imgs.includes('training-curves.png'));
  assert.ok(imgs.includes('uncertainty-entropy.png'));
  assert.match(html, /no training curves/);
  assert.match(readFileSync(join(out, 'specs', 'uncertainty-entropy.vl.json'), 'utf8'), /binned means/);
  const want = headline(await referenceEval(bare));
  const got = headlineFromHtml(html);
  for (const [k, v] of Object.entries(want)) assert.ok(Number.isNaN(v) ? Number.isNaN(got[k]) : Math.abs(got[k] - v) < 1e-12, k);
});

test('report --votes raw: KL and vote entropy against the votes as cast', async () => {
  // stray single votes: Microsoft's rule (the default) drops them, so the two readings differ
  const ferplus = tempDir('poi-report-raw-');
  await writeFerplusSplit(join(ferplus, 'FER2013Valid'), 24, 5, (i, c) => votesFor(c, i % 3 === 0 ? 9 : i % 3 === 1 ? 7 : 10, (c + 2) % 8));
  const bare = await bareModel(4);
  const shown: Record<string, Record<string, number>> = {};
  for (const votes of ['raw', 'drop-single'] as const) {
    const r = await buildReport({ dir: bare, out: join(tempDir(), votes), data: ferplus, split: 'valid', votes, faces: 0, quiet: true });
    const html = readFileSync(r.html, 'utf8');
    shown[votes] = headlineFromHtml(html);
    assert.match(html, votes === 'raw' ? /as cast \(--votes raw\)/ : /single votes dropped/);
    // the same numbers as evaluate on the set read with that rule
    const want = headline(await referenceEval(bare, { data: ferplus, votes }));
    for (const k of ['klToVotes', 'spearman']) assert.ok(Math.abs(shown[votes][k] - want[k]) < 1e-12, `${votes} ${k}: ${shown[votes][k]} vs ${want[k]}`);
  }
  assert.notEqual(shown.raw.klToVotes, shown['drop-single'].klToVotes, 'the option changes what KL is measured against');
  const bad = spawnSync(process.execPath, [BIN, 'report', bare, '--data', ferplus, '--votes', 'all'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--votes: expected drop-single or raw, got "all"/);
});

test('report --tta flip and --runtime: the page shows the flip-averaged reading, on the engine asked for', async () => {
  const bare = await bareModel(5);
  const { predictModelSet } = await import('../src/eval/evaluate-model.js');
  const { model, manifest } = await loadModel(bare);
  model.dispose();
  const { set } = await loadSet(data, 'valid', manifest.input, { classes: manifest.classes, quiet: true });
  const flip = await predictModelSet(bare, set, { runtime: 'tfjs', tta: 'flip' });
  const want = headline(evaluate({ probs: flip.probs, labels: set.labels, classes: set.classes, votes: set.soft, uncertainty: flip.confidence.map((c) => 1 - c) }));
  const plain = headline(await referenceEval(bare));
  assert.notEqual(want.klToVotes, plain.klToVotes, 'flip TTA changes the numbers');
  const r = await buildReport({ dir: bare, out: join(tempDir(), 'flip'), data, split: 'valid', tta: 'flip', faces: 0, quiet: true });
  const html = readFileSync(r.html, 'utf8');
  const got = headlineFromHtml(html);
  for (const [k, v] of Object.entries(want)) assert.ok(Number.isNaN(v) ? Number.isNaN(got[k]) : Math.abs(got[k] - v) < 1e-12, `${k}: page ${got[k]}, flip ${v}`);
  assert.match(html, /<th>runtime<\/th><td>tfjs-[a-z]+\+flip<\/td>/);
  // the command takes both options and checks them
  const bad = spawnSync(process.execPath, [BIN, 'report', bare, '--data', data, '--runtime', 'gpu'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--runtime: expected auto, onnx or tfjs, got "gpu"/);
  const badTta = spawnSync(process.execPath, [BIN, 'report', bare, '--data', data, '--tta', 'mirror'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(badTta.status, 2);
  assert.match(badTta.stderr, /--tta: expected none or flip, got "mirror"/);
  if (onnxAvailable()) {
    const o = await buildReport({ dir: bare, out: join(tempDir(), 'onnx'), data, split: 'valid', runtime: 'onnx', faces: 0, quiet: true });
    assert.match(readFileSync(o.html, 'utf8'), /<th>runtime<\/th><td>onnxruntime<\/td>/);
    for (const k of ['accuracy', 'klToVotes']) assert.ok(Math.abs(headlineFromHtml(readFileSync(o.html, 'utf8'))[k] - plain[k]) < 1e-4, k);
  }
});

test('a missing log.jsonl or model gives a clear error', async () => {
  // a run folder without its log
  const noLog = join(tempDir(), 'run');
  mkdirSync(noLog);
  cpSync(join(run, 'config.json'), join(noLog, 'config.json'));
  cpSync(join(run, 'best'), join(noLog, 'best'), { recursive: true });
  assert.throws(() => resolveSource(noLog), /no log\.jsonl/);
  // a run folder without its model
  const noModel = join(tempDir(), 'run');
  mkdirSync(noModel);
  cpSync(join(run, 'config.json'), join(noModel, 'config.json'));
  cpSync(join(run, 'log.jsonl'), join(noModel, 'log.jsonl'));
  await assert.rejects(buildReport({ dir: noModel, quiet: true }), /no model in best\//);
  // not a run at all, and not there at all
  assert.throws(() => resolveSource(tempDir()), /neither a run folder .* nor a model folder/);
  assert.throws(() => resolveSource(join(tempDir(), 'nope')), /no such folder/);
  // through the command: one clear line, non-zero exit
  const cli = (args: string[]) => spawnSync(process.execPath, [BIN, 'report', ...args], { encoding: 'utf8', timeout: 60_000 });
  const a = cli([noLog]);
  assert.equal(a.status, 1);
  assert.match(a.stderr, /^poi: .*run folder has no log\.jsonl/);
  const b = cli([]);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /expected one run or model folder/);
  // a run's best/ is a model folder that finds its run (log, recorded data)
  const out = join(tempDir(), 'rep');
  const c = cli([join(run, 'best'), '--out', out, '--faces', '2', '--threads', '1', '--quiet']);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout.trim(), join(out, 'report.html'));
  assert.ok(existsSync(join(out, 'training-curves.png')));
});

test('chart helpers: faces, bins, cells, thinning, headline keys', async () => {
  assert.deepEqual(selectFaces([0.5, 0.9, 0.1, 0.7, 0.3], 2), { mostSure: [1, 3], leastSure: [2, 4] });
  assert.deepEqual(selectFaces([0.5, 0.9, 0.1], 2), { mostSure: [1], leastSure: [2] });
  assert.deepEqual(selectFaces([0.5], 3), { mostSure: [0], leastSure: [] });
  const bins = binByEntropy([{ entropy: 0, uncertainty: 0.2 }, { entropy: 0, uncertainty: 0.4 }, { entropy: 1, uncertainty: 0.9 }], 4);
  assert.equal(bins.length, 2);
  assert.ok(Math.abs(bins[0].mean - 0.3) < 1e-9 && bins[0].count === 2);
  assert.ok(Math.abs(bins[1].mean - 0.9) < 1e-9 && bins[1].count === 1);
  const cells = confusionCells([[3, 1], [0, 0]], ['a', 'b']);
  assert.deepEqual(cells.map((c) => c.fraction), [0.75, 0.25, 0, 0]);
  assert.deepEqual(thin(5, 10), [0, 1, 2, 3, 4]);
  const t = thin(1000, 50);
  assert.equal(t[0], 0);
  assert.equal(t[t.length - 1], 999);
  assert.ok(t.length <= 50);
  // the page's headline keys are the trainer's (log.jsonl's) keys
  const r = evaluate({ probs: [0.9, 0.1, 0.2, 0.8, 0.6, 0.4], labels: [0, 1, 1], classes: ['a', 'b'], votes: [1, 0, 0.3, 0.7, 0.5, 0.5], uncertainty: [0.1, 0.2, 0.9] });
  assert.deepEqual(headlineFigures(r).map((h) => h.key).sort(), Object.keys(headline(r)).sort());
  // a spec renders to a real PNG and its SVG is Vega's
  const png = await renderSpec(confusionSpec([[3, 1], [0, 2]], ['a', 'b']));
  assert.deepEqual(png.warnings, []);
  assert.match(png.svg, /^<svg/);
  assert.equal((await sharp(png.png).metadata()).format, 'png');
  // a log with one epoch and no validation still gives a spec
  const spec = trainingCurvesSpec([{ epoch: 1, lr: 0.01, train: { loss: 1, accuracy: 0.5 }, val: null }]);
  assert.deepEqual((await renderSpec(spec)).warnings, []);
});
