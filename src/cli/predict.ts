/**
 * `poi predict <files, folders or globs>`: expressions of every face in photos.
 *
 * Output: a table (default) or, with --json, one JSON object per line per face: {path, face, ...FaceResult}.
 * An image without a face gives one line {path, face: null, faces: 0}; a file that cannot be read gives
 * {path, error}. Bad files never stop the batch; the exit code is 1 when any failed.
 */
import type { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { relative } from 'node:path';
import { num, parse, str, UsageError, type Options, type Parsed, RUN_OPTIONS, runOptions } from './args.js';
import { expandInputs } from '../util/glob.js';
import { Progress } from '../util/progress.js';
import type { FaceResult, ImageResult, RecognizerOptions } from '../infer/recognizer.js';
import { LOCATORS, parseShrink } from '../face/kinds.js';
import { addTiming, emptyTiming, formatMs, STAGES, type StageTiming } from '../infer/timing.js';

export const PREDICT_OPTIONS: Options = {
  model: { type: 'string' },
  detector: { type: 'string' },
  'min-score': { type: 'string' },
  'max-side': { type: 'string' },
  'max-faces': { type: 'string' },
  'max-file-mb': { type: 'string' },
  ...RUN_OPTIONS,
  shrink: { type: 'string' },
};

/** Recognizer options from the flags predict and serve share. */
export function recognizerOptions(v: Parsed['values']): RecognizerOptions {
  const detector = str(v.detector);
  if (detector !== undefined && !(LOCATORS as readonly string[]).includes(detector)) throw new UsageError(`--detector: ${LOCATORS.join(', ')}, got "${detector}"`);
  let shrink: RecognizerOptions['shrink'];
  try {
    shrink = parseShrink(str(v.shrink));
  } catch (e) {
    throw new UsageError(`--${(e as Error).message}`);
  }
  return {
    model: str(v.model),
    ...runOptions(v),
    detector: detector as RecognizerOptions['detector'],
    minScore: num('min-score', v['min-score'], { min: 0.01, max: 0.99 }),
    maxSide: num('max-side', v['max-side'], { int: true, min: 64 }),
    maxFaces: num('max-faces', v['max-faces'], { int: true, min: 1 }),
    maxFileMb: num('max-file-mb', v['max-file-mb'], { min: 0 }),
    shrink,
  };
}

export interface Io {
  out: Pick<Writable, 'write'>;
  err: Pick<Writable, 'write'> & { isTTY?: boolean; columns?: number };
}

const defaultIo = (): Io => ({ out: process.stdout, err: process.stderr });

const pct = (p: number) => `${Math.round(p * 100)}%`;

function top(dist: Record<string, number>, n: number): string {
  return Object.entries(dist)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${pct(v)}`)
    .join(', ');
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/**
 * A file name fitted to the column: long paths keep their end (the file name), cut at a folder boundary
 * where one falls in the kept part ("…/@vladmandic/face-api/demo/sample1.jpg", not "…s/@vladmandic/...").
 */
export function fitName(s: string, n: number): string {
  if (s.length <= n) return pad(s, n);
  const tail = s.slice(s.length - n + 1);
  const cut = tail.search(/[\\/]/);
  return pad(cut >= 0 && cut < tail.length - 1 ? '…' + tail.slice(cut) : '…' + tail, n);
}

/** The table: one row per face, explain lines below it. */
class Table {
  private header = false;
  constructor(private readonly io: Io, private readonly nameWidth: number) {}
  private head(): void {
    if (this.header) return;
    this.header = true;
    this.io.out.write(`${pad('image', this.nameWidth)}  face  ${pad('box x,y wxh', 20)}  ${pad('emotion', 10)}  prob  conf  distribution\n`);
  }
  face(name: string, i: number, f: FaceResult): void {
    this.head();
    const b = f.box;
    const box = `${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.width)}x${Math.round(b.height)}`;
    this.io.out.write(
      `${fitName(name, this.nameWidth)}  ${pad(String(i + 1), 4)}  ${pad(box, 20)}  ${pad(f.emotion, 10)}  ${pad(pct(f.probability), 4)}  ${pad(f.confidence.toFixed(2), 4)}  ${top(f.emotions, 3)}\n`,
    );
    if (f.regions) {
      for (const r of f.regions) {
        const aus = Object.entries(r.aus)
          .filter(([, v]) => v >= 0.5)
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(' ');
        this.io.out.write(`${' '.repeat(this.nameWidth + 8)}${pad(r.name, 8)} ${top(r.emotions, 2)}${aus ? `; active: ${aus}` : ''}\n`);
      }
      if (f.objective) this.io.out.write(`${' '.repeat(this.nameWidth + 8)}${pad('PIN', 8)} ${top(f.objective, 3)}\n`);
    }
  }
  note(name: string, text: string): void {
    this.head();
    this.io.out.write(`${fitName(name, this.nameWidth)}  ${text}\n`);
  }
}

export interface PredictRun {
  files: string[];
  json: boolean;
  explain: boolean;
  aligned: boolean;
  /** Inputs are face crops of any framing (cropped-face mode). */
  crop?: boolean;
  quiet: boolean;
  /** Print the time per stage to stderr at the end. */
  timing?: boolean;
  /** Images per TRN batch after the first image (default 16). */
  batch?: number;
  options: RecognizerOptions;
}

/**
 * The --timing summary: per stage, total and per image, and the wall time after start-up; `detector` (the
 * detect stage's cost depends on it) is named when one ran.
 */
export function timingReport(t: StageTiming, images: number, faces: number, wallMs: number, startMs: number, detector?: string): string {
  const n = Math.max(1, images);
  const lines = [`poi predict --timing: ${images} image(s), ${faces} face(s)${detector ? `, ${detector} detector` : ''}; start-up ${formatMs(startMs)} ms, then ${formatMs(wallMs)} ms (${formatMs(wallMs / n)} ms per image)`];
  lines.push(`  ${'stage'.padEnd(10)} ${'total ms'.padStart(9)} ${'ms/image'.padStart(9)}`);
  for (const k of STAGES) lines.push(`  ${k.padEnd(10)} ${formatMs(t[k]).padStart(9)} ${formatMs(t[k] / n).padStart(9)}`);
  lines.push('  (the next photo decodes while the current one is detected, so the stages add up to more than the wall time)');
  return lines.join('\n') + '\n';
}

/** Run predict over files; returns the exit code (1 when any input failed). */
export async function runPredict(run: PredictRun, missing: { input: string; error: string }[], io: Io = defaultIo()): Promise<number> {
  const { createRecognizer } = await import('../infer/recognizer.js');
  let failed = missing.length;
  for (const m of missing) {
    if (run.json) io.out.write(JSON.stringify({ path: m.input, error: m.error }) + '\n');
    io.err.write(`poi predict: ${m.error}\n`);
  }
  if (run.files.length === 0) {
    io.err.write('poi predict: no images to process\n');
    return 1;
  }
  const tStart = performance.now();
  const r = await createRecognizer(run.options);
  const names = run.files.map((f) => (f.startsWith('/') && !f.startsWith(process.cwd()) ? f : relative(process.cwd(), f) || f));
  const table = run.json ? null : new Table(io, Math.min(40, Math.max(5, ...names.map((n) => n.length))));
  const bar = run.files.length >= 20 && !run.quiet ? new Progress({ total: run.files.length, label: 'predict', unit: 'img', stream: io.err }) : null;
  let faces = 0;
  let noFace = 0;
  const timing = emptyTiming();
  if (run.timing) await r.warmup();
  const startMs = performance.now() - tStart;
  const tWork = performance.now();
  const B = Math.max(1, run.batch ?? 16);
  try {
    // the first image alone, so its lines come out at once (and a reader that has seen enough, `| head -1`,
    // stops poi early), then batches of B
    for (let b0 = 0; b0 < run.files.length; b0 += b0 === 0 ? 1 : B) {
      const paths = run.files.slice(b0, b0 === 0 ? 1 : b0 + B);
      const out = await r.recognizeBatch(paths, { explain: run.explain, aligned: run.aligned, crop: run.crop });
      out.forEach((res: ImageResult | Error, j) => {
        const i = b0 + j;
        const path = paths[j];
        if (res instanceof Error) {
          failed++;
          const msg = res.message;
          const text = msg.includes(path) ? msg : `${path}: ${msg}`;
          if (run.json) io.out.write(JSON.stringify({ path, error: text }) + '\n');
          else table!.note(names[i], `error: ${msg.replace(`${path}: `, '')}`);
          if (bar || run.json) io.err.write(`${bar && io.err.isTTY ? '\n' : ''}poi predict: ${text}\n`);
          return;
        }
        addTiming(timing, res.timing);
        const list = res.faces;
        faces += list.length;
        if (list.length === 0) noFace++;
        if (run.json) {
          if (list.length === 0) io.out.write(JSON.stringify({ path, face: null, faces: 0 }) + '\n');
          list.forEach((f, k) => io.out.write(JSON.stringify({ path, face: k, ...f }) + '\n'));
        } else if (list.length === 0) {
          table!.note(names[i], 'no face found');
        } else {
          list.forEach((f, k) => table!.face(names[i], k, f));
        }
      });
      bar?.tick(paths.length, { faces });
    }
  } finally {
    bar?.done({ faces });
    r.dispose();
  }
  if (run.timing) io.err.write(timingReport(timing, run.files.length - failed, faces, performance.now() - tWork, startMs, run.aligned || run.crop ? undefined : r.detector));
  if (!run.quiet && (failed > 0 || noFace > 0 || run.files.length > 1)) {
    io.err.write(`poi predict: ${run.files.length} image(s), ${faces} face(s), ${noFace} without a face, ${failed} failed\n`);
  }
  return failed > 0 ? 1 : 0;
}

/** Every option the command takes beyond the common ones (its usage in main.ts lists each). */
export const OPTIONS: Options = {
  ...PREDICT_OPTIONS,
  json: { type: 'boolean' },
  explain: { type: 'boolean' },
  aligned: { type: 'boolean' },
  crop: { type: 'boolean' },
  timing: { type: 'boolean' },
  batch: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
};

export async function predictCommand(argv: string[], io: Io = defaultIo()): Promise<number> {
  const { values, positionals } = parse('predict', argv, OPTIONS, true);
  if (positionals.length === 0) throw new UsageError('poi predict: give image files, folders or globs (poi predict --help for the options)');
  if (values.aligned && values.crop) throw new UsageError('poi predict: --aligned (FERPlus-aligned crops) and --crop (crops of any framing) exclude each other');
  const batch = num('batch', values.batch, { int: true, min: 1 });
  const options = recognizerOptions(values);
  const { files, missing } = expandInputs(positionals);
  return runPredict(
    { files, json: Boolean(values.json), explain: Boolean(values.explain), aligned: Boolean(values.aligned), crop: Boolean(values.crop), quiet: Boolean(values.quiet), timing: Boolean(values.timing), batch, options },
    missing,
    io,
  );
}

/** `poi` with no arguments: the shipped model on face-api's sample photo, and where to go next. */
export async function demoCommand(io: Io = defaultIo()): Promise<number> {
  const { faceApiSample } = await import('../face/detector.js');
  const sample = faceApiSample(1);
  io.err.write(`poi: recognising the faces in ${sample} with the shipped model...\n`);
  const code = await runPredict({ files: [sample], json: false, explain: false, aligned: false, quiet: true, options: {} }, [], io);
  io.out.write(`\nTry it on your own photos: poi predict <files|folders|globs> [--json] [--explain]; everything else: poi help\n`);
  return code;
}
