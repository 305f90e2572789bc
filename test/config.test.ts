import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig, presetConfig } from '../src/model/config.js';
import { resolveConfig } from '../src/cli/train.js';
import { tempDir } from './helpers.js';

test('presets combine with + and only change what they name', () => {
  const base = defaultConfig();
  const ce = presetConfig('ce');
  assert.equal(ce.model.method, 'ce');
  assert.deepEqual(ce.model.trn, base.model.trn, 'baselines share the backbone');
  assert.deepEqual(ce.train, base.train, 'baselines share the schedule');
  const t = presetConfig('poi-no-uncertainty+tiny');
  assert.equal(t.model.uncertainty.enabled, false);
  assert.equal(t.model.input.height, 16);
  assert.throws(() => presetConfig('nope'), /unknown preset "nope"/);
});

test('a JSON config file overrides a preset; unknown fields are refused', () => {
  const dir = tempDir();
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify({ preset: 'ce', train: { epochs: 20 }, model: { pin: { targetTau: 0.3 } } }));
  const c = resolveConfig(good);
  assert.equal(c.model.method, 'ce');
  assert.equal(c.train.epochs, 20);
  assert.equal(c.model.pin.targetTau, 0.3);
  assert.equal(c.train.batchSize, defaultConfig().train.batchSize);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ train: { epocs: 20 } }));
  assert.throws(() => resolveConfig(bad), /config\.train\.epocs: unknown config field/);
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{"train": ');
  assert.throws(() => resolveConfig(broken), /broken\.json: cannot read config/);
});
