import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auPatterns, AUS, DEFAULT_REGIONS, priorAuToEmotion, priorEmotion, regionalTargets } from '../src/model/prior.js';
import { FER_CLASSES } from './helpers.js';

const row = (t: Float32Array, k: number, y: number) => Array.from(t.subarray(y * k, (y + 1) * k));
const idx = (c: string) => FER_CLASSES.indexOf(c);

test('prior knows every FERPlus class and common aliases', () => {
  for (const c of FER_CLASSES) assert.equal(priorEmotion(c), c);
  assert.equal(priorEmotion('Happy'), 'happiness');
  assert.equal(priorEmotion(' Angry '), 'anger');
  assert.equal(priorEmotion('Surprised'), 'surprise');
  assert.equal(priorEmotion('unknown'), null);
});

test('AU patterns: required 1, optional 0.5, absent 0', () => {
  const [hap] = auPatterns(['happiness']);
  assert.ok(hap);
  const at = (au: number) => hap![AUS.indexOf(au as never)];
  assert.equal(at(6), 1);
  assert.equal(at(12), 1);
  assert.equal(at(25), 0.5);
  assert.equal(at(1), 0);
  assert.deepEqual(auPatterns(['unknown-class']), [null]);
});

test('regional targets: the eyes cannot tell neutral from contempt', () => {
  const upper = DEFAULT_REGIONS.find((r) => r.name === 'upper')!;
  const k = FER_CLASSES.length;
  const t = regionalTargets(FER_CLASSES, upper.aus, 0.5);
  const neutral = row(t, k, idx('neutral'));
  // neutral and contempt have identical (empty) upper-face patterns: equal mass
  assert.ok(Math.abs(neutral[idx('neutral')] - neutral[idx('contempt')]) < 1e-7);
  // by hand: upper AUs 1,2,4,5,6,7. neutral=0 everywhere; happiness has AU6 -> d=1; disgust has none
  // of them -> d=0; sadness 1,4 -> d=2. weights exp(-d/0.5)
  const w = { neutral: 1, contempt: 1, disgust: 1, happiness: Math.exp(-2), sadness: Math.exp(-4), surprise: Math.exp(-6), anger: Math.exp(-6), fear: Math.exp(-10) };
  const z = Object.values(w).reduce((a, b) => a + b, 0);
  for (const [c, v] of Object.entries(w)) assert.ok(Math.abs(neutral[idx(c)] - v / z) < 1e-6, `${c}: ${neutral[idx(c)]} vs ${v / z}`);
  for (let y = 0; y < k; y++) assert.ok(Math.abs(row(t, k, y).reduce((a, b) => a + b, 0) - 1) < 1e-6);
});

test('regional targets: the global region separates every emotion; tau 0 gives one-hot', () => {
  const k = FER_CLASSES.length;
  const t0 = regionalTargets(FER_CLASSES, [...AUS], 0);
  for (let y = 0; y < k; y++) for (let e = 0; e < k; e++) assert.equal(t0[y * k + e], y === e ? 1 : 0);
  const t = regionalTargets(FER_CLASSES, [...AUS], 0.5);
  for (let y = 0; y < k; y++) {
    const r = row(t, k, y);
    assert.equal(r.indexOf(Math.max(...r)), y, `label ${FER_CLASSES[y]} must keep most mass`);
  }
});

test('classes unknown to the prior get one-hot targets', () => {
  const classes = ['happiness', 'other'];
  const t = regionalTargets(classes, [...AUS], 0.5);
  assert.deepEqual(Array.from(t.subarray(2, 4)), [0, 1]);
});

test('AU→emotion matrix scores the matching prototype highest', () => {
  const lower = DEFAULT_REGIONS.find((r) => r.name === 'lower')!;
  const k = FER_CLASSES.length;
  const m = priorAuToEmotion(FER_CLASSES, lower.aus, 4);
  const pats = auPatterns(FER_CLASSES, lower.aus);
  // AU activations exactly happiness's lower-face pattern (12 on, 25 half)
  const a = pats[idx('happiness')]!;
  const scores = FER_CLASSES.map((_, e) => a.reduce((s, v, j) => s + (2 * v - 1) * m[j * k + e], 0));
  assert.equal(scores.indexOf(Math.max(...scores)), idx('happiness'));
  // all AUs off: neutral scores the maximum possible, scale
  const off = FER_CLASSES.map((_, e) => lower.aus.reduce((s, _au, j) => s - m[j * k + e], 0));
  assert.ok(Math.abs(off[idx('neutral')] - 4) < 1e-6);
  assert.equal(off.indexOf(Math.max(...off)), idx('neutral'));
});
