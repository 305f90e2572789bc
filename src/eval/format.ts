/**
 * Human-readable rendering of an EvalReport (see metrics.ts). Deterministic: the same report always
 * gives the same text. Lines stay within about 100 characters for up to ~12 classes; beyond that the
 * confusion matrix is allowed to run wider rather than become unreadable.
 */
import type { EvalReport } from './metrics.js';

export interface FormatOptions {
  /** Target line width (default 100). */
  width?: number;
  /** Title line (default "Evaluation"). */
  title?: string;
}

/** Number with `digits` decimals, or "-" for NaN / missing. */
export function fmtNum(x: number | null | undefined, digits = 4): string {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-';
}

/** Fraction as a percentage with 2 decimals ("75.00%"), or "-". */
export function fmtPct(x: number | null | undefined, digits = 2): string {
  return typeof x === 'number' && Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '-';
}

/** Fit a string into `w` characters: truncated with a trailing "." when longer. */
function fit(s: string, w: number): string {
  return s.length <= w ? s : w <= 1 ? s.slice(0, w) : s.slice(0, w - 1) + '.';
}

function table(header: string[], rows: string[][], leftCols = 1): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c < leftCols ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/**
 * Unique abbreviations of at most `len` characters: the name's prefix, or for prefixes that collide,
 * a shorter prefix followed by the class index.
 */
export function abbreviate(names: string[], len: number): string[] {
  let out = names.map((n) => n.slice(0, len));
  const dup = (a: string[]) => a.map((x) => a.indexOf(x) !== a.lastIndexOf(x));
  const d = dup(out);
  out = out.map((a, i) => (d[i] ? names[i].slice(0, Math.max(0, len - String(i).length)) + i : a));
  if (new Set(out).size < out.length) out = names.map((_, i) => String(i));
  return out;
}

function kv(rows: [string, string][]): string[] {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`);
}

/** The report as text: headline, per-class table, confusion matrix, reliability bins, uncertainty. */
export function formatReport(report: EvalReport, opts: FormatOptions = {}): string {
  const width = opts.width ?? 100;
  const k = report.classes.length;
  const out: string[] = [];
  out.push(`${opts.title ?? 'Evaluation'}: ${report.n} samples, ${report.labelled} labelled, ${k} classes`);
  out.push('');

  const head: [string, string][] = [
    ['Accuracy', fmtPct(report.accuracy)],
    ['Mean class accuracy', fmtPct(report.meanClassAccuracy)],
    [
      `ECE (${report.calibration.bins.length} bins)`,
      `${fmtNum(report.calibration.ece)}  (MCE ${fmtNum(report.calibration.mce)}, top-label confidence)`,
    ],
  ];
  if (report.votes) {
    head.push([
      'KL(votes || probs)',
      `${fmtNum(report.votes.kl)} nats over ${report.votes.n} samples with votes (eps ${report.votes.eps})`,
    ]);
    head.push(['Mean vote entropy', `${fmtNum(report.votes.meanEntropy)} nats`]);
  }
  out.push(...kv(head));
  out.push('');

  // per-class table
  const nameW = Math.min(20, Math.max(5, ...report.classes.map((c) => c.length)));
  out.push('Per class');
  out.push(
    ...table(
      ['class', 'precision', 'recall', 'f1', 'support'],
      report.perClass.map((c) => [
        fit(c.name, nameW),
        fmtNum(c.precision),
        fmtNum(c.recall),
        fmtNum(c.f1),
        String(c.support),
      ]),
    ),
  );
  out.push('');

  // confusion matrix
  const rowW = Math.min(16, Math.max(4, ...report.classes.map((c) => c.length)));
  let maxCount = 0;
  for (const r of report.confusion) for (const v of r) maxCount = Math.max(maxCount, v);
  const digits = String(maxCount).length;
  const longest = Math.max(...report.classes.map((c) => c.length));
  let abbrevLen = Math.min(10, longest);
  while (abbrevLen > 1 && rowW + k * (Math.max(digits, abbrevLen) + 2) > width) abbrevLen--;
  const cols = abbreviate(report.classes, abbrevLen);
  const cw = Math.max(digits, ...cols.map((c) => c.length));
  out.push('Confusion matrix (rows = true class, columns = predicted, same order)');
  out.push(''.padEnd(rowW) + cols.map((c) => '  ' + c.padStart(cw)).join(''));
  report.confusion.forEach((row, i) => {
    out.push(fit(report.classes[i], rowW).padEnd(rowW) + row.map((v) => '  ' + String(v).padStart(cw)).join(''));
  });
  out.push('');

  // reliability bins
  const bins = report.calibration.bins.filter((b) => b.count > 0);
  out.push('Reliability (top-label confidence; non-empty bins)');
  out.push(
    ...table(
      ['bin', 'count', 'confidence', 'accuracy'],
      bins.map((b) => [
        `(${b.lower.toFixed(2)}, ${b.upper.toFixed(2)}]`,
        String(b.count),
        fmtNum(b.meanConfidence),
        fmtNum(b.accuracy),
      ]),
    ),
  );

  const u = report.uncertainty;
  if (u) {
    out.push('');
    out.push(`Uncertainty (from ${u.source}; risk-coverage over ${u.riskCoverage.n} labelled samples)`);
    const rows: [string, string][] = [];
    if (u.spearmanVoteEntropy !== undefined) {
      rows.push(['Spearman(uncertainty, vote entropy)', fmtNum(u.spearmanVoteEntropy)]);
    }
    if (u.maxProbSpearmanVoteEntropy !== undefined) {
      rows.push(['Spearman(1 - max p, vote entropy)', fmtNum(u.maxProbSpearmanVoteEntropy)]);
    }
    rows.push(['AURC', fmtNum(u.riskCoverage.aurc)]);
    rows.push(['E-AURC (AURC - optimal)', fmtNum(u.riskCoverage.eAurc)]);
    out.push(...kv(rows));
    out.push(
      ...table(
        ['coverage', 'kept', 'accuracy'],
        u.riskCoverage.points.map((p) => [fmtPct(p.coverage, 0), String(p.kept), fmtPct(p.accuracy)]),
        0,
      ),
    );
  }
  return out.join('\n') + '\n';
}
