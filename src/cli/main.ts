/** The `poi` command: dispatch to subcommands. Each returns an exit code. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { DATA_USAGE, RUN_USAGE, UsageError } from './args.js';

/** One row per command: its usage lines (for `poi help` and `poi <command> --help`) and how to run it. */
interface Command {
  usage: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  train: {
    usage: `poi train --data <dir> --out <run dir> [--config <file|preset>] [--noise 0.3] [--seed N] [--resume | --overwrite]
          [--epochs N] [--lr X] [--batch-size N] [--val <dir>] [--limit-train N] [--limit-val N]
          [--noise-list <csv>]   flip the labels a published list names (noise/ferplus/) instead of drawing them`,
    run: async (a) => (await import('./train.js')).trainCommand(a),
  },
  eval: {
    usage: `poi eval  --model <dir> --data <dir> [--json]
          ${DATA_USAGE}
          ${RUN_USAGE}`,
    run: async (a) => (await import('./eval.js')).evalCommand(a),
  },
  calibrate: {
    usage: `poi calibrate <model dir> --data <dir> [--out <model dir>] [--seed N] [--dry-run] [--json]
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
  export: {
    usage: `poi export --onnx <model dir> [--out file]   write the TRN as ONNX (default <model dir>/model.onnx)
poi export --weights float16|uint8 <model dir> [--out dir]   the model folder with compact weights`,
    run: async (a) => (await import('./export.js')).exportCommand(a),
  },
  report: {
    usage: `poi report <run dir | model dir> [--out dir] [--data <dir>] [--faces N]
          ${DATA_USAGE}
          ${RUN_USAGE.replace('default auto: onnx when onnxruntime-node loads', 'default tfjs here: the engine the saved metrics were measured on')}`,
    run: async (a) => (await import('./report.js')).reportCommand(a),
  },
  predict: {
    usage: `poi predict <files, folders or globs> [--json] [--explain] [--aligned] [--crop] [--model dir] [--detector ssd|tiny|blazeface] [--timing] [--max-file-mb N]
          ${RUN_USAGE}`,
    run: async (a) => (await import('./predict.js')).predictCommand(a),
  },
  serve: {
    usage: `poi serve [--port 8080] [--host 127.0.0.1] [--model dir] [--concurrency N] [--max-body-mb N] [--timeout-ms N]
          ${RUN_USAGE}`,
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

const COMMON = `Common options:
  --backend wasm|cpu|tensorflow   tensor backend (default: tfjs-node if installed, else wasm); env POI_BACKEND
  --threads N                     wasm threads (default: all cores); env POI_THREADS
  --help, -h                      this command's usage`;

const indent = (u: string) => u.split('\n').map((l) => `  ${l}`).join('\n');

export const USAGE = `poi — facial expression recognition that knows when people disagree

Usage:
${Object.values(COMMANDS).map((c) => indent(c.usage)).join('\n')}
  poi                         demo: predict on a sample photo shipped with face-api
  poi help [command] | --help this text, or one command's usage
  poi --version

${COMMON}

Presets: poi (default), ce, ld, poi-no-prior, poi-no-mutual, poi-no-uncertainty, dlib (pretrained
dlib ResNet for TRN and PIN at 112x112), tiny; join with "+",
e.g. --config ce+tiny. A JSON file may hold {"preset": "...", ...overrides}.
`;

/** `poi <command> --help`: the command's own usage and the common options. */
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
