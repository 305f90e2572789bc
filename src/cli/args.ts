/** Small helpers over node:util parseArgs with errors a user can act on. */
import type { FerplusSoftMode } from '../data/ferplus.js';
import type { Tta } from '../infer/runner.js';
import type { Runtime } from '../infer/runtime.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;

export const COMMON_OPTIONS: Options = {
  backend: { type: 'string' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

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
