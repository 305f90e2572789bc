/**
 * The report's HTML page: headline figures, the figures (PNG files next to the page), the per-class
 * table, the config summary and where everything came from. Pure: data in, one HTML string out, with
 * no scripts and no external resources, so the folder can be copied or attached as is.
 */
import type { EvalReport } from '../eval/metrics.js';
import type { PoiConfig } from '../model/config.js';
import { objectiveOf } from '../model/objectives.js';

export interface Figure {
  /** PNG file name, relative to the page. */
  file: string;
  title: string;
  caption?: string;
  /** Display width in CSS pixels (the PNG may be rendered at a higher density). */
  width?: number;
  /** Stable id for links and tests. */
  id?: string;
}

export interface HeadlineFigure {
  /** Same keys as the validation figures in log.jsonl (train/trainer.ts `headline`). */
  key: string;
  label: string;
  value: number;
  /** Formatted for display. */
  text: string;
  /** What the number means, shown as a tooltip and under the number. */
  hint: string;
}

export interface ReportPage {
  title: string;
  generatedAt: string;
  /** Where the numbers come from: model, data, split, faces, backend... */
  source: [string, string][];
  report: EvalReport;
  /** Training summary (epochs, best epoch, time), when the report is made from a run folder. */
  training?: [string, string][];
  /** Short config summary rows. */
  config?: [string, string][];
  /** The full config, shown folded. */
  configJson?: unknown;
  figures: Figure[];
  /** Things the reader should know (a plot left out and why, a truncated set...). */
  notes?: string[];
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function pct(x: number, digits = 2): string {
  return finite(x) ? `${(x * 100).toFixed(digits)}%` : '–';
}

function dec(x: number, digits = 4): string {
  return finite(x) ? x.toFixed(digits) : '–';
}

/** The headline numbers of an evaluation, in display order (keys as in train/trainer.ts `headline`). */
export function headlineFigures(r: EvalReport): HeadlineFigure[] {
  const out: HeadlineFigure[] = [
    { key: 'accuracy', label: 'Accuracy', value: r.accuracy, text: pct(r.accuracy), hint: `${r.labelled} labelled faces` },
    {
      key: 'meanClassAccuracy',
      label: 'Mean class accuracy',
      value: r.meanClassAccuracy,
      text: pct(r.meanClassAccuracy),
      hint: 'mean recall over the classes present',
    },
  ];
  if (r.votes) {
    out.push({
      key: 'klToVotes',
      label: 'KL(votes ‖ probs)',
      value: r.votes.kl,
      text: dec(r.votes.kl),
      hint: `nats, over ${r.votes.n} faces with votes; lower is better`,
    });
  }
  const u = r.uncertainty;
  if (u?.spearmanVoteEntropy !== undefined) {
    out.push({
      key: 'spearman',
      label: 'Spearman(uncertainty, vote entropy)',
      value: u.spearmanVoteEntropy,
      text: dec(u.spearmanVoteEntropy),
      hint: 'higher = less sure where annotators disagree',
    });
  }
  out.push({
    key: 'ece',
    label: `ECE (${r.calibration.bins.length} bins)`,
    value: r.calibration.ece,
    text: dec(r.calibration.ece),
    hint: 'top-label calibration error; lower is better',
  });
  if (u) {
    for (const p of u.riskCoverage.points) {
      const c = Math.round(p.coverage * 100);
      out.push({
        key: `acc@${c}`,
        label: `Accuracy @ ${c}% coverage`,
        value: p.accuracy,
        text: pct(p.accuracy),
        hint: `the ${p.kept} most-sure faces`,
      });
    }
    out.push({
      key: 'aurc',
      label: 'AURC',
      value: u.riskCoverage.aurc,
      text: dec(u.riskCoverage.aurc),
      hint: `area under risk-coverage (ideal ${dec(u.riskCoverage.optimalAurc)}); lower is better`,
    });
  }
  return out;
}

/** The config rows a reader wants first. */
export function configSummary(c: PoiConfig): [string, string][] {
  const bb = (b: { kind: string; widths: number[]; depths: number[]; dropout: number }) =>
    `${b.kind} widths [${b.widths.join(', ')}] depths [${b.depths.join(', ')}], dropout ${b.dropout}`;
  const m = c.model;
  const rows: [string, string][] = [
    ['preset', c.preset],
    ['method', m.method],
    ['input', `${m.input.height}×${m.input.width}×${m.input.channels} (mean ${m.input.mean}, std ${m.input.std})`],
    ['TRN backbone', bb(m.trn)],
  ];
  if (objectiveOf(m).usesPin) {
    const stem = m.pin.shareTrnStages > 0 ? `TRN's first ${m.pin.shareTrnStages} backbone stages (shared)` : bb(m.pin.stem);
    rows.push(['PIN', `stem ${stem}; branches [${m.pin.branchWidths.join(', ')}]; AU prior ${m.pin.useAuPrior ? 'on' : 'off'}; mutual ${m.pin.mutual ? 'on' : 'off'}`]);
    rows.push(['uncertainty module', m.uncertainty.enabled ? `on (hidden ${m.uncertainty.hidden}, loss weight ${m.uncertainty.lossWeight})` : 'off']);
    rows.push(['transfer', `warm-up ${m.transfer.warmupEpochs} ep, ramp ${m.transfer.rampEpochs} ep, max weight ${m.transfer.maxWeight}, T ${m.transfer.temperature}, teacher ${m.transfer.teacher ?? 'pin'}`]);
  }
  const t = c.train;
  rows.push(['schedule', `${t.epochs} epochs, batch ${t.batchSize}, ${t.optimizer} lr ${t.lr} (warm-up ${t.lrWarmupEpochs} ep, cosine to ×${t.minLrFactor}), weight decay ${t.weightDecay}`]);
  rows.push(['augmentation', t.augment?.enabled ? 'on' : 'off']);
  rows.push(['label smoothing', String(t.labelSmoothing)]);
  rows.push(['label noise', c.noise > 0 ? `${(c.noise * 100).toFixed(0)}% flipped` : 'none']);
  rows.push(['seed', String(c.seed)]);
  return rows;
}

function kvTable(rows: [string, string][], cls = 'kv'): string {
  return `<table class="${cls}">\n${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n')}\n</table>`;
}

function perClassTable(r: EvalReport): string {
  const head = '<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>';
  const rows = r.perClass.map(
    (c) =>
      `<tr data-class="${escapeHtml(c.name)}"><th>${escapeHtml(c.name)}</th><td>${dec(c.precision, 3)}</td><td>${dec(c.recall, 3)}</td><td>${dec(c.f1, 3)}</td><td>${c.support}</td></tr>`,
  );
  return `<table class="num" id="per-class">\n<thead>${head}</thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table>`;
}

const CSS = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222; margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; margin: 0 0 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px; }
.card { background: #fff; border: 1px solid #e2e4e8; border-radius: 8px; padding: 10px 12px; }
.card .label { font-size: 12px; color: #555; }
.card .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .hint { font-size: 11px; color: #888; }
figure { background: #fff; border: 1px solid #e2e4e8; border-radius: 8px; margin: 0 0 16px; padding: 12px; display: inline-block; vertical-align: top; max-width: 100%; box-sizing: border-box; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 13px; color: #555; margin-top: 6px; max-width: 720px; }
table { border-collapse: collapse; background: #fff; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
table.num td { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { color: #555; font-weight: 500; white-space: nowrap; }
.notes { background: #fff8e1; border: 1px solid #f0d98c; border-radius: 8px; padding: 8px 14px; }
details pre { background: #fff; border: 1px solid #e2e4e8; padding: 10px; overflow: auto; font-size: 12px; }
.cols { display: flex; flex-wrap: wrap; gap: 24px; }
`;

/** The whole page. */
export function reportHtml(p: ReportPage): string {
  const cards = headlineFigures(p.report)
    .map(
      (h) =>
        `<div class="card" data-metric="${escapeHtml(h.key)}" data-value="${String(h.value)}" title="${escapeHtml(h.hint)}">` +
        `<div class="label">${escapeHtml(h.label)}</div><div class="value">${escapeHtml(h.text)}</div><div class="hint">${escapeHtml(h.hint)}</div></div>`,
    )
    .join('\n');
  const figs = p.figures
    .map(
      (f) =>
        `<figure${f.id ? ` id="${escapeHtml(f.id)}"` : ''}><img src="${encodeURI(f.file)}" alt="${escapeHtml(f.title)}"${f.width ? ` width="${Math.round(f.width)}"` : ''}>` +
        `<figcaption><b>${escapeHtml(f.title)}.</b>${f.caption ? ' ' + escapeHtml(f.caption) : ''}</figcaption></figure>`,
    )
    .join('\n');
  const notes = p.notes?.length ? `<div class="notes"><ul>\n${p.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('\n')}\n</ul></div>` : '';
  const setup: string[] = [];
  if (p.training?.length) setup.push(`<div><h3>Training</h3>\n${kvTable(p.training)}</div>`);
  if (p.config?.length) setup.push(`<div><h3>Config</h3>\n${kvTable(p.config)}</div>`);
  const full =
    p.configJson !== undefined ? `<details><summary>Full config</summary><pre>${escapeHtml(JSON.stringify(p.configJson, null, 2))}</pre></details>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="poi report">
<title>${escapeHtml(p.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>${escapeHtml(p.title)}</h1>
<p class="sub">Generated ${escapeHtml(p.generatedAt)} by <code>poi report</code>.</p>
${kvTable(p.source, 'kv source')}
<h2>Headline</h2>
<div class="cards" id="headline">
${cards}
</div>
${notes}
<h2>Figures</h2>
${figs}
<h2>Per class</h2>
${perClassTable(p.report)}
<h2>Setup</h2>
<div class="cols">
${setup.join('\n')}
</div>
${full}
</main>
</body>
</html>
`;
}
