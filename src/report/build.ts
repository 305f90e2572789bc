/**
 * `poi report`'s work: from a run folder (or a bare model folder) and a dataset to an HTML page with
 * PNG plots. The tensor backend must be initialised by the caller (backend/index.ts initBackend).
 *
 * Output folder (default <dir>/report/):
 *   report.html                 the page (no scripts, no external resources)
 *   *.png                       one file per figure, referenced by the page
 *   metrics.json                the full evaluation (EvalReport) and where it came from
 *   specs/*.vl.json             the Vega-Lite spec of each chart (open in the Vega editor to restyle)
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { defaultSplits, loadSet } from '../data/load.js';
import type { FerplusSoftMode } from '../data/ferplus.js';
import { entropy, evaluate, type EvalReport } from '../eval/metrics.js';
import { predictModelSet } from '../eval/evaluate-model.js';
import type { Tta } from '../infer/runner.js';
import type { Runtime } from '../infer/runtime.js';
import { readModelFolder, readModelManifest } from '../model/io.js';
import { readLog, type EpochRecord } from '../train/trainer.js';
import { readJson, writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { formatDuration } from '../util/progress.js';
import {
  confusionSpec,
  perClassSpec,
  reliabilitySpec,
  riskCoverageSpec,
  trainingCurvesSpec,
  uncertaintyEntropySpec,
  type ChartSpec,
  type EntropyPoint,
} from './charts.js';
import { describeFaces, faceGridPng, selectFaces } from './faces.js';
import { configSummary, headlineFigures, reportHtml, type Figure } from './page.js';
import { writeChartPng } from './render.js';

export interface ReportOptions {
  /** A run folder (log.jsonl, config.json, best/) or a model folder (model.json, weights.bin). */
  dir: string;
  /** Output folder (default <dir>/report). */
  out?: string;
  /** Dataset folder (default: the validation data recorded in the run's config.json). */
  data?: string;
  /** Split of the dataset (default: the recorded split, or the dataset's validation split). */
  split?: string;
  /** Class mapping for a dataset whose class names differ from the model's ("theirs" → "ours"). */
  mapping?: Record<string, string | null>;
  /** Evaluate on the first N labelled faces only. */
  limit?: number;
  /** FERPlus votes for KL and vote entropy: 'drop-single' (Microsoft's rule, the default) or 'raw' (as cast). */
  votes?: FerplusSoftMode;
  /** Faces per grid (most sure, least sure); default 12, 0 leaves the grids out. */
  faces?: number;
  /** Scatter up to this many faces in the uncertainty plot, binned means beyond (default 1500). */
  maxScatter?: number;
  /** Backend name, for the record (the caller initialises it: initBackend). */
  backend?: string;
  /** onnxruntime's threads. */
  threads?: number;
  /** Where TRN runs (default 'tfjs', the engine training measured the saved metrics on). */
  runtime?: Runtime;
  /** 'flip': each face and its mirror image, averaged. */
  tta?: Tta;
  /** No progress bars. */
  quiet?: boolean;
  /** Progress messages (default: stderr unless quiet). */
  log?: (msg: string) => void;
}

export interface ReportResult {
  outDir: string;
  html: string;
  /** PNG files written (absolute paths), in page order. */
  pngs: string[];
  report: EvalReport;
  /** Chart warnings from Vega-Lite/Vega (empty for clean specs). */
  warnings: string[];
}

/** What `dir` is: a run folder (with its model in best/) or a model folder (maybe inside a run). */
export interface ReportSource {
  kind: 'run' | 'model';
  modelDir: string;
  /** The run folder whose log and config go with the model, or null for a bare model folder. */
  runDir: string | null;
}

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/** Work out whether `dir` is a run folder or a model folder; throws a clear error when it is neither. */
export function resolveSource(dir: string): ReportSource {
  const d = resolve(dir);
  if (!existsSync(d) || !statSync(d).isDirectory()) throw new Error(`${dir}: no such folder`);
  if (isFile(join(d, 'model.json'))) {
    // a model folder; when it is a run's best/, the run's log goes with it
    const parent = dirname(d);
    const runDir = isFile(join(parent, 'log.jsonl')) && isFile(join(parent, 'config.json')) ? parent : null;
    return { kind: 'model', modelDir: d, runDir };
  }
  const looksLikeRun = ['log.jsonl', 'config.json', 'checkpoint.bin', 'best'].some((f) => existsSync(join(d, f)));
  if (!looksLikeRun) {
    throw new Error(`${dir}: neither a run folder (log.jsonl, config.json, best/) nor a model folder (model.json)`);
  }
  if (!isFile(join(d, 'log.jsonl'))) {
    throw new Error(`${dir}: run folder has no log.jsonl (the training log); pass the model folder (${join(dir, 'best')}) for a report without training curves`);
  }
  if (!isFile(join(d, 'best', 'model.json'))) {
    throw new Error(`${dir}: run folder has no model in best/ (best/model.json is missing; has the run finished an epoch?)`);
  }
  return { kind: 'run', modelDir: join(d, 'best'), runDir: d };
}

interface RunConfigFile {
  config?: unknown;
  data?: {
    train?: { path?: string; split?: string | null; name?: string; n?: number } | null;
    val?: { path?: string; split?: string | null; name?: string; n?: number } | null;
    backend?: string;
  };
  createdAt?: string;
}

/** Which dataset and split to evaluate: --data/--split, else the run's recorded validation data. */
export function resolveData(opts: { data?: string; split?: string }, run: RunConfigFile | null, src: ReportSource): { path: string; split: string | undefined; from: string } {
  if (opts.data) {
    return { path: resolve(opts.data), split: opts.split ?? defaultSplits(opts.data).val, from: '--data' };
  }
  if (!src.runDir) throw new Error(`${src.modelDir} is a model folder without its run: pass --data <dataset dir> to say what to evaluate on`);
  const val = run?.data?.val;
  if (!val?.path) {
    throw new Error(`${join(src.runDir, 'config.json')} records no validation data: pass --data <dataset dir> (and --split)`);
  }
  if (!existsSync(val.path)) {
    throw new Error(`the validation data recorded in ${join(src.runDir, 'config.json')} (${val.path}) is not there: pass --data <dataset dir>`);
  }
  return { path: val.path, split: opts.split ?? val.split ?? undefined, from: 'config.json' };
}

function fmtTime(s: number | undefined): string {
  return typeof s === 'number' && Number.isFinite(s) ? formatDuration(s) : '–';
}

function trainingRows(log: EpochRecord[], run: RunConfigFile | null, metrics: Record<string, unknown>, configuredEpochs?: number): [string, string][] {
  const rows: [string, string][] = [];
  const last = log[log.length - 1];
  rows.push(['epochs logged', `${log.length}${configuredEpochs ? ` of ${configuredEpochs}` : ''}`]);
  let best: EpochRecord | null = null;
  for (const r of log) if (r.val && Number.isFinite(r.val.accuracy) && (!best || r.val.accuracy > best.val!.accuracy)) best = r;
  if (best) rows.push(['best val accuracy', `${(best.val!.accuracy * 100).toFixed(2)}% at epoch ${best.epoch}`]);
  if (typeof metrics.epoch === 'number') rows.push(['model saved at', `epoch ${metrics.epoch}${typeof metrics.split === 'string' ? ` (chosen on ${metrics.split})` : ''}`]);
  if (last) {
    rows.push(['training time', fmtTime(last.wallSeconds)]);
    const ips = log.map((r) => r.imagesPerSec).filter((x) => Number.isFinite(x));
    if (ips.length) rows.push(['throughput', `${(ips.reduce((a, b) => a + b, 0) / ips.length).toFixed(1)} images/s (mean over epochs)`]);
  }
  const tr = run?.data?.train;
  if (tr) rows.push(['training data', `${tr.name ?? tr.path ?? '?'}${tr.n ? `, ${tr.n} faces` : ''}`]);
  const va = run?.data?.val;
  if (va) rows.push(['validation data', `${va.name ?? va.path ?? '?'}${va.n ? `, ${va.n} faces` : ''}`]);
  if (run?.data?.backend) rows.push(['trained on backend', run.data.backend]);
  if (run?.createdAt) rows.push(['started', run.createdAt]);
  return rows;
}

/** Build the report. Returns where it went and the evaluation it shows. */
export async function buildReport(opts: ReportOptions): Promise<ReportResult> {
  const log = opts.log ?? (opts.quiet ? () => {} : (m: string) => process.stderr.write(m + '\n'));
  const src = resolveSource(opts.dir);
  // read everything cheap first, so a bad folder fails before the slow steps
  const manifest0 = await readModelManifest(src.modelDir);
  const run = src.runDir && isFile(join(src.runDir, 'config.json')) ? await readJson<RunConfigFile>(join(src.runDir, 'config.json')) : null;
  const epochs: EpochRecord[] = src.runDir ? await readLog(src.runDir) : [];
  const data = resolveData(opts, run, src);
  const outDir = resolve(opts.out ?? join(opts.dir, 'report'));
  await mkdir(join(outDir, 'specs'), { recursive: true });

  const folder = await readModelFolder(src.modelDir);
  const { manifest } = folder;
  const { set, dataset } = await loadSet(data.path, data.split, manifest.input, {
    classes: manifest.classes,
    mapping: opts.mapping,
    limit: opts.limit,
    quiet: opts.quiet,
    votes: opts.votes,
  });
  log(`predicting ${set.labels.length} faces of ${dataset.name}`);
  // tfjs unless asked: the engine the metrics saved at training were measured on, which the page compares with
  const pred = await predictModelSet(folder, set, { runtime: opts.runtime ?? 'tfjs', tta: opts.tta, threads: opts.threads });
  const uncertainty = pred.confidence.map((c) => 1 - c);
  const report = evaluate({ probs: pred.probs, labels: set.labels, classes: set.classes, votes: set.soft, uncertainty });

  const figures: Figure[] = [];
  const pngs: string[] = [];
  const warnings: string[] = [];
  const notes: string[] = [];
  const chart = async (id: string, spec: ChartSpec, title: string, caption: string) => {
    await writeFile(join(outDir, 'specs', `${id}.vl.json`), JSON.stringify(spec, null, 1) + '\n');
    const file = `${id}.png`;
    const r = await writeChartPng(spec, join(outDir, file), { scale: 2 });
    warnings.push(...r.warnings.map((w) => `${id}: ${w}`));
    figures.push({ id, file, title, caption, width: r.width / 2 });
    pngs.push(join(outDir, file));
  };
  log(`drawing charts into ${outDir}`);

  // 1. training curves
  if (src.runDir && epochs.length > 0) {
    await chart(
      'training-curves',
      trainingCurvesSpec(epochs, { title: `Training curves — ${basename(src.runDir)}` }),
      'Training curves',
      'Per epoch, from log.jsonl: training loss (total and its parts, averaged over the epoch); accuracy on the training and validation sets; the validation figures for the votes, calibration and uncertainty; for POI, the mean confidence c and the weight given to PIN’s objective label q; the learning rate.',
    );
  } else if (src.runDir) {
    notes.push(`${join(src.runDir, 'log.jsonl')} holds no finished epoch yet: no training curves.`);
  } else {
    notes.push('A bare model folder: no training log, so no training curves.');
  }

  // 2. confusion matrix
  await chart(
    'confusion',
    confusionSpec(report.confusion, report.classes),
    'Confusion matrix',
    'Rows are the true class, columns the predicted one; each cell shows its count, coloured by its share of the row (the row-normalised rate, so the diagonal is per-class recall).',
  );
  // 3. reliability
  await chart(
    'reliability',
    reliabilitySpec(report.calibration),
    'Reliability diagram',
    'Faces binned by top-label confidence (max probability): bars are the accuracy in each bin, diamonds the mean confidence, the dashed line perfect calibration; below, the number of faces per bin.',
  );
  // 4. uncertainty vs vote entropy
  if (set.soft && report.uncertainty) {
    const h = entropy(set.soft, set.classes.length);
    const points: EntropyPoint[] = [];
    const k = set.classes.length;
    for (let i = 0; i < h.length; i++) {
      if (!Number.isFinite(h[i])) continue;
      let best = 0;
      for (let j = 1; j < k; j++) if (pred.probs[i * k + j] > pred.probs[i * k + best]) best = j;
      points.push({ entropy: h[i], uncertainty: uncertainty[i], correct: set.labels[i] < 0 ? undefined : best === set.labels[i] });
    }
    const max = opts.maxScatter ?? 1500;
    await chart(
      'uncertainty-entropy',
      uncertaintyEntropySpec(points, { spearman: report.uncertainty.spearmanVoteEntropy, maxPoints: max }),
      'Uncertainty vs annotator disagreement',
      points.length > max
        ? `The model's uncertainty (1 − confidence) against the entropy of the annotators' votes, as means ± one standard deviation in equal-width entropy bins (${points.length} faces; point size = faces in the bin). A rising curve means the model is least sure where people disagree.`
        : `The model's uncertainty (1 − confidence) against the entropy of the annotators' votes, one point per face (${points.length}), coloured by whether the prediction was right.`,
    );
  } else {
    notes.push(`${dataset.name} has no annotator votes: no uncertainty-vs-disagreement plot, no KL or Spearman.`);
  }
  // 5. risk-coverage
  if (report.uncertainty) {
    await chart(
      'risk-coverage',
      riskCoverageSpec(report.uncertainty.riskCoverage),
      'Risk-coverage',
      'Keep the faces the model is most sure about first: the error rate of the kept faces against the share kept; grey is the best possible ordering of the same predictions (all errors last). Red points are the headline coverages.',
    );
  }
  // per-class bars
  await chart('per-class', perClassSpec(report), 'Per-class precision, recall and F1', 'The same numbers as the per-class table below.');

  // 6. faces
  const nFaces = opts.faces ?? 12;
  if (nFaces > 0) {
    const { mostSure, leastSure } = selectFaces(pred.confidence, nFaces);
    const groups: [string, number[], string, string][] = [
      ['faces-most-sure', mostSure, `The ${mostSure.length} faces the model is most sure about`, 'Highest confidence first'],
      ['faces-least-sure', leastSure, `The ${leastSure.length} faces the model is least sure about`, 'Lowest confidence first'],
    ];
    for (const [id, idx, title, order] of groups) {
      if (idx.length === 0) continue;
      const faces = describeFaces(idx, set, pred.probs, pred.confidence);
      const png = await faceGridPng(set, faces, { title, columns: 6, tile: 112 });
      const file = `${id}.png`;
      await writeFile(join(outDir, file), png);
      pngs.push(join(outDir, file));
      figures.push({
        id,
        file,
        title,
        caption: `${order}. Under each face: the predicted class (green when it matches the label, red when not), the model's confidence and the probability of the predicted class, and the true label.`,
        width: Math.min(6, idx.length) * 122 + 10,
      });
    }
  }

  const saved = manifest.metrics.accuracy;
  if (data.from === 'config.json' && !opts.limit && typeof saved === 'number' && Math.abs(saved - report.accuracy) > 1e-6) {
    notes.push(
      `The model was saved with validation accuracy ${(saved * 100).toFixed(2)}%` +
        `${typeof manifest.metrics.epoch === 'number' ? ` (epoch ${manifest.metrics.epoch})` : ''}; this evaluation gives ` +
        `${(report.accuracy * 100).toFixed(2)}% (another backend, or the data changed since).`,
    );
  }
  if (opts.limit) notes.push(`Evaluated on the first ${set.labels.length} labelled faces only (--limit).`);
  if (warnings.length) notes.push(...warnings.map((w) => `chart warning: ${w}`));

  const source: [string, string][] = [
    [src.kind === 'run' ? 'run folder' : 'model folder', src.kind === 'run' ? src.runDir! : src.modelDir],
    ['model', `${src.modelDir} (${manifest.config.model.method}, saved ${manifest.savedAt})`],
    ['data', `${dataset.name} — ${data.path}${data.split ? `, split ${data.split}` : ''} (from ${data.from})`],
    ['faces', `${report.n} evaluated, ${report.labelled} labelled${report.votes ? `, ${report.votes.n} with votes` : ''}`],
    ...(report.votes ? [['votes', opts.votes === 'raw' ? 'as cast (--votes raw)' : 'single votes dropped (Microsoft\'s rule; --votes raw for the votes as cast)'] as [string, string]] : []),
  ];
  if (src.kind === 'model' && src.runDir) source.push(['run folder', src.runDir]);
  if (opts.backend) source.push(['backend', opts.backend]);
  source.push(['runtime', pred.runtime]);

  const title = `poi report — ${basename(src.runDir ?? src.modelDir)}`;
  const html = reportHtml({
    title,
    generatedAt: new Date().toISOString(),
    source,
    report,
    training: src.runDir ? trainingRows(epochs, run, manifest0.metrics, manifest.config.train?.epochs) : undefined,
    config: configSummary(manifest.config),
    configJson: manifest.config,
    figures,
    notes,
  });
  const htmlFile = join(outDir, 'report.html');
  await writeFileAtomic(htmlFile, html);
  const headline: Record<string, number> = {};
  for (const h of headlineFigures(report)) headline[h.key] = h.value;
  await writeJsonAtomic(join(outDir, 'metrics.json'), {
    model: src.modelDir,
    run: src.runDir,
    data: { name: dataset.name, path: data.path, split: data.split ?? null },
    headline,
    ...report,
  });
  return { outDir, html: htmlFile, pngs, report, warnings };
}
