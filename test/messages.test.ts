/**
 * Config values checked by type and range, and error messages that name the file, the line and the
 * choices: what a user reads when something is wrong.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { presetConfig, PRESETS } from '../src/model/config.js';
import { checkConfig, configProblems } from '../src/model/config-check.js';
import { resolveConfig, trainCommand } from '../src/cli/train.js';
import { train } from '../src/train/trainer.js';
import { parseCsv } from '../src/data/csv.js';
import { readDataset } from '../src/data/detect.js';
import { appendJsonl, writeFileAtomic } from '../src/util/fs.js';
import { initBackend } from '../src/backend/index.js';
import { syntheticSet, tempDir } from './helpers.js';

function configFile(obj: unknown): string {
  const f = join(tempDir(), 'c.json');
  writeFileSync(f, JSON.stringify(obj));
  return f;
}

test('config files: every value is type- and range-checked, the message names the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ train: { epochs: 'three' } }, /c\.json: config\.train\.epochs: expected a positive integer, got "three"/],
    [{ train: { lr: '0.01x' } }, /config\.train\.lr: expected a number >= 0, got "0\.01x"/],
    [{ train: { epochs: 2.5 } }, /config\.train\.epochs: expected a positive integer, got 2\.5/],
    [{ train: { epochs: 0 } }, /config\.train\.epochs: expected a positive integer, got 0/],
    [{ train: { optimizer: 'adam' } }, /config\.train\.optimizer: expected one of "sgd", "adamw", got "adam"/],
    [{ train: { augment: { enabled: 'yes' } } }, /config\.train\.augment\.enabled: expected true or false, got "yes"/],
    [{ train: { augment: { flipProbability: 0.5 } } }, /config\.train\.augment\.flipProbability: unknown augment field/],
    [{ train: 5 }, /config\.train: expected an object, got 5/],
    [{ seed: 1e20 }, /config\.seed: expected an integer from 0 to 2\^53-1/],
    [{ noise: 1.5 }, /config\.noise: expected a number from 0 to 0\.95, got 1\.5/],
    [{ model: { trn: { widths: [32, '64'] } } }, /config\.model\.trn\.widths\[1\]: expected a positive integer, got "64"/],
    [{ model: { trn: { widths: 32 } } }, /config\.model\.trn\.widths: expected a list, got 32/],
    [{ model: { pin: { stem: { kind: 'vit' } } } }, /config\.model\.pin\.stem\.kind: expected one of "vgg", "resnet", "dlib-resnet", "mobilefacenet", got "vit"/],
    [{ model: { uncertainty: { enabled: 1 } } }, /config\.model\.uncertainty\.enabled: expected true or false, got 1/],
    [{ model: { pin: { regions: [{ name: 'all', aus: [1], box: [0, 0, 2, 1] }] } } }, /regions\[0\]\.box\[2\]: expected a number from 0 to 1, got 2/],
    [{ preset: 7 }, /config\.preset: expected a preset name, got 7/],
  ];
  for (const [obj, re] of cases) assert.throws(() => resolveConfig(configFile(obj)), re, JSON.stringify(obj));
  // every problem is listed, not only the first
  assert.throws(() => resolveConfig(configFile({ train: { epochs: 'x', batchSize: -1 } })), /train\.epochs: .*; config\.train\.batchSize: expected a positive integer, got -1/);
  // the shipped presets and config files pass
  for (const name of Object.keys(PRESETS)) assert.deepEqual(configProblems(presetConfig(name)), [], name);
  for (const f of ['configs/ce-vgg-1222.json', 'configs/poi-vgg-1222.json']) assert.doesNotThrow(() => resolveConfig(f), f);
});

test('fields without a rule of their own are checked by the type of their default', () => {
  const c = presetConfig('poi');
  (c.train as unknown as Record<string, unknown>).momentum = 'high';
  (c.model.pin as unknown as Record<string, unknown>).mutual = 'no';
  (c.model.input as unknown as Record<string, unknown>).mean = null;
  assert.deepEqual(configProblems(c), [
    'config.model.input.mean: expected a number, got null',
    'config.model.pin.mutual: expected true or false, got "no"',
    'config.train.momentum: expected a number >= 0 and < 1, got "high"',
  ]);
});

test('train() refuses a bad config before it writes anything', async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
  const c = presetConfig('ce+tiny');
  (c.train as unknown as Record<string, unknown>).epochs = 'three';
  const out = join(tempDir(), 'run');
  await assert.rejects(
    train({ config: c, data: { train: syntheticSet(16), val: null, source: {} }, outDir: out, progress: false, log: () => {} }),
    /config\.train\.epochs: expected a positive integer, got "three"/,
  );
  assert.ok(!existsSync(out), 'no run folder was made');
  assert.throws(() => checkConfig(c, 'x.json'), /^Error: x\.json: config\.train\.epochs/);
});

test('poi train: --seed above 2^53 and a folder holding a run are refused before any data is read', async () => {
  const data = tempDir();
  await assert.rejects(trainCommand(['--data', data, '--out', join(data, 'r'), '--seed', '1e20']), /--seed: must be <= 9007199254740991/);
  const run = join(tempDir(), 'old-run');
  mkdirSync(run);
  writeFileSync(join(run, 'log.jsonl'), '{"epoch":1}\n');
  writeFileSync(join(run, 'summary.json'), '{}');
  // --data points at nothing: the refusal must come first
  await assert.rejects(trainCommand(['--data', join(data, 'none'), '--out', run]), /already holds a run \(log\.jsonl \(1 lines\), summary\.json\); pass --resume to continue it, --overwrite to replace it/);
  await assert.rejects(trainCommand(['--data', join(data, 'none'), '--out', run, '--resume']), /no checkpoint\.bin to resume from; pass --overwrite/);
});

test('label.csv: a bad first row names the file and line; an unterminated quote names the line it opens on', () => {
  const dir = tempDir('poi-labels-');
  const good = (i: number) => `fer${String(i).padStart(7, '0')}.png,"(0, 0, 48, 48)",10,0,0,0,0,0,0,0,0,0`;
  for (const [name, first, re] of [
    ['fields', 'fer0000000.png,(0 0 48 48),10,0,0', /cannot read .*fields as FERPlus: .*fields\/label\.csv:1: expected <image name>,<face box>,<10 vote counts> \(FERPlus\), got 5 field\(s\)/],
    ['votes', 'fer0000000.png,"(0, 0, 48, 48)",10,0,0,0,x,0,0,0,0,0', /votes\/label\.csv:1: .*vote column 5 is "x", not a number/],
    ['empty', ',,,,', /empty\/label\.csv:2: expected <image name>/],
    ['quote', '"fer0000000.png,1,2', /quote\/label\.csv:1: unterminated quoted field/],
  ] as const) {
    mkdirSync(join(dir, name));
    const rows = name === 'empty' ? [first, 'just one field', good(1)] : [first, good(1), good(2)];
    writeFileSync(join(dir, name, 'label.csv'), rows.join('\n') + '\n');
    assert.throws(() => readDataset(join(dir, name)), re, name);
  }
  const rows = Array.from({ length: 12 }, (_, i) => good(i));
  rows[9] = 'fer0000009.png,"(0, 0, 48, 48),10,0,0,0,0,0,0,0,0,0';
  assert.throws(() => parseCsv(rows.join('\n') + '\n', 'label.csv'), /^Error: label\.csv:10: unterminated quoted field \(the quote opened here is closed only on line 11/);
});

test('a write that fails (no space left) names the file', async () => {
  // /dev/full: every write fails with ENOSPC
  await assert.rejects(appendJsonl('/dev/full', { epoch: 1 }), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC' && /^\/dev\/full: ENOSPC/.test(e.message));
  // a full filesystem, where one can be mounted (root on Linux)
  const dir = join(tempDir(), 'small');
  mkdirSync(dir);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { timeout: 10_000 }).status !== 0) return;
  try {
    const file = join(dir, 'checkpoint.bin');
    await assert.rejects(writeFileAtomic(file, new Uint8Array(1 << 20)), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC' && e.message.startsWith(`${file}: ENOSPC`));
  } finally {
    spawnSync('umount', [dir], { timeout: 10_000 });
  }
});

test('--backend bogus lists the backends there are', async () => {
  await assert.rejects(initBackend({ backend: 'bogus' }), /unknown backend "bogus"; choose auto, wasm, cpu or tensorflow/);
});

test('a trap in the WebAssembly backend during a step is explained: where, the batch, what to try', async () => {
  const { wasmFailureExplained } = await import('../src/train/trainer.js');
  assert.throws(
    () => wasmFailureExplained(4, 1, [64, 112, 112, 1], () => { throw new WebAssembly.RuntimeError('divide by zero'); }),
    /WebAssembly backend failed \(divide by zero\) at step 5 of epoch 2, a batch of 64 at 112x112x1; .*smaller --batch-size/,
  );
  const other = new Error('not wasm');
  assert.throws(() => wasmFailureExplained(0, 0, [1, 1, 1, 1], () => { throw other; }), (e) => e === other);
  assert.equal(wasmFailureExplained(0, 0, [1, 1, 1, 1], () => 7), 7);
});
