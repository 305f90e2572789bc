/** Small helpers over node:util parseArgs with errors a user can act on. */
import type { FerplusSoftMode } from '../data/ferplus.js';
import type { Tta } from '../infer/runner.js';
import type { Runtime } from '../infer/runtime.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** Every command initialises tfjs, so every command takes its backend and threads. */
export const COMMON_OPTIONS: Options = {
  backend: { type: 'string' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

// Option groups, declared once with their parser and their usage line, and spread into every command
// that takes them (eval, calibrate, report; predict and serve take the run group).

/** How TRN runs (src/infer/runtime.ts openRunner). */
export const RUN_OPTIONS: Options = {
  backend: { type: 'string' },
  threads: { type: 'string' },
  runtime: { type: 'string' },
  tta: { type: 'string' },
};

export const RUN_USAGE = `[--runtime auto|onnx|tfjs]   (default auto: onnx when onnxruntime-node loads)
          [--tta flip]   also run TRN on each face's mirror image and average`;

export interface RunOptions {
  backend?: string;
  threads?: number;
  runtime?: Runtime;
  tta?: Tta;
}

export function runOptions(v: Parsed['values']): RunOptions {
  return { backend: str(v.backend), threads: num('threads', v.threads, { int: true, min: 1 }), runtime: runtimeOption(v.runtime), tta: ttaOption(v.tta) };
}

/** Which labelled faces a model is measured on (src/data/load.ts loadSet). */
export const DATA_OPTIONS: Options = {
  data: { type: 'string', short: 'd' },
  split: { type: 'string' },
  map: { type: 'string' },
  limit: { type: 'string' },
  votes: { type: 'string' },
};

export const DATA_USAGE = `[--split name] [--map "theirs=ours,..."] [--limit N]
          [--votes drop-single|raw]   FERPlus votes for KL/Spearman: single votes dropped (default) or as cast`;

export interface DataOptions {
  data?: string;
  split?: string;
  /** "theirs=ours,..." as given (src/data/load.ts parseMapping reads it). */
  map?: string;
  limit?: number;
  votes?: FerplusSoftMode;
}

export function dataOptions(v: Parsed['values']): DataOptions {
  return { data: str(v.data), split: str(v.split), map: str(v.map), limit: num('limit', v.limit, { int: true, min: 1 }), votes: votesOption(v.votes) };
}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parse(cmd: string, argv: string[], options: Options, allowPositionals = false): Parsed {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals, strict: true }) as Parsed;
  } catch (e) {
    throw new UsageError(`poi ${cmd}: ${(e as Error).message}`);
  }
}

export class UsageError extends Error {}

export function num(name: string, v: string | boolean | undefined, opts: { int?: boolean; min?: number; max?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n) || (opts.int && !Number.isInteger(n))) {
    throw new UsageError(`--${name}: expected ${opts.int ? 'an integer' : 'a number'}, got "${v}"`);
  }
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name}: must be >= ${opts.min}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${name}: must be <= ${opts.max}`);
  return n;
}

export function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** --runtime: where TRN runs (src/infer/runtime.ts openTrnRunner). */
export function runtimeOption(v: string | boolean | undefined): Runtime | undefined {
  const r = str(v);
  if (r !== undefined && r !== 'auto' && r !== 'onnx' && r !== 'tfjs') throw new UsageError(`--runtime: expected auto, onnx or tfjs, got "${r}"`);
  return r;
}

/** --tta: none or flip (src/infer/runner.ts withFlipTta). */
export function ttaOption(v: string | boolean | undefined): Tta | undefined {
  const t = str(v);
  if (t !== undefined && t !== 'none' && t !== 'flip') throw new UsageError(`--tta: expected none or flip, got "${t}"`);
  return t;
}

/** --votes: how FERPlus votes become the distribution KL and Spearman are measured against. */
export function votesOption(v: string | boolean | undefined): FerplusSoftMode | undefined {
  const m = str(v);
  if (m !== undefined && m !== 'drop-single' && m !== 'raw') throw new UsageError(`--votes: expected drop-single or raw, got "${m}"`);
  return m;
}
