/** The `poi` command: dispatch to subcommands. Each returns an exit code. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { DATA_USAGE, RUN_USAGE, UsageError } from './args.js';
import { DEFAULT_MAX_SIDE } from '../face/resize.js';
import { DEFAULT_MAX_FILE_MB } from '../util/glob.js';

/**
 * One row per command, the one place its usage is written: a synopsis (up to the first blank line; `poi
 * help` lists them all), then for some commands the options in detail and examples (`poi <command>
 * --help` prints the whole text).
 */
interface Command {
  usage: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  train: {
    usage: `poi train --data <dir> --out <run dir> [--config <file|preset>] [--noise 0.3] [--seed N] [--resume | --overwrite]
          [--epochs N] [--lr X] [--batch-size N] [--val <dir>] [--limit-train N] [--limit-val N]
          [--split name] [--val-split name]   the training and validation splits (default: the dataset's own)
          [--noise-list <csv>]   flip the labels a published list names (noise/ferplus/) instead of drawing them
          [--checkpoint-minutes 5] [--quiet]`,
    run: async (a) => (await import('./train.js')).trainCommand(a),
  },
  eval: {
    usage: `poi eval  --model <dir> --data <dir> [--json] [--quiet]
          ${DATA_USAGE}
          ${RUN_USAGE}`,
    run: async (a) => (await import('./eval.js')).evalCommand(a),
  },
  calibrate: {
    usage: `poi calibrate <model dir> --data <dir> [--out <model dir>] [--seed N] [--dry-run] [--json] [--quiet]
          fit a temperature on a labelled split (default: validation) and bake it into TRN's head
          ${DATA_USAGE}
          ${RUN_USAGE}
          (with --tta flip, T is fitted to the flip-averaged reading)`,
    run: async (a) => (await import('./calibrate.js')).calibrateCommand(a),
  },
  balance: {
    usage: `poi balance <model dir> --data <dir> [--tau 1] [--split train] [--out <model dir>]
          post-hoc logit adjustment: subtract tau·log(training class frequency) from TRN's logits`,
    run: async (a) => (await import('./balance.js')).balanceCommand(a),
  },
  'fit-confidence': {
    usage: `poi fit-confidence <model dir> --data <dir> [--split train] [--val-split valid] [--epochs 20] [--seed 1]
          [--out <model dir>] [--dry-run] [--json] [--quiet]
          refit the uncertainty head towards the annotators' agreement (needs votes: FERPlus)

  --data <dir>        a dataset with annotators' votes (FERPlus's label.csv)
  --split name        the split the head is fitted on (default: the training split)
  --val-split name    the split Spearman(uncertainty, raw vote entropy) is measured on (default: validation)
  --epochs N          passes over the fitting split (default 20; Adam 1e-3, batches of 256)
  --seed N            seed of the head's initialisation and the shuffle (default 1)
  --out <model dir>   write there (default: the model folder itself)
  --dry-run           fit and measure; write nothing
  --json              the result as one JSON object
  -q, --quiet         no progress

The head (trn.unc.hidden → ReLU → trn.unc.out → sigmoid = c) is fitted afresh on TRN's frozen pooled
features by BCE towards 1 − H(votes)/log K, then replaces the trained one; probabilities are unchanged.
Independent of calibrate and balance, which change the emotion head: run them in either order.`,
    run: async (a) => (await import('./fit-confidence.js')).fitConfidenceCommand(a),
  },
  export: {
    usage: `poi export --onnx <model dir> [--out file]   write the TRN as ONNX (default <model dir>/model.onnx)
poi export --weights float16|uint8 <model dir> [--out dir]   the model folder with compact weights`,
    run: async (a) => (await import('./export.js')).exportCommand(a),
  },
  report: {
    usage: `poi report <run dir | model dir> [--out dir] [--data <dir>] [--faces N] [--quiet]
          ${DATA_USAGE}
          ${RUN_USAGE.replace('default auto: onnx when onnxruntime-node loads', 'default tfjs here: the engine the saved metrics were measured on')}

Writes report.html with PNG plots (training curves, confusion matrix, reliability diagram, uncertainty
vs vote entropy, risk-coverage, the most and least sure faces; --faces N of each, default 12) and
metrics.json into --out (default <dir>/report/). A run folder's model is <run>/best and its data the
validation split recorded in <run>/config.json; a bare model folder needs --data. --votes raw measures
KL and vote entropy against the FERPlus votes as cast (default: single votes dropped, Microsoft's rule,
as in poi eval). TRN runs on tfjs unless --runtime says otherwise (the engine the metrics saved with the
model were measured on).`,
    run: async (a) => (await import('./report.js')).reportCommand(a),
  },
  predict: {
    usage: `poi predict <files, folders or globs> [--json] [--explain] [--aligned] [--crop] [--model dir] [--detector blazeface|ssd|tiny] [--timing] [--max-file-mb N]
          ${RUN_USAGE}

  --json              one JSON object per line per face: {path, face, box, score, landmarks, emotions,
                      emotion, probability, confidence, uncertainty, ...}; {path, face: null, faces: 0}
                      for an image without a face; {path, error} for a file that cannot be read
  --explain           add PIN's per-region distributions, AU activations and region boxes
  --aligned           inputs are already aligned face crops (FERPlus, RAF-DB aligned): no detection
  --crop              inputs are face crops of any framing (tight, loose, other datasets'): landmarks are
                      found inside each crop without a detector, then the face is aligned as in photos
  --model <dir>       model folder (default: the shipped models/poi-ferplus)
  --detector D        blazeface (default: MediaPipe's BlazeFace, boxes and 6 keypoints in one small net;
                      the fastest, as accurate as the others), ssd (face-api's SSD + 68 landmarks: slower,
                      finds small and turned faces a little more often) or tiny (face-api's tiny
                      detector + 68 landmarks, between the two)
  --min-score X       detection threshold (default 0.5)
  --max-side N        shrink photos to this longer side before detection (default ${DEFAULT_MAX_SIDE})
  --max-faces N       at most N faces per image (default 100)
  --max-file-mb N     refuse image files larger than N MB (default ${DEFAULT_MAX_FILE_MB}); only regular files are read
  --runtime R         where TRN runs: auto (default: onnxruntime when it loads), onnx or tfjs
  --tta flip          also run TRN on each face's mirror image and average (about +0.5 points)
  --shrink sharp|js   how photos are shrunk to --max-side: sharp (libvips, default) or js (the browser
                      demo's code, for identical pixels)
  --timing            print the time per stage (decode, detect, landmarks, align, trn, explain) to stderr
  --batch N           images per TRN batch after the first one (default 16)
  -q, --quiet         no progress bar or summary

Folders are read recursively (png, jpg, jpeg, webp, tif, tiff, bmp); quote globs ("photos/**/*.jpg").
Exit code 1 when any input failed; the others are still processed.`,
    run: async (a) => (await import('./predict.js')).predictCommand(a),
  },
  serve: {
    usage: `poi serve [--port 8080] [--host 127.0.0.1] [--model dir] [--concurrency N] [--max-body-mb N] [--timeout-ms N]
          ${RUN_USAGE}

  --port N            port (default 8080; 0 picks a free one)
  --host H            address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --concurrency N     inferences at once (default 1; each already uses every core)
  --queue N           requests that may wait for a slot (default 32; more get 503)
  --max-body-mb X     largest upload in MiB (default 10; more get 413)
  --timeout-ms N      answer within this many ms, queueing included (default 30000; else 504)
  --quiet             no request log
  and predict's --model, --detector, --min-score, --max-side, --max-faces, --shrink, --runtime,
                      --tta, --backend, --threads (and --max-file-mb, which uploads do not use:
                      --max-body-mb bounds them)

  curl --data-binary @photo.jpg -H 'content-type: image/jpeg' 'http://127.0.0.1:8080/predict?explain=1'
  curl -F image=@photo.jpg http://127.0.0.1:8080/predict
  curl http://127.0.0.1:8080/health`,
    run: async (a) => (await import('./serve.js')).serveCommand(a),
  },
  demo: {
    usage: 'poi demo  [--port 8080] [--model dir] [--rebuild]   the browser demo on 127.0.0.1 (webcam or photo)',
    run: async (a) => (await import('./demo.js')).demoCommand(a),
  },
  presets: {
    usage: 'poi presets                 list the built-in training presets',
    async run() {
      const { PRESETS } = await import('../model/config.js');
      for (const [name, p] of Object.entries(PRESETS)) console.log(`${name.padEnd(20)} ${JSON.stringify(p)}`);
      return 0;
    },
  },
};

/** A command's synopsis: its usage up to the first blank line. */
const synopsis = (c: Command) => c.usage.split('\n\n')[0];

const COMMON = `Common options:
  --backend wasm|cpu|tensorflow   tensor backend (default: tfjs-node if installed, else wasm); env POI_BACKEND
  --threads N                     wasm threads (default: all cores); env POI_THREADS
  --help, -h                      this command's usage`;

const indent = (u: string) => u.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');

export const USAGE = `poi — facial expression recognition that knows when people disagree

Usage:
${Object.values(COMMANDS).map((c) => indent(synopsis(c))).join('\n')}
  poi                         demo: predict on a sample photo shipped with face-api
  poi help [command] | --help this text, or one command's usage
  poi --version

${COMMON}

Presets: poi (default), ce, ld, poi-no-prior, poi-no-mutual, poi-no-uncertainty, dlib (pretrained
dlib ResNet for TRN and PIN at 112x112), mobilefacenet (pretrained MobileFaceNet, 112x112 RGB), tiny;
join with "+",
e.g. --config ce+tiny. A JSON file may hold {"preset": "...", ...overrides}.
`;

/** `poi <command> --help`: the command's whole usage (synopsis, details, examples) and the common options. */
export function commandUsage(name: string): string {
  const c = COMMANDS[name];
  return `Usage:\n${indent(c.usage)}\n\n${COMMON}\n`;
}

export function version(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const pkg = JSON.parse(readFileSync(join(here, '..', '..', '..', 'package.json'), 'utf8'));
  return pkg.version;
}

/** Exit status when stdout or stderr is closed under poi: a process killed by SIGPIPE gives 128 + 13 in the shell. */
export const EXIT_PIPE_CLOSED = 141;

/**
 * A reader that goes away (`poi predict dir --json | head -1`) ends the command quietly with status
 * 141, as Unix tools that die of SIGPIPE do, instead of an uncaught EPIPE stack trace; there is no one
 * left to read the rest, so the work stops too.
 */
function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(EXIT_PIPE_CLOSED);
      throw e;
    });
  }
}

/** Run the CLI: usage errors exit 2, other failures 1, each with one clear line (POI_DEBUG=1 for the stack). */
export async function main(argv: string[]): Promise<number> {
  exitQuietlyOnClosedPipe();
  try {
    return await dispatch(argv);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`poi: ${err.message}\n`);
    if (process.env.POI_DEBUG) process.stderr.write(`${err.stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

async function dispatch(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== undefined && Object.hasOwn(COMMANDS, cmd)) {
    // every command answers --help with its own usage, before any of its own checks
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(commandUsage(cmd));
      return 0;
    }
    return COMMANDS[cmd].run(rest);
  }
  switch (cmd) {
    case undefined:
      return (await import('./predict.js')).demoCommand();
    case '--version':
    case '-v':
      console.log(version());
      return 0;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(rest[0] && Object.hasOwn(COMMANDS, rest[0]) ? commandUsage(rest[0]) : USAGE);
      return 0;
    default:
      process.stderr.write(`poi: unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}
