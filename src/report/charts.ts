/**
 * Vega-Lite specs for poi's report plots. Pure functions: data in, a Vega-Lite spec out (no I/O, no
 * tfjs), so the same charts can be rendered in Node (render.ts) or embedded in a browser page with
 * vega-embed. Data is inlined into each spec; non-finite numbers are left out (Vega-Lite has no NaN).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Calibration, EvalReport, RiskCoverage } from '../eval/metrics.js';

export type ChartSpec = TopLevelSpec;

/** One line of a run's log.jsonl, as far as the charts need it (see EpochRecord in train/trainer.ts). */
export interface LogRecord {
  epoch: number;
  lr?: number;
  train: Record<string, number>;
  val: Record<string, number> | null;
}

/** Shared look: white background, readable fonts, no border around single views. */
export const CHART_CONFIG = {
  background: 'white',
  font: 'DejaVu Sans, Helvetica, Arial, sans-serif',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridOpacity: 0.5 },
  legend: { labelFontSize: 11, titleFontSize: 11 },
  title: { fontSize: 14, anchor: 'start' as const, offset: 8, subtitleFontSize: 11, subtitleColor: '#555' },
};

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Round for inlined data so specs stay small and deterministic. */
function r6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// 1. training curves

/** Label of a train/val metric key in the legend. */
function seriesName(split: 'train' | 'val', key: string): string {
  const names: Record<string, string> = {
    loss: 'loss (total)',
    accuracy: 'accuracy',
    meanClassAccuracy: 'mean class accuracy',
    klToVotes: 'KL to votes',
    ece: 'ECE',
    aurc: 'AURC',
    spearman: 'Spearman ρ, uncertainty ~ vote entropy',
    c: 'mean confidence c',
    w: 'weight of PIN’s q',
  };
  return `${split} ${names[key] ?? key}`;
}

type Row = { epoch: number; series: string; value: number };

/** Long-format rows {epoch, series, value} of a log for the chosen keys. */
export function logRows(log: LogRecord[], split: 'train' | 'val', keys: (k: string) => boolean): Row[] {
  const rows: Row[] = [];
  for (const rec of log) {
    const part = split === 'train' ? rec.train : rec.val;
    if (!part) continue;
    for (const [k, v] of Object.entries(part)) {
      if (keys(k) && finite(v)) rows.push({ epoch: rec.epoch, series: seriesName(split, k), value: r6(v) });
    }
  }
  return rows;
}

/** Training-record keys that are not losses: accuracy, POI's mean confidence c and transfer weight w. */
const TRANSFER_KEYS = new Set(['c', 'w']);
const isLossKey = (k: string) => k !== 'accuracy' && !k.startsWith('acc') && !TRANSFER_KEYS.has(k);
const isAccKey = (k: string) => k === 'accuracy' || k === 'meanClassAccuracy';
const isValUncKey = (k: string) => k === 'klToVotes' || k === 'ece' || k === 'aurc' || k === 'spearman';

/**
 * Training curves from a run's log, one panel each against the epoch: training loss (total and its
 * parts), accuracy (train, val, val mean class accuracy), the validation uncertainty figures (KL to
 * the votes, ECE, AURC, Spearman), POI's transfer (mean confidence c, weight of q) and the learning
 * rate; panels without data are left out.
 */
export function trainingCurvesSpec(log: LogRecord[], opts: { title?: string } = {}): ChartSpec {
  const lr = log.filter((r) => finite(r.lr)).map((r) => ({ epoch: r.epoch, series: 'learning rate', value: r.lr as number }));
  const epochs = log.map((r) => r.epoch);
  const x = {
    field: 'epoch',
    type: 'quantitative' as const,
    title: 'epoch',
    scale: { domain: [log.length > 1 ? Math.min(...epochs) : 0, Math.max(1, ...epochs)] },
    axis: { tickMinStep: 1, format: 'd' },
  };
  const showPoints = log.length <= 60;
  const panel = (title: string, rows: Row[], y: Record<string, unknown>, scheme: string, valueFormat: string) => ({
    title,
    width: 280,
    height: 200,
    data: { values: rows },
    mark: { type: 'line' as const, point: showPoints, strokeWidth: 2 },
    encoding: {
      x,
      y: { field: 'value', type: 'quantitative' as const, title: null, ...y },
      color: {
        field: 'series',
        type: 'nominal' as const,
        title: null,
        legend: new Set(rows.map((r) => r.series)).size > 1 ? { orient: 'bottom' as const, columns: 1, labelLimit: 0 } : null,
        scale: { scheme },
      },
      tooltip: [
        { field: 'series', type: 'nominal' as const },
        { field: 'epoch', type: 'quantitative' as const },
        { field: 'value', type: 'quantitative' as const, format: valueFormat },
      ],
    },
  });
  const panels = [
    panel('Training loss', logRows(log, 'train', isLossKey), { scale: { zero: false } }, 'tableau10', '.4f'),
    panel('Accuracy', [...logRows(log, 'train', isAccKey), ...logRows(log, 'val', isAccKey)], { scale: { domain: [0, 1] }, axis: { format: '%' } }, 'dark2', '.2%'),
    panel('Validation: votes, calibration, uncertainty', logRows(log, 'val', isValUncKey), { scale: { zero: true } }, 'set1', '.4f'),
    panel('POI transfer', logRows(log, 'train', (k) => TRANSFER_KEYS.has(k)), { scale: { domain: [0, 1] } }, 'set2', '.3f'),
    panel('Learning rate', lr, { axis: { format: '.1e' } }, 'greys', '.2e'),
  ].filter((p) => p.data.values.length > 0);
  return {
    $schema: SCHEMA,
    title: { text: opts.title ?? 'Training curves', subtitle: `${log.length} epoch${log.length === 1 ? '' : 's'} from log.jsonl` },
    config: CHART_CONFIG,
    resolve: { scale: { color: 'independent' } },
    columns: 3,
    concat: panels,
  } satisfies ChartSpec;
}

// ---------------------------------------------------------------------------------------------
// 2. confusion matrix

/** Cells of a confusion matrix with counts and row-normalised fractions. */
export function confusionCells(confusion: number[][], classes: string[]): { true: string; predicted: string; count: number; fraction: number }[] {
  const cells: { true: string; predicted: string; count: number; fraction: number }[] = [];
  confusion.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, j) => {
      cells.push({ true: classes[i], predicted: classes[j], count, fraction: total > 0 ? r6(count / total) : 0 });
    });
  });
  return cells;
}

/** Heatmap: rows = true class, columns = predicted; colour = share of the row, text = count. */
export function confusionSpec(confusion: number[][], classes: string[], opts: { title?: string } = {}): ChartSpec {
  const k = classes.length;
  const cell = Math.max(26, Math.min(56, Math.floor(440 / Math.max(1, k))));
  const sort = [...classes];
  return {
    $schema: SCHEMA,
    title: { text: opts.title ?? 'Confusion matrix', subtitle: 'colour: share of the true class (row); text: count' },
    config: CHART_CONFIG,
    width: cell * k,
    height: cell * k,
    data: { values: confusionCells(confusion, classes) },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort, title: 'predicted class', axis: { labelAngle: -40, grid: false } },
      y: { field: 'true', type: 'nominal', sort, title: 'true class', axis: { grid: false } },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: {
            field: 'fraction',
            type: 'quantitative',
            title: 'row share',
            scale: { scheme: 'blues', domain: [0, 1] },
            legend: { format: '%', gradientLength: Math.max(120, cell * k - 20) },
          },
          tooltip: [
            { field: 'true', type: 'nominal' },
            { field: 'predicted', type: 'nominal' },
            { field: 'count', type: 'quantitative' },
            { field: 'fraction', type: 'quantitative', format: '.1%' },
          ],
        },
      },
      {
        mark: { type: 'text', fontSize: k > 10 ? 9 : 11 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.fraction > 0.55', value: 'white' }, value: '#222' },
        },
      },
    ],
  } satisfies ChartSpec;
}

// ---------------------------------------------------------------------------------------------
// 3. reliability diagram

/**
 * Reliability diagram from the calibration bins: per-bin accuracy as bars over the bin's confidence
 * range, the bin's mean confidence as a tick, the diagonal of perfect calibration, and below it the
 * number of samples per bin.
 */
export function reliabilitySpec(cal: Calibration, opts: { title?: string } = {}): ChartSpec {
  const bins = cal.bins
    .filter((b) => b.count > 0 && finite(b.accuracy) && finite(b.meanConfidence))
    .map((b) => ({
      lower: r6(b.lower),
      upper: r6(b.upper),
      mid: r6((b.lower + b.upper) / 2),
      accuracy: r6(b.accuracy),
      confidence: r6(b.meanConfidence),
      gap: r6(b.accuracy - b.meanConfidence),
      count: b.count,
    }));
  const x = { field: 'lower', type: 'quantitative' as const, scale: { domain: [0, 1] }, title: 'confidence (max probability)' };
  const ece = finite(cal.ece) ? `ECE ${cal.ece.toFixed(4)}, MCE ${finite(cal.mce) ? cal.mce.toFixed(4) : '-'}; ${cal.n} faces` : `${cal.n} faces`;
  return {
    $schema: SCHEMA,
    title: { text: opts.title ?? 'Reliability diagram', subtitle: ece },
    config: CHART_CONFIG,
    data: { values: bins },
    vconcat: [
      {
        width: 360,
        height: 300,
        layer: [
          {
            mark: { type: 'bar', color: '#4c78a8', opacity: 0.7, stroke: 'white', strokeWidth: 0.5 },
            encoding: {
              x: { ...x, title: null },
              x2: { field: 'upper' },
              y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } },
              y2: { datum: 0 },
              tooltip: [
                { field: 'lower', type: 'quantitative', title: 'from' },
                { field: 'upper', type: 'quantitative', title: 'to' },
                { field: 'count', type: 'quantitative' },
                { field: 'accuracy', type: 'quantitative', format: '.3f' },
                { field: 'confidence', type: 'quantitative', format: '.3f' },
              ],
            },
          },
          {
            data: { values: [{ a: 0, b: 0 }, { a: 1, b: 1 }] },
            mark: { type: 'line', color: '#333', strokeDash: [4, 3], strokeWidth: 1.5 },
            encoding: {
              x: { field: 'a', type: 'quantitative', scale: { domain: [0, 1] }, title: null },
              y: { field: 'b', type: 'quantitative', scale: { domain: [0, 1] } },
            },
          },
          {
            mark: { type: 'point', shape: 'diamond', filled: true, color: '#e45756', size: 50 },
            encoding: {
              x: { field: 'confidence', type: 'quantitative', scale: { domain: [0, 1] } },
              y: { field: 'confidence', type: 'quantitative' },
            },
          },
        ],
      },
      {
        width: 360,
        height: 70,
        mark: { type: 'bar', color: '#9ecae9', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x,
          x2: { field: 'upper' },
          y: { field: 'count', type: 'quantitative', title: 'samples' },
          y2: { datum: 0 },
        },
      },
    ],
  } satisfies ChartSpec;
}

// ---------------------------------------------------------------------------------------------
// 4. uncertainty against vote entropy

export interface EntropyPoint {
  /** Entropy of the annotators' vote distribution (nats). */
  entropy: number;
  /** The model's uncertainty (1 - confidence). */
  uncertainty: number;
  /** Whether the model's prediction was right. */
  correct?: boolean;
}

/** Base-2 van der Corput sequence in [0, 1): evenly spread, deterministic jitter. */
function halton(i: number): number {
  let f = 0.5;
  let r = 0;
  while (i > 0) {
    r += f * (i & 1);
    i >>= 1;
    f /= 2;
  }
  return r;
}

/** Equal-width bins over the vote entropy: mean and standard deviation of the uncertainty per bin. */
export function binByEntropy(
  points: EntropyPoint[],
  bins = 10,
): { lower: number; upper: number; mid: number; meanEntropy: number; mean: number; sd: number; count: number }[] {
  const pts = points.filter((p) => finite(p.entropy) && finite(p.uncertainty));
  if (pts.length === 0) return [];
  let hi = 0;
  for (const p of pts) hi = Math.max(hi, p.entropy);
  if (hi <= 0) hi = 1;
  const sum = new Float64Array(bins);
  const hsum = new Float64Array(bins);
  const sq = new Float64Array(bins);
  const cnt = new Float64Array(bins);
  for (const p of pts) {
    const b = Math.min(bins - 1, Math.floor((p.entropy / hi) * bins));
    sum[b] += p.uncertainty;
    hsum[b] += p.entropy;
    sq[b] += p.uncertainty * p.uncertainty;
    cnt[b]++;
  }
  const out = [];
  for (let b = 0; b < bins; b++) {
    if (cnt[b] === 0) continue;
    const mean = sum[b] / cnt[b];
    const sd = Math.sqrt(Math.max(0, sq[b] / cnt[b] - mean * mean));
    const lower = (b / bins) * hi;
    const upper = ((b + 1) / bins) * hi;
    out.push({ lower: r6(lower), upper: r6(upper), mid: r6((lower + upper) / 2), meanEntropy: r6(hsum[b] / cnt[b]), mean: r6(mean), sd: r6(sd), count: cnt[b] });
  }
  return out;
}

/**
 * The model's uncertainty against the annotators' disagreement (vote entropy). Up to `maxPoints`
 * samples are drawn as a scatter (colour: right or wrong); beyond that, binned means ± one standard
 * deviation with the bin's sample count as the point size.
 */
export function uncertaintyEntropySpec(
  points: EntropyPoint[],
  opts: { spearman?: number; maxPoints?: number; bins?: number; title?: string } = {},
): ChartSpec {
  const pts = points.filter((p) => finite(p.entropy) && finite(p.uncertainty));
  const rho = finite(opts.spearman) ? `Spearman ρ = ${opts.spearman.toFixed(4)}, ` : '';
  const text = opts.title ?? 'Model uncertainty vs annotator disagreement';
  const xTitle = 'entropy of the annotators’ votes (nats)';
  const yTitle = 'model uncertainty (1 − confidence)';
  if (pts.length <= (opts.maxPoints ?? 1500)) {
    // vote entropies take few distinct values (10 annotators): a small deterministic horizontal
    // jitter keeps the points at one value from hiding each other
    let hi = 0;
    for (const p of pts) hi = Math.max(hi, p.entropy);
    const spread = 0.012 * (hi > 0 ? hi : 1);
    const values = pts.map((p, i) => ({
      entropy: r6(p.entropy),
      x: r6(Math.max(0, p.entropy + spread * (2 * halton(i + 1) - 1))),
      uncertainty: r6(p.uncertainty),
      outcome: p.correct === undefined ? 'no label' : p.correct ? 'correct' : 'wrong',
    }));
    const outcomes = (['correct', 'wrong', 'no label'] as const).filter((o) => values.some((v) => v.outcome === o));
    const colours: Record<string, string> = { correct: '#4c78a8', wrong: '#e45756', 'no label': '#777777' };
    return {
      $schema: SCHEMA,
      title: { text, subtitle: `${rho}${pts.length} faces` },
      config: CHART_CONFIG,
      width: 380,
      height: 300,
      data: { values },
      mark: { type: 'circle', opacity: 0.55, size: 28 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: `${xTitle}, jittered` },
        y: { field: 'uncertainty', type: 'quantitative', title: yTitle, scale: { domain: [0, 1] } },
        color: {
          field: 'outcome',
          type: 'nominal',
          title: 'prediction',
          scale: { domain: outcomes, range: outcomes.map((o) => colours[o]) },
        },
        tooltip: [
          { field: 'entropy', type: 'quantitative', format: '.3f', title: 'vote entropy' },
          { field: 'uncertainty', type: 'quantitative', format: '.3f' },
          { field: 'outcome', type: 'nominal' },
        ],
      },
    } satisfies ChartSpec;
  }
  const binned = binByEntropy(pts, opts.bins ?? 10).map((b) => ({ ...b, lo: r6(Math.max(0, b.mean - b.sd)), hi: r6(Math.min(1, b.mean + b.sd)) }));
  return {
    $schema: SCHEMA,
    title: { text, subtitle: `${rho}${pts.length} faces; binned means ± 1 sd, at each bin's mean entropy` },
    config: CHART_CONFIG,
    width: 380,
    height: 300,
    data: { values: binned },
    encoding: { x: { field: 'meanEntropy', type: 'quantitative', title: xTitle } },
    layer: [
      {
        mark: { type: 'rule', color: '#9ecae9', strokeWidth: 2 },
        encoding: { y: { field: 'lo', type: 'quantitative', title: yTitle, scale: { domain: [0, 1] } }, y2: { field: 'hi' } },
      },
      { mark: { type: 'line', color: '#4c78a8' }, encoding: { y: { field: 'mean', type: 'quantitative' } } },
      {
        mark: { type: 'circle', color: '#4c78a8', opacity: 0.9 },
        encoding: {
          y: { field: 'mean', type: 'quantitative' },
          size: { field: 'count', type: 'quantitative', title: 'samples', scale: { range: [20, 300] } },
          tooltip: [
            { field: 'lower', type: 'quantitative', format: '.3f', title: 'entropy from' },
            { field: 'upper', type: 'quantitative', format: '.3f', title: 'entropy to' },
            { field: 'mean', type: 'quantitative', format: '.3f' },
            { field: 'sd', type: 'quantitative', format: '.3f' },
            { field: 'count', type: 'quantitative' },
          ],
        },
      },
    ],
  } satisfies ChartSpec;
}

// ---------------------------------------------------------------------------------------------
// 5. risk-coverage

/** Evenly thinned indices 0..n-1 (always keeping the last) so a long curve stays a small spec. */
export function thin(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let t = 0; t < max; t++) out.push(Math.round((t * (n - 1)) / (max - 1)));
  return [...new Set(out)];
}

/**
 * Risk (error rate of the kept samples) against coverage (share kept, most sure first), with the
 * ideal ordering for the same predictions (all errors last) and the report's coverage points marked.
 */
export function riskCoverageSpec(rc: RiskCoverage, opts: { maxPoints?: number; title?: string } = {}): ChartSpec {
  const n = rc.curve.coverage.length;
  const idx = thin(n, opts.maxPoints ?? 400);
  const errors = n === 0 ? 0 : Math.round(rc.curve.risk[n - 1] * n);
  const correct = n - errors;
  const rows: { coverage: number; risk: number; series: string }[] = [];
  for (const i of idx) {
    const m = i + 1;
    rows.push({ coverage: r6(rc.curve.coverage[i]), risk: r6(rc.curve.risk[i]), series: 'model (most sure first)' });
    rows.push({ coverage: r6(m / n), risk: r6(Math.max(0, m - correct) / m), series: 'ideal ordering' });
  }
  const pts = rc.points.filter((p) => finite(p.accuracy)).map((p) => ({ coverage: p.coverage, risk: r6(1 - p.accuracy), label: `${Math.round(p.coverage * 100)}%: acc ${(p.accuracy * 100).toFixed(1)}%` }));
  const aurc = finite(rc.aurc) ? `AURC ${rc.aurc.toFixed(4)} (ideal ${rc.optimalAurc.toFixed(4)}); ${rc.n} faces` : `${rc.n} faces`;
  return {
    $schema: SCHEMA,
    title: { text: opts.title ?? 'Risk-coverage', subtitle: aurc },
    config: CHART_CONFIG,
    width: 380,
    height: 300,
    layer: [
      {
        data: { values: rows },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: { field: 'coverage', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' }, title: 'coverage (share of samples kept)' },
          y: { field: 'risk', type: 'quantitative', title: 'risk (error rate of kept samples)', scale: { domainMin: 0 } },
          color: {
            field: 'series',
            type: 'nominal',
            title: null,
            scale: { domain: ['model (most sure first)', 'ideal ordering'], range: ['#4c78a8', '#bbbbbb'] },
            legend: { orient: 'top-left', labelLimit: 260 },
          },
          strokeDash: { field: 'series', type: 'nominal', scale: { domain: ['model (most sure first)', 'ideal ordering'], range: [[1, 0], [4, 3]] } },
        },
      },
      {
        data: { values: pts },
        mark: { type: 'point', filled: true, color: '#e45756', size: 60 },
        encoding: { x: { field: 'coverage', type: 'quantitative' }, y: { field: 'risk', type: 'quantitative' } },
      },
      {
        data: { values: pts },
        mark: { type: 'text', align: 'right', dx: -6, dy: -8, fontSize: 10, color: '#b03030' },
        encoding: { x: { field: 'coverage', type: 'quantitative' }, y: { field: 'risk', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  } satisfies ChartSpec;
}

// ---------------------------------------------------------------------------------------------
// per-class bars (a compact view of the per-class table)

/** Precision, recall and F1 per class as grouped bars. */
export function perClassSpec(report: EvalReport, opts: { title?: string } = {}): ChartSpec {
  const rows = report.perClass.flatMap((c) =>
    (['precision', 'recall', 'f1'] as const).map((m) => ({ class: c.name, metric: m, value: r6(c[m]), support: c.support })),
  );
  return {
    $schema: SCHEMA,
    title: opts.title ?? 'Per-class precision, recall and F1',
    config: CHART_CONFIG,
    data: { values: rows },
    width: { step: 12 },
    height: 200,
    mark: 'bar',
    encoding: {
      x: { field: 'class', type: 'nominal', sort: report.classes, title: null, axis: { labelAngle: -40 } },
      xOffset: { field: 'metric', type: 'nominal', sort: ['precision', 'recall', 'f1'] },
      y: { field: 'value', type: 'quantitative', scale: { domain: [0, 1] }, title: null },
      color: { field: 'metric', type: 'nominal', sort: ['precision', 'recall', 'f1'], title: null, legend: { orient: 'top' } },
    },
  } satisfies ChartSpec;
}
