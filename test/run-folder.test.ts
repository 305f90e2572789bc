/**
 * What a run folder guards against: replacing a run record, two runs at once, diverged weights being
 * saved, non-finite weights being loaded, a log that disagrees with its checkpoint, leftovers of a
 * killed run.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { presetConfig, type PoiConfig } from '../src/model/config.js';
import { loadModel, readCheckpoint, saveModel } from '../src/model/io.js';
import { PoiModel } from '../src/model/poi.js';
import { readTrnSource } from '../src/onnx/export.js';
import { NonFiniteError, readLog, train } from '../src/train/trainer.js';
import { LOCK_FILE, makeRunFolder } from '../src/train/run-folder.js';
import { syntheticSet, tempDir } from './helpers.js';

before(async () => {
  await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm' });
});

const data = { train: syntheticSet(32, 16, 1), val: syntheticSet(16, 16, 2), source: { synthetic: true } };

function cfg(epochs: number, extra: (c: PoiConfig) => void = () => {}, preset = 'ce+tiny'): PoiConfig {
  const c = presetConfig(preset);
  c.train.epochs = epochs;
  extra(c);
  return c;
}

const quiet = { progress: false, log: () => {} } as const;

/** A pid that no longer runs: a child that has exited. */
function deadPid(): number {
  const p = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(p.stdout.trim());
}

test('a folder holding a run record is refused, with or without --resume, unless overwrite is asked for', async () => {
  const out = tempDir();
  await train({ config: cfg(2), data, outDir: out, ...quiet });
  // a finished run whose checkpoint was removed (as in results/): log, config, summary, best/
  const { rmSync } = await import('node:fs');
  rmSync(join(out, 'checkpoint.bin'));
  const logBefore = readFileSync(join(out, 'log.jsonl'), 'utf8');
  const summaryBefore = readFileSync(join(out, 'summary.json'), 'utf8');
  await assert.rejects(train({ config: cfg(1), data, outDir: out, ...quiet }), /already holds a run \(config\.json, log\.jsonl \(2 lines\), best\/, summary\.json\); pass --resume to continue it, --overwrite to replace it/);
  await assert.rejects(train({ config: cfg(1), data, outDir: out, resume: true, ...quiet }), /holds a run record \(log\.jsonl \(2 lines\), summary\.json\) but no checkpoint\.bin to resume from; pass --overwrite/);
  await assert.rejects(train({ config: cfg(1), data, outDir: out, resume: true, overwrite: true, ...quiet }), /pass one of them/);
  assert.equal(readFileSync(join(out, 'log.jsonl'), 'utf8'), logBefore, 'log.jsonl untouched');
  assert.equal(readFileSync(join(out, 'summary.json'), 'utf8'), summaryBefore, 'summary.json untouched');
  // a lone config.json (any run file) is refused too
  const lone = tempDir();
  cpSync(join(out, 'config.json'), join(lone, 'config.json'));
  await assert.rejects(train({ config: cfg(1), data, outDir: lone, ...quiet }), /already holds a run \(config\.json\)/);
  // ...but resuming a run killed before its first checkpoint starts it again
  const msgs: string[] = [];
  await train({ config: cfg(1), data, outDir: lone, resume: true, progress: false, log: (m) => msgs.push(m) });
  assert.ok(msgs.some((m) => /no checkpoint in .*; starting from the beginning/.test(m)), msgs.join('\n'));
  // overwrite replaces the whole run: nothing of the old one is left to mix with the new one
  writeFileSync(join(out, 'noise.csv'), 'index,label,noisy\n');
  await train({ config: cfg(1), data, outDir: out, overwrite: true, ...quiet });
  assert.equal((await readLog(out)).length, 1);
  assert.ok(!existsSync(join(out, 'noise.csv')));
  assert.equal(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).epochs, 1);
});

test('one run per folder: a second train() on it is refused while the first runs; a stale lock is taken over', async () => {
  const out = tempDir();
  const first = train({ config: cfg(2), data, outDir: out, ...quiet });
  // the lock is taken before train() first awaits anything slow; wait for it to appear
  for (let i = 0; i < 200 && !existsSync(join(out, LOCK_FILE)); i++) await new Promise((r) => setTimeout(r, 10));
  await assert.rejects(train({ config: cfg(2), data, outDir: out, ...quiet }), /is in use by another poi train \(pid \d+, this process, since .*\); wait for it to finish or choose another --out/);
  await first;
  assert.ok(!existsSync(join(out, LOCK_FILE)), 'the lock is released when the run ends');
  assert.deepEqual((await readLog(out)).map((r) => r.epoch), [1, 2], 'the first run was not disturbed');

  // the holder was killed: its lock does not block; nor does a lock whose pid now belongs to another
  // process (this one) started at another time
  for (const holder of [{ pid: deadPid(), procStart: null }, { pid: process.pid, procStart: '1' }]) {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ ...holder, host: (await import('node:os')).hostname(), since: '2020-01-01T00:00:00.000Z' }));
    const msgs: string[] = [];
    await train({ config: cfg(1), data, outDir: dir, progress: false, log: (m) => msgs.push(m) });
    assert.ok(msgs.some((m) => /removed a stale lock/.test(m)), msgs.join('\n'));
    assert.ok(!existsSync(join(dir, LOCK_FILE)));
  }
});

test('weights blown up by a step are never saved: no best/, no checkpoint, a message naming the epoch', async () => {
  for (const withVal of [true, false]) {
    const out = tempDir();
    // one step per epoch: the step that blows the weights up is the epoch's last, so its loss was finite
    // (POI, as in the report: its outputs become NaN; CE's stay finite, one-hot, with such weights)
    const bad = cfg(2, (c) => {
      c.train.lr = 1e30;
      c.train.batchSize = 32;
      c.train.lrWarmupEpochs = 0;
    }, 'poi+tiny');
    const err = await train({ config: bad, data: { ...data, val: withVal ? data.val : null }, outDir: out, ...quiet }).then(() => null, (e) => e);
    assert.ok(err instanceof NonFiniteError, `expected NonFiniteError, got ${err}`);
    assert.match(err.message, /by the end of epoch 1 .*nothing was written for it\. No checkpoint was written yet/);
    assert.ok(!existsSync(join(out, 'best')), 'no best/ from diverged weights');
    assert.ok(!existsSync(join(out, 'checkpoint.bin')), 'no checkpoint from diverged weights');
    assert.deepEqual(await readLog(out), []);
  }
});

test('loading a model or checkpoint with a NaN weight fails and names the tensor (tfjs and ONNX paths)', async () => {
  const dir = join(tempDir(), 'm');
  const c = presetConfig('poi+tiny');
  const m = new PoiModel(c.model, data.train.classes, 1);
  await saveModel(m, c, dir);
  m.dispose();
  const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const entry = manifest.weights[3];
  const bytes = readFileSync(join(dir, 'weights.bin'));
  bytes.writeFloatLE(NaN, entry.offset + 4 * 2);
  writeFileSync(join(dir, 'weights.bin'), bytes);
  const named = new RegExp(`weights\\.bin: tensor "${entry.name.replace(/[.[\]]/g, '\\$&')}" holds NaN \\(value 2 of \\d+\\)`);
  await assert.rejects(loadModel(dir), named);
  await assert.rejects(readTrnSource(dir), named);

  // a checkpoint with an infinite optimiser slot is refused on resume
  const out = tempDir();
  await train({ config: cfg(1), data, outDir: out, ...quiet });
  const file = join(out, 'checkpoint.bin');
  const { header } = await readCheckpoint<{ tensors: { name: string; offset: number }[] }>(file);
  const buf = readFileSync(file);
  const headLen = buf.readUInt32LE(8);
  const slot = header.tensors.find((t) => t.name.includes('#'))!;
  buf.writeFloatLE(Infinity, 12 + headLen + slot.offset);
  writeFileSync(file, buf);
  await assert.rejects(train({ config: cfg(2), data, outDir: out, resume: true, ...quiet }), new RegExp(`checkpoint\\.bin: tensor ".*" holds Infinity`));
});

test('resume makes log.jsonl agree with the checkpoint (an epoch logged before a kill is not logged twice)', async () => {
  const out = tempDir();
  await train({ config: cfg(1), data, outDir: out, ...quiet });
  const lines = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n');
  // as a kill between epoch 2's log line and its checkpoint leaves it (the order before this fix)
  appendFileSync(join(out, 'log.jsonl'), JSON.stringify({ ...JSON.parse(lines[0]), epoch: 2 }) + '\n');
  await train({ config: cfg(3), data, outDir: out, resume: true, ...quiet });
  const log = await readLog(out);
  assert.deepEqual(log.map((r) => r.epoch), [1, 2, 3]);
  assert.equal(readFileSync(join(out, 'log.jsonl'), 'utf8').split('\n')[0], lines[0], 'the epochs before the checkpoint are kept as they were');
});

test('resume removes the temp files of a killed run and puts back a best/ left mid-swap', async () => {
  const out = tempDir();
  await train({ config: cfg(1), data, outDir: out, ...quiet });
  const pid = deadPid();
  const bestWeights = readFileSync(join(out, 'best', 'weights.bin'));
  writeFileSync(join(out, `checkpoint.bin.tmp-${pid}-0123456789ab`), 'a checkpoint cut short');
  writeFileSync(join(out, `log.jsonl.tmp-${pid}-ba9876543210`), '');
  mkdirSync(join(out, `best.tmp-${pid}`));
  writeFileSync(join(out, `best.tmp-${pid}`, 'weights.bin'), 'the new best, complete or not');
  // killed between the swap's two renames: best/ is missing, the old one is aside
  renameSync(join(out, 'best'), join(out, `best.old-${pid}`));
  const msgs: string[] = [];
  await train({ config: cfg(1), data, outDir: out, resume: true, progress: false, log: (m) => msgs.push(m) });
  assert.deepEqual(readdirSync(out).sort(), ['best', 'checkpoint.bin', 'config.json', 'log.jsonl', 'summary.json']);
  assert.deepEqual(readFileSync(join(out, 'best', 'weights.bin')), bestWeights, 'the old best/ is back');
  assert.ok(msgs.some((m) => /cleaned up after an interrupted run: .*best\.old-\d+ restored as best/.test(m)), msgs.join('\n'));
});

test('the run folder cannot be made: the error says why and names the folder', async () => {
  const parent = tempDir();
  writeFileSync(join(parent, 'file'), '');
  await assert.rejects(makeRunFolder(join(parent, 'file', 'run')), /cannot create the run folder .*file\/run: a part of the path is a file, not a folder/);
  await assert.rejects(makeRunFolder(join(parent, 'file')), /cannot create the run folder .*file: it exists and is not a folder/);
  // a read-only filesystem, where one can be mounted (root on Linux): Node itself says ENOENT there
  const ro = join(tempDir(), 'ro');
  mkdirSync(ro);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro], { timeout: 10_000 }).status !== 0) return;
  try {
    await assert.rejects(makeRunFolder(join(ro, 'runs', 'poi')), /cannot create the run folder .*ro\/runs\/poi: the filesystem is read-only/);
  } finally {
    spawnSync('umount', [ro], { timeout: 10_000 });
  }
});
