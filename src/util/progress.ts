/**
 * A terminal progress bar for long loops (training epochs, image decoding, evaluation):
 *
 *   const bar = new Progress({ total: 450, label: 'epoch 3', unit: 'img' });
 *   for (...) bar.tick(batchSize, { loss, acc });
 *   bar.done({ loss, acc });
 *
 * prints `epoch 3 [######..............] 120/450 27% loss 1.234 acc 0.512 37.5 img/s ETA 8.8s`.
 * On a TTY the line is redrawn in place (\r, clear to end of line) at most ~5 times a second. On
 * anything else (a log file, a pipe, CI) a plain line is printed at each 10% of the total or after
 * 30 s without one, so logs stay short and readable. The rate is items per second since the bar was
 * created; the ETA is the remaining items at that rate.
 *
 * No Node-only imports: the clock and the stream are injectable (tests, browser).
 */

/** What the bar writes to: process.stderr, or anything with write() (tests, a browser shim). */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export type ProgressFields = Record<string, number | string>;

export interface ProgressOptions {
  /** Items expected; 0 or less (or non-finite) means unknown: no bar, percentage or ETA. */
  total: number;
  /** Text before the bar. */
  label?: string;
  /** Where to write (default process.stderr; console.log where there is no process). */
  stream?: ProgressStream;
  /** Clock in milliseconds (default Date.now). */
  now?: () => number;
  /** Unit of the rate, e.g. "img" gives "37.5 img/s" (default "it"). */
  unit?: string;
  /** Characters in the bar (default 20). */
  barWidth?: number;
  /** Force TTY (in place) or plain mode; default: the stream's isTTY. */
  tty?: boolean;
  /** TTY: minimum milliseconds between redraws (default 200, i.e. ~5 redraws/s). */
  redrawMs?: number;
  /** Plain mode: print a line each time this fraction of the total is crossed (default 0.1). */
  plainEveryFraction?: number;
  /** Plain mode: print a line when this many milliseconds passed since the last one (default 30000). */
  plainEveryMs?: number;
}

/** Seconds as a short duration: "4.2s", "42s", "3m12s", "1h05m". Non-finite gives "?". */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 0) s = 0;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const t = Math.round(s);
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** A field value as shown on the bar: integers as they are, other numbers with 3 decimals. */
export function formatField(v: number | string): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? v.toFixed(3) : v.toExponential(2);
}

function formatRate(r: number): string {
  if (!Number.isFinite(r)) return '-';
  return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2);
}

function defaultStream(): ProgressStream {
  const p = (globalThis as { process?: { stderr?: ProgressStream } }).process;
  if (p?.stderr) return p.stderr;
  return { write: (s: string) => console.log(s.replace(/\n$/, '')), isTTY: false };
}

export class Progress {
  readonly total: number;
  readonly label: string;
  /** Items done so far. */
  count = 0;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly unit: string;
  private readonly barWidth: number;
  private readonly tty: boolean;
  private readonly redrawMs: number;
  private readonly everyFraction: number;
  private readonly everyMs: number;
  private readonly start: number;
  private fields: ProgressFields = {};
  private lastDraw = -Infinity;
  private lastPlain: number;
  private lastMilestone = 0;
  private finished = false;

  constructor(opts: ProgressOptions) {
    this.total = Number.isFinite(opts.total) && opts.total > 0 ? opts.total : 0;
    this.label = opts.label ?? '';
    this.stream = opts.stream ?? defaultStream();
    this.now = opts.now ?? Date.now;
    this.unit = opts.unit ?? 'it';
    this.barWidth = opts.barWidth ?? 20;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    this.redrawMs = opts.redrawMs ?? 200;
    this.everyFraction = opts.plainEveryFraction ?? 0.1;
    this.everyMs = opts.plainEveryMs ?? 30000;
    this.start = this.now();
    this.lastPlain = this.start;
  }

  /** Seconds since the bar was created. */
  elapsed(): number {
    return (this.now() - this.start) / 1000;
  }

  /** Items per second since the bar was created (NaN before any time has passed). */
  rate(): number {
    const e = this.elapsed();
    return e > 0 ? this.count / e : NaN;
  }

  /** Record `n` more items done and the latest values of `fields` (merged with earlier ones). */
  tick(n = 1, fields?: ProgressFields): void {
    if (this.finished) return;
    this.count += n;
    if (fields) this.fields = { ...this.fields, ...fields };
    const t = this.now();
    const complete = this.total > 0 && this.count >= this.total;
    if (this.tty) {
      if (complete || t - this.lastDraw >= this.redrawMs) {
        this.lastDraw = t;
        this.stream.write('\r' + this.fitWidth(this.line(false)) + '\x1b[K');
      }
      return;
    }
    // plain: each crossed milestone (the final line is left to done()), or after everyMs of silence
    let milestone = false;
    if (this.total > 0 && this.everyFraction > 0) {
      const m = Math.floor((this.count / this.total) / this.everyFraction + 1e-9);
      if (m > this.lastMilestone) {
        this.lastMilestone = m;
        milestone = !complete;
      }
    }
    if (milestone || t - this.lastPlain >= this.everyMs) {
      this.lastPlain = t;
      this.stream.write(this.line(false) + '\n');
    }
  }

  /** Print the final line (with the elapsed time instead of the ETA) and end it with a newline. */
  done(fields?: ProgressFields): void {
    if (this.finished) return;
    this.finished = true;
    if (fields) this.fields = { ...this.fields, ...fields };
    const text = this.line(true);
    this.stream.write(this.tty ? '\r' + this.fitWidth(text) + '\x1b[K\n' : text + '\n');
  }

  /** The status text: label, bar, count, percentage, fields, rate, and ETA (or elapsed when final). */
  line(final: boolean): string {
    const parts: string[] = [];
    if (this.label) parts.push(this.label);
    if (this.total > 0) {
      const frac = Math.min(1, Math.max(0, this.count / this.total));
      const filled = Math.floor(frac * this.barWidth);
      parts.push(`[${'#'.repeat(filled)}${'.'.repeat(this.barWidth - filled)}]`);
      parts.push(`${this.count}/${this.total}`);
      const pct = this.count >= this.total ? 100 : Math.min(99, Math.round(frac * 100));
      parts.push(`${pct}%`);
    } else {
      parts.push(String(this.count));
    }
    for (const [k, v] of Object.entries(this.fields)) parts.push(`${k} ${formatField(v)}`);
    const rate = this.rate();
    parts.push(`${formatRate(rate)} ${this.unit}/s`);
    if (final) {
      parts.push(`done in ${formatDuration(this.elapsed())}`);
    } else if (this.total > 0) {
      const eta = rate > 0 ? Math.max(0, this.total - this.count) / rate : NaN;
      parts.push(`ETA ${formatDuration(eta)}`);
    } else {
      parts.push(`elapsed ${formatDuration(this.elapsed())}`);
    }
    return parts.join(' ');
  }

  private fitWidth(s: string): string {
    const c = this.stream.columns;
    return c && c > 1 && s.length > c - 1 ? s.slice(0, c - 1) : s;
  }
}
