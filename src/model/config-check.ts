/**
 * Type and range checks of a resolved PoiConfig. mergeConfig refuses unknown field names; this checks
 * the values. The expected type of every field comes from the default config (number, boolean, string,
 * list, object), so a field added to defaultConfig() is checked by type with no change here; RULES adds
 * what a type cannot say (integers, ranges, the allowed strings).
 */
import { DEFAULT_AUGMENT } from '../data/augment.js';
import { BACKBONES } from './backbones/index.js';
import { defaultConfig } from './config.js';
import { OBJECTIVES } from './objectives.js';

type Rule =
  | { int: true; min?: number; max?: number }
  | { int?: false; min?: number; max?: number; /** exclusive bounds */ gt?: number; lt?: number }
  | { oneOf: readonly (string | number)[] }
  | { numberOr: readonly string[] };

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Rules by field path: a `*` stands for any one segment, `**` for any number, and list elements add `[]`
 * (`model.trn.widths[]`). The first matching rule applies. Fields without a rule get their type checked only.
 */
const RULES: [string, Rule][] = [
  ['seed', { int: true, min: 0, max: MAX_SAFE }],
  ['noise', { min: 0, max: 0.95 }],
  ['model.method', { oneOf: Object.keys(OBJECTIVES) }],
  ['model.input.height', { int: true, min: 1 }],
  ['model.input.width', { int: true, min: 1 }],
  ['model.input.channels', { oneOf: [1, 3] }],
  ['model.input.std', { gt: 0 }],
  ['model.input.alignSize', { int: true, min: 0 }],
  // backbones (model.trn, model.pin.stem): the kinds of the backbone table
  ['**.kind', { oneOf: Object.keys(BACKBONES) }],
  ['**.widths[]', { int: true, min: 1 }],
  ['**.depths[]', { int: true, min: 1 }],
  ['**.dropout', { min: 0, lt: 1 }],
  ['model.pin.branchWidths[]', { int: true, min: 1 }],
  ['model.pin.regions[].aus[]', { int: true, min: 1 }],
  ['model.pin.regions[].box[]', { min: 0, max: 1 }],
  ['model.pin.priorScale', { min: 0 }],
  ['model.pin.targetTau', { min: 0 }],
  ['model.pin.auLossWeight', { min: 0 }],
  ['model.pin.mutualWeight', { min: 0 }],
  ['model.pin.mutualTemperature', { gt: 0 }],
  ['model.pin.aggTau', { gt: 0 }],
  ['model.pin.shareTrnStages', { int: true, min: 0 }],
  ['model.uncertainty.hidden', { int: true, min: 1 }],
  ['model.uncertainty.lossWeight', { min: 0 }],
  ['model.uncertainty.target', { oneOf: ['relative', 'absolute'] }],
  ['model.uncertainty.weighting', { oneOf: ['predicted', 'label'] }],
  ['model.uncertainty.reference', { oneOf: ['pin', 'pin+trn'] }],
  ['model.transfer.warmupEpochs', { min: 0 }],
  ['model.transfer.rampEpochs', { min: 0 }],
  ['model.transfer.maxWeight', { min: 0 }],
  ['model.transfer.temperature', { gt: 0 }],
  ['model.transfer.teacher', { oneOf: ['pin', 'pin+trn'] }],
  ['model.transfer.priorCorrection', { min: 0 }],
  ['train.epochs', { int: true, min: 1 }],
  ['train.batchSize', { int: true, min: 1 }],
  ['train.optimizer', { oneOf: ['sgd', 'adamw'] }],
  ['train.lr', { min: 0 }],
  ['train.lrWarmupEpochs', { min: 0 }],
  ['train.minLrFactor', { min: 0, max: 1 }],
  ['train.momentum', { min: 0, lt: 1 }],
  ['train.weightDecay', { min: 0 }],
  ['train.labelSmoothing', { min: 0, lt: 1 }],
  ['train.pretrainedLrFactor', { min: 0 }],
  ['train.logitAdjustment', { min: 0 }],
  ['train.evalEvery', { int: true, min: 1 }],
  ['train.limitTrain', { int: true, min: 0 }],
  ['train.limitVal', { int: true, min: 0 }],
  // src/data/augment.ts checks the augment values' ranges; here their types
  ['train.augment.cropPad', { int: true, min: 0 }],
  ['train.augment.border', { oneOf: ['reflect', 'zero', 'edge'] }],
  ['train.augment.eraseValue', { numberOr: ['random'] }],
];

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function patternRe(pattern: string): RegExp {
  let re = '';
  for (const part of pattern.split(/(\*\*\.|\*)/)) {
    if (part === '**.') re += '(?:[^.]+\\.)*';
    else if (part === '*') re += '[^.]+';
    else re += esc(part);
  }
  return new RegExp(`^${re}$`);
}
const COMPILED = RULES.map(([p, r]) => [patternRe(p), r] as const);

/** The rule for a field path without the leading "config." and with list indices as []. */
function ruleFor(path: string): Rule | undefined {
  const p = path.replace(/^config\.?/, '').replace(/\[\d+\]/g, '[]');
  return COMPILED.find(([re]) => re.test(p))?.[1];
}

/** Objects whose fields may be left out (the augment pipeline fills in its defaults). */
const OPTIONAL_FIELDS = new Set(['config.train.augment']);

function got(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  const s = JSON.stringify(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function describeNumber(r: Exclude<Rule, { oneOf: unknown } | { numberOr: unknown }>): string {
  const int = 'int' in r && r.int;
  const lo = r.min;
  const hi = r.max;
  const gt = 'gt' in r ? r.gt : undefined;
  const lt = 'lt' in r ? r.lt : undefined;
  if (int) {
    if (lo === 1 && hi === undefined) return 'a positive integer';
    if (lo === 0 && hi === undefined) return 'an integer >= 0';
    if (hi === MAX_SAFE) return `an integer from ${lo} to 2^53-1`;
    return `an integer${lo !== undefined ? ` >= ${lo}` : ''}${hi !== undefined ? ` <= ${hi}` : ''}`;
  }
  if (lo !== undefined && hi !== undefined) return `a number from ${lo} to ${hi}`;
  const parts = [lo !== undefined ? `>= ${lo}` : '', gt !== undefined ? `> ${gt}` : '', lt !== undefined ? `< ${lt}` : '', hi !== undefined ? `<= ${hi}` : ''].filter(Boolean);
  return `a number${parts.length ? ' ' + parts.join(' and ') : ''}`;
}

function checkNumber(v: unknown, r: Rule | undefined): string | null {
  const rule = r && !('oneOf' in r) && !('numberOr' in r) ? r : {};
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (!('int' in rule) || !rule.int || Number.isInteger(v)) &&
    (rule.min === undefined || v >= rule.min) &&
    (rule.max === undefined || v <= rule.max) &&
    (!('gt' in rule) || rule.gt === undefined || v > rule.gt) &&
    (!('lt' in rule) || rule.lt === undefined || v < rule.lt);
  return ok ? null : `expected ${describeNumber(rule)}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `value` checked against `template`'s shape; problems appended to `out` as "path: expected ..., got ...". */
function walk(value: unknown, template: unknown, path: string, out: string[]): void {
  const rule = ruleFor(path);
  const fail = (expected: string) => void out.push(`${path}: ${expected}, got ${got(value)}`);
  if (rule && 'oneOf' in rule) {
    if (!rule.oneOf.includes(value as string | number)) fail(`expected one of ${rule.oneOf.map((x) => JSON.stringify(x)).join(', ')}`);
  } else if (rule && 'numberOr' in rule) {
    if (!(typeof value === 'number' && Number.isFinite(value)) && !rule.numberOr.includes(value as string)) {
      fail(`expected a number or ${rule.numberOr.map((x) => JSON.stringify(x)).join(', ')}`);
    }
  } else if (typeof template === 'number') {
    const why = checkNumber(value, rule);
    if (why) fail(why);
  } else if (typeof template === 'boolean') {
    if (typeof value !== 'boolean') fail('expected true or false');
  } else if (typeof template === 'string') {
    if (typeof value !== 'string') fail('expected a string');
  } else if (Array.isArray(template)) {
    if (!Array.isArray(value)) return fail('expected a list');
    // a list's elements are checked against its default's first element
    if (template.length > 0) value.forEach((v, i) => walk(v, template[0], `${path}[${i}]`, out));
  } else if (isObject(template)) {
    if (!isObject(value)) return fail('expected an object');
    for (const [k, t] of Object.entries(template)) {
      if (value[k] === undefined && OPTIONAL_FIELDS.has(path)) continue;
      walk(value[k], t, `${path}.${k}`, out);
    }
  }
}

/**
 * Problems with `config`'s values, one line each ("config.train.epochs: expected a positive integer,
 * got \"three\""); empty when there are none.
 */
export function configProblems(config: unknown): string[] {
  const template = defaultConfig() as unknown as Record<string, unknown>;
  // train.augment is open (its fields go to the augment pipeline): its template is the pipeline's defaults
  (template.train as Record<string, unknown>).augment = { enabled: true, ...DEFAULT_AUGMENT };
  const out: string[] = [];
  walk(config, template, 'config', out);
  const aug = isObject(config) && isObject(config.train) ? config.train.augment : undefined;
  if (isObject(aug)) {
    const known = ['enabled', ...Object.keys(DEFAULT_AUGMENT)];
    for (const k of Object.keys(aug)) {
      if (!known.includes(k)) out.push(`config.train.augment.${k}: unknown augment field (fields: ${known.join(', ')})`);
    }
  }
  return out;
}

/** Throw an Error listing every problem of `config` (prefixed with `source`, say the config file). */
export function checkConfig(config: unknown, source?: string): void {
  const problems = configProblems(config);
  if (problems.length === 0) return;
  throw new Error(`${source ? `${source}: ` : ''}${problems.join('; ')}`);
}
