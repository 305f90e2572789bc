#!/usr/bin/env node
// From a finished run's best/ to a shipped model folder, every step a poi command, so the shipped
// model can be rebuilt from its run folder:
//   poi balance --tau τ  →  poi calibrate  →  poi fit-confidence (models with an uncertainty head)
//   →  poi export --weights float16  →  poi eval (the text record beside it)
//   →  bench/tune-describe --write (the describe bands for this model's c, stored in its model.json)
//   node scripts/ship-model.mjs <run dir> <out model dir> [--tau 0.25] [--clear 0.9] [--unsure 0.65] [--data ../shared/data/ferplus] [--record results/...]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: v, positionals: [run, out] } = parseArgs({
  options: { tau: { type: 'string', default: '0.25' }, clear: { type: 'string', default: '0.9' }, unsure: { type: 'string', default: '0.65' }, data: { type: 'string', default: '../shared/data/ferplus' }, record: { type: 'string' } },
  allowPositionals: true,
});
if (!run || !out) {
  console.error('usage: node scripts/ship-model.mjs <run dir> <out model dir> [--tau 0.25] [--clear 0.9] [--unsure 0.65] [--data dir] [--record results dir]');
  process.exit(2);
}
const poi = (...args) => {
  console.error(`$ poi ${args.join(' ')}`);
  return execFileSync(process.execPath, ['bin/poi.js', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
};
const tmp = mkdtempSync(join(tmpdir(), 'poi-ship-'));
const stage = join(tmp, 'model');
const log = [];
poi('balance', join(run, 'best'), '--data', v.data, '--tau', v.tau, '--out', stage);
log.push(poi('calibrate', stage, '--data', v.data, '--json', '--quiet'));
const method = JSON.parse(readFileSync(join(stage, 'model.json'), 'utf8')).config.model.method;
if (method !== 'ce' && method !== 'ld') log.push(poi('fit-confidence', stage, '--data', v.data, '--json', '--quiet'));
poi('export', '--weights', 'float16', stage, '--out', out);
const evalText = poi('eval', '--model', out, '--data', v.data);
// last: fit-confidence (above) drops stale bands, so the bands are tuned on the final c
const describeText = execFileSync(process.execPath, ['dist/bench/tune-describe.js', '--model', out, '--data', v.data, '--clear', v.clear, '--unsure', v.unsure, '--write'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
console.error(describeText);
rmSync(tmp, { recursive: true, force: true });
console.log(evalText);
if (v.record) {
  mkdirSync(v.record, { recursive: true });
  writeFileSync(join(v.record, 'shipped-eval-valid.txt'), evalText);
  writeFileSync(join(v.record, 'shipped-steps.jsonl'), log.map((s) => s.trim()).join('\n') + '\n');
  writeFileSync(join(v.record, 'shipped-describe.txt'), describeText);
}
