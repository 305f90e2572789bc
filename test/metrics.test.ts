import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracy,
  argmaxRows,
  confusionMatrix,
  entropy,
  evaluate,
  expectedCalibrationError,
  KL_EPS,
  klToVotes,
  meanClassAccuracy,
  noiseFit,
  perClass,
  ranks,
  riskCoverage,
  spearman,
} from '../src/eval/metrics.js';
import { formatReport } from '../src/eval/format.js';

const close = (a: number, b: number, tol = 1e-6, msg?: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${msg ?? ''} expected ${b}, got ${a}`);

// 4 labelled samples + 1 unlabelled, 3 classes.
//   s0 [0.7 0.2 0.1] y=0 -> pred 0 ok
//   s1 [0.1 0.6 0.3] y=1 -> pred 1 ok
//   s2 [0.3 0.4 0.3] y=2 -> pred 1 WRONG
//   s3 [0.2 0.2 0.6] y=2 -> pred 2 ok
//   s4 [0.0 0.0 1.0] y=-1 (skipped; would be wrong if it were counted as class 0)
const P = new Float32Array([0.7, 0.2, 0.1, 0.1, 0.6, 0.3, 0.3, 0.4, 0.3, 0.2, 0.2, 0.6, 0, 0, 1]);
const Y = new Int32Array([0, 1, 2, 2, -1]);

test('argmax ties go to the lowest index', () => {
  assert.deepEqual([...argmaxRows(new Float32Array([0.5, 0.5, 0, 0.2, 0.4, 0.4]), 3)], [0, 1]);
});

test('accuracy, mean class accuracy, per-class, confusion on a hand example', () => {
  close(accuracy(P, Y), 0.75);
  close(meanClassAccuracy(P, Y), (1 + 1 + 0.5) / 3);
  assert.deepEqual(confusionMatrix(P, Y), [
    [1, 0, 0],
    [0, 1, 0],
    [0, 1, 1],
  ]);
  const pc = perClass(P, Y);
  assert.deepEqual(
    pc.map((s) => s.support),
    [1, 1, 2],
  );
  close(pc[0].precision, 1);
  close(pc[1].precision, 0.5);
  close(pc[2].precision, 1);
  close(pc[0].recall, 1);
  close(pc[1].recall, 1);
  close(pc[2].recall, 0.5);
  close(pc[0].f1, 1);
  close(pc[1].f1, 2 / 3);
  close(pc[2].f1, 2 / 3);
});

test('mean class accuracy averages only classes present; absent class has support 0', () => {
  // 3 classes, class 2 never labelled; class 0: 2 of 3 right, class 1: 1 of 1
  const p = new Float32Array([0.9, 0.1, 0, 0.9, 0.1, 0, 0.1, 0.9, 0, 0.2, 0.7, 0.1]);
  const y = new Int32Array([0, 0, 0, 1]);
  close(accuracy(p, y), 0.75);
  close(meanClassAccuracy(p, y), (2 / 3 + 1) / 2);
  const pc = perClass(p, y);
  assert.equal(pc[2].support, 0);
  assert.equal(pc[2].recall, 0);
  assert.equal(pc[2].precision, 0);
  close(pc[1].precision, 0.5); // predicted 1 twice, once right
});

test('shape and label errors are reported', () => {
  assert.throws(() => accuracy(new Float32Array(5), new Int32Array(2)), RangeError);
  assert.throws(() => accuracy(new Float32Array(6), new Int32Array([0, 3])), /label 3 at index 1/);
  assert.throws(() => accuracy(new Float32Array(0), new Int32Array(0)), /no samples/);
  assert.ok(Number.isNaN(accuracy(new Float32Array(4), new Int32Array([-1, -1]))));
});

test('entropy: natural log, rows normalised, zero row NaN', () => {
  const h = entropy(new Float32Array([0.5, 0.5, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 5, 5, 0]), 3);
  close(h[0], Math.log(2));
  close(h[1], 0);
  close(h[2], Math.log(3));
  assert.ok(Number.isNaN(h[3]));
  close(h[4], Math.log(2)); // raw counts
});

test('klToVotes: hand values, count normalisation, skip empty rows, eps clamp', () => {
  // row 0: KL([.5 .5 0] || [.5 .25 .25]) = .5 ln 2 ; row 1: KL([0 0 1] || [0 0 1]) = 0 ; row 2: no votes
  const p = new Float32Array([0.5, 0.25, 0.25, 0, 0, 1, 0.2, 0.3, 0.5]);
  const v = new Float32Array([5, 5, 0, 0, 0, 3, 0, 0, 0]);
  close(klToVotes(p, v, 3), (0.5 * Math.log(2)) / 2);
  // model gives 0 where all votes are: KL = ln(1 / eps)
  close(klToVotes(new Float32Array([0, 1]), new Float32Array([1, 0]), 2), -Math.log(KL_EPS), 1e-9);
  assert.equal(KL_EPS, 1e-8);
  close(klToVotes(P, P, 3), 0, 1e-6);
  assert.ok(Number.isNaN(klToVotes(new Float32Array([1, 0]), new Float32Array([0, 0]), 2)));
});

test('spearman: average ranks for ties (values as scipy.stats.spearmanr)', () => {
  assert.deepEqual([...ranks([3, 1, 3, 2, 3])], [4, 1, 4, 2, 4]);
  // ranks a = [1, 2.5, 2.5, 4]; r = 4.5 / sqrt(4.5 * 5). (The no-ties formula would give 0.95.)
  close(spearman([1, 2, 2, 3], [1, 2, 3, 4]), 4.5 / Math.sqrt(22.5), 1e-12);
  close(spearman([1, 2, 2, 3], [1, 2, 3, 4]), 0.9486832980505138, 1e-12);
  // ranks a = [4 1 4 2 4], b = [1..5]: cov 1, var 8 and 10
  close(spearman([3, 1, 3, 2, 3], [10, 20, 30, 40, 50]), 1 / Math.sqrt(80), 1e-12);
  // perfect monotone (non-linear) ranking
  close(spearman([0.1, 0.5, 2, 9, 100], [1, 8, 27, 64, 125]), 1, 1e-12);
  close(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1, 1e-12);
  assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])));
  // NaN pairs dropped: same as without the pair
  close(spearman([1, NaN, 2, 2, 3], [1, 7, 2, 3, 4]), 0.9486832980505138, 1e-12);
  assert.throws(() => spearman([1, 2], [1]), RangeError);
});

// ECE example, 3 classes, 4 samples:
//   [0.7 0.2 0.1]   y=0 ok,    conf 0.70
//   [0.5 0.3 0.2]   y=1 wrong, conf 0.50
//   [0.45 0.35 0.2] y=0 ok,    conf 0.45
//   [0.05 0.05 0.9] y=2 ok,    conf 0.90
const PE = new Float32Array([0.7, 0.2, 0.1, 0.5, 0.3, 0.2, 0.45, 0.35, 0.2, 0.05, 0.05, 0.9]);
const YE = new Int32Array([0, 1, 0, 2]);

test('ECE by hand, 5 bins', () => {
  // bin (.4,.6]: 2 samples, conf .475, acc .5 -> gap .025 ; (.6,.8]: conf .7 acc 1 -> .3 ; (.8,1]: .9 vs 1 -> .1
  // ECE = 2/4*.025 + 1/4*.3 + 1/4*.1 = .1125 ; MCE = .3
  const c = expectedCalibrationError(PE, YE, 5);
  close(c.ece, 0.1125);
  close(c.mce, 0.3);
  assert.equal(c.n, 4);
  assert.deepEqual(
    c.bins.map((b) => b.count),
    [0, 0, 2, 1, 1],
  );
  close(c.bins[2].meanConfidence, 0.475);
  close(c.bins[2].accuracy, 0.5);
  close(c.bins[3].accuracy, 1);
  assert.ok(Number.isNaN(c.bins[0].meanConfidence));
  close(c.bins[2].lower, 0.4, 1e-12);
  close(c.bins[2].upper, 0.6, 1e-12);
});

test('ECE by hand, default 15 bins (each sample alone in its bin)', () => {
  // gaps: .3 (ok @ .7), .5 (wrong @ .5), .55 (ok @ .45), .1 (ok @ .9) -> mean 0.3625
  const c = expectedCalibrationError(PE, YE);
  assert.equal(c.bins.length, 15);
  close(c.ece, 0.3625);
  assert.equal(c.bins.filter((b) => b.count > 0).length, 4);
});

test('ECE bins are (lower, upper]: confidence exactly 0.5 with 2 bins falls in the first', () => {
  const p = new Float32Array([0.5, 0.5, 1, 0]);
  const y = new Int32Array([0, 0]);
  const c = expectedCalibrationError(p, y, 2);
  assert.deepEqual(
    c.bins.map((b) => b.count),
    [1, 1],
  );
});

test('ECE is 0 when confidence matches accuracy; ignores unlabelled', () => {
  // four at conf .75 (3 right), two at conf .5 (argmax tie -> class 0; 1 right), one unlabelled
  const p = new Float32Array([
    0.75, 0.25, 0, 0.75, 0.25, 0, 0.75, 0.25, 0, 0.75, 0.25, 0, 0.5, 0.5, 0, 0.5, 0.5, 0, 0.9, 0.1, 0,
  ]);
  const y = new Int32Array([0, 0, 0, 1, 0, 1, 2]);
  y[6] = -1;
  const c = expectedCalibrationError(p, y);
  assert.equal(c.n, 6);
  close(c.ece, 0, 1e-12);
  close(c.mce, 0, 1e-12);
});

test('risk-coverage by hand', () => {
  // P/Y: correct = [1, 1, 0, 1] ; uncertainty puts the error last
  const u = new Float32Array([0.1, 0.2, 0.9, 0.3, 0]);
  const rc = riskCoverage(P, Y, u);
  assert.equal(rc.n, 4);
  assert.deepEqual(rc.curve.coverage, [0.25, 0.5, 0.75, 1]);
  assert.deepEqual(rc.curve.risk, [0, 0, 0, 0.25]);
  close(rc.aurc, 0.0625);
  close(rc.optimalAurc, 0.0625);
  close(rc.eAurc, 0, 1e-12);
  assert.deepEqual(
    rc.points.map((p) => [p.coverage, p.kept, p.accuracy]),
    [
      [0.5, 2, 1],
      [0.8, 4, 0.75],
      [1, 4, 0.75],
    ],
  );
  // error ranked most sure: risks 1, 1/2, 1/3, 1/4
  const bad = riskCoverage(P, Y, new Float32Array([0.5, 0.6, 0.1, 0.7, 0]));
  close(bad.aurc, (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4);
  close(bad.eAurc, (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4 - 0.0625);
  close(bad.points[0].accuracy, 0.5);
});

test('risk-coverage with 10 samples: accuracy at 50/80/100%', () => {
  // 10 samples, 2 classes, label always 0; correct unless probs favour class 1.
  // sorted by uncertainty: ok ok ok ok WRONG | ok ok ok WRONG WRONG
  const correct = [1, 1, 1, 1, 0, 1, 1, 1, 0, 0];
  const p = new Float32Array(correct.flatMap((c) => (c ? [0.9, 0.1] : [0.1, 0.9])));
  const y = new Int32Array(10);
  const u = Float32Array.from({ length: 10 }, (_, i) => i);
  const rc = riskCoverage(p, y, u);
  assert.deepEqual(
    rc.points.map((q) => [q.kept, q.accuracy]),
    [
      [5, 0.8],
      [8, 7 / 8],
      [10, 0.7],
    ],
  );
  // shuffled input order gives the same curve
  const perm = [3, 9, 0, 6, 1, 8, 2, 7, 4, 5];
  const p2 = new Float32Array(20);
  const u2 = new Float32Array(10);
  perm.forEach((src, dst) => {
    p2[2 * dst] = p[2 * src];
    p2[2 * dst + 1] = p[2 * src + 1];
    u2[dst] = u[src];
  });
  assert.deepEqual(riskCoverage(p2, y, u2).curve, rc.curve);
});

test('risk-coverage: tied uncertainties count errors at the block rate, independent of order', () => {
  // correct = [1, 0, 1, 1] for P/Y; s1 (wrong) and s2... use own data: s0 ok u.1, s1 wrong u.5, s2 ok u.5, s3 ok u.9
  const p = new Float32Array([0.9, 0.1, 0.1, 0.9, 0.9, 0.1, 0.9, 0.1]);
  const y = new Int32Array(4);
  const a = riskCoverage(p, y, new Float32Array([0.1, 0.5, 0.5, 0.9]));
  assert.deepEqual(a.curve.risk, [0, 0.5 / 2, 1 / 3, 1 / 4]);
  // swap s1 and s2 in the input
  const p2 = new Float32Array([0.9, 0.1, 0.9, 0.1, 0.1, 0.9, 0.9, 0.1]);
  assert.deepEqual(riskCoverage(p2, y, new Float32Array([0.1, 0.5, 0.5, 0.9])).curve.risk, a.curve.risk);
  // constant uncertainty: risk = error rate everywhere, AURC = error rate
  const c = riskCoverage(p, y, new Float32Array(4).fill(0.3));
  assert.deepEqual(c.curve.risk, [0.25, 0.25, 0.25, 0.25]);
  close(c.aurc, 0.25, 1e-12);
  assert.throws(() => riskCoverage(p, y, new Float32Array([0, NaN, 0, 0])), /uncertainty\[1\]/);
});

test('risk-coverage: perfect ranking has AURC = optimal; all correct gives 0', () => {
  const correct = [1, 0, 1, 1, 0, 1, 0, 1];
  const p = new Float32Array(correct.flatMap((c) => (c ? [0.8, 0.2] : [0.3, 0.7])));
  const y = new Int32Array(8);
  const u = Float32Array.from(correct, (c, i) => (c ? 0 : 1) + i * 0.01);
  const rc = riskCoverage(p, y, u);
  close(rc.eAurc, 0, 1e-12);
  // optimal with 5 correct of 8: (1/6 + 2/7 + 3/8) / 8
  close(rc.optimalAurc, (1 / 6 + 2 / 7 + 3 / 8) / 8, 1e-12);
  assert.ok(rc.aurc < riskCoverage(p, y, Float32Array.from(u, (v) => -v)).aurc);
  const allOk = riskCoverage(new Float32Array([1, 0, 1, 0]), new Int32Array(2), new Float32Array([1, 0]));
  assert.equal(allOk.aurc, 0);
});

test('evaluate: fields present only with their inputs; confidence = negated uncertainty', () => {
  const classes = ['neutral', 'happiness', 'surprise'];
  const base = evaluate({ probs: P, labels: Y, classes });
  assert.equal(base.n, 5);
  assert.equal(base.labelled, 4);
  close(base.accuracy, 0.75);
  close(base.meanClassAccuracy, 2.5 / 3);
  assert.equal(base.perClass[1].name, 'happiness');
  close(base.perClass[1].precision, 0.5);
  assert.deepEqual(base.confusion, confusionMatrix(P, Y));
  assert.equal(base.calibration.bins.length, 15);
  assert.equal(base.votes, undefined);
  assert.equal(base.uncertainty, undefined);

  // votes: rows 0..3 have votes, row 4 none. Vote entropies: 0, ln2, ln3, ln2*... (see below)
  const votes = new Float32Array([10, 0, 0, 5, 5, 0, 2, 2, 2, 0, 0, 10, 0, 0, 0]);
  const u = new Float32Array([0.05, 0.4, 0.9, 0.2, 0.5]);
  const r = evaluate({ probs: P, labels: Y, classes, votes, uncertainty: u });
  assert.equal(r.votes?.n, 4);
  close(r.votes!.meanEntropy, (Math.log(2) + Math.log(3)) / 4);
  close(r.votes!.kl, klToVotes(P, votes, 3), 1e-12);
  const klHand =
    (Math.log(1 / 0.7) +
      (0.5 * Math.log(0.5 / 0.1) + 0.5 * Math.log(0.5 / 0.6)) +
      (2 * Math.log(1 / 3 / 0.3) + Math.log(1 / 3 / 0.4)) / 3 +
      Math.log(1 / 0.6)) /
    4;
  close(r.votes!.kl, klHand, 1e-6);
  assert.ok(r.votes!.kl > 0);
  // vote entropy ranks [1.5, 3, 4, 1.5] vs uncertainty ranks [1, 3, 4, 2] (row 4 has no votes)
  close(r.uncertainty!.spearmanVoteEntropy!, spearman([0, Math.log(2), Math.log(3), 0], [0.05, 0.4, 0.9, 0.2]), 1e-12);
  close(r.uncertainty!.spearmanVoteEntropy!, 4.5 / Math.sqrt(4.5 * 5), 1e-6);
  // the baseline beside it: 1 - max p of the same rows, against the same vote entropies
  const oneMinusMax = [0, 1, 2, 3].map((i) => 1 - Math.max(...Array.from(P.slice(i * 3, i * 3 + 3))));
  close(r.uncertainty!.maxProbSpearmanVoteEntropy!, spearman([0, Math.log(2), Math.log(3), 0], oneMinusMax), 1e-12);
  assert.equal(r.uncertainty!.source, 'uncertainty');
  close(r.uncertainty!.riskCoverage.aurc, 0.0625);

  const conf = Float32Array.from(u, (v) => 1 - v);
  const rc = evaluate({ probs: P, labels: Y, classes, confidence: conf });
  assert.equal(rc.uncertainty!.source, 'confidence');
  assert.equal(rc.uncertainty!.spearmanVoteEntropy, undefined);
  assert.deepEqual(rc.uncertainty!.riskCoverage.curve.risk, r.uncertainty!.riskCoverage.curve.risk);
  assert.throws(() => evaluate({ probs: P, labels: Y, classes, uncertainty: u, confidence: conf }), /not both/);
  assert.throws(() => evaluate({ probs: P, labels: Y, classes: ['a', 'b'] }), RangeError);
  // JSON round trip keeps the numbers
  const j = JSON.parse(JSON.stringify(r));
  assert.equal(j.accuracy, r.accuracy);
});

test('formatReport: headline, per-class table, confusion with names, uncertainty', () => {
  const classes = ['neutral', 'happiness', 'surprise'];
  const votes = new Float32Array([10, 0, 0, 5, 5, 0, 2, 2, 2, 0, 0, 10, 0, 0, 0]);
  const u = new Float32Array([0.05, 0.4, 0.9, 0.2, 0.5]);
  const r = evaluate({ probs: P, labels: Y, classes, votes, uncertainty: u });
  const s = formatReport(r);
  assert.equal(s, formatReport(r), 'deterministic');
  assert.match(s, /accuracy\s+75\.00%/i);
  assert.match(s, /mean class accuracy\s+83\.33%/i);
  assert.match(s, /ECE \(15 bins\)\s+0\.3750/);
  // per-class row: name precision recall f1 support
  assert.match(s, /happiness\s+0\.5000\s+1\.0000\s+0\.6667\s+1\n/);
  assert.match(s, /surprise\s+1\.0000\s+0\.5000\s+0\.6667\s+2\n/);
  // confusion row for "surprise": 0 1 1
  assert.match(s, /surprise\s+0\s+1\s+1\n/);
  assert.match(s, /KL\(votes \|\| probs\)\s+0\.\d{4}/);
  assert.match(s, /Spearman\(uncertainty, vote entropy\)\s+0\.9487/);
  assert.match(s, /AURC\s+0\.0625/);
  assert.match(s, /80%\s+4\s+75\.00%/);
  for (const line of s.split('\n')) assert.ok(line.length <= 100, `line too long: ${line}`);
  // without uncertainty, no uncertainty section
  assert.doesNotMatch(formatReport(evaluate({ probs: P, labels: Y, classes })), /AURC/);
});

test('formatReport: confusion matrix fits 100 columns with 8 long class names', () => {
  const classes = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt'];
  const k = 8;
  const n = 2000;
  const probs = new Float32Array(n * k);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % k;
    probs[i * k + ((i * 7) % 11) % k] = 1;
  }
  const cls = classes.map((c) => c + '_extra_long_name');
  const s = formatReport(evaluate({ probs, labels, classes: cls }));
  for (const line of s.split('\n')) assert.ok(line.length <= 100, `line too long (${line.length}): ${line}`);
  const cm = confusionMatrix(probs, labels);
  const lines = s.split('\n');
  const start = lines.findIndex((l) => l.startsWith('Confusion matrix'));
  assert.ok(start > 0);
  const header = lines[start + 1].trim().split(/\s+/);
  assert.equal(header.length, 8);
  assert.equal(new Set(header).size, 8, 'column abbreviations are unique');
  header.forEach((h, i) => assert.ok(cls[i].startsWith(h), `${h} abbreviates ${cls[i]}`));
  for (let i = 0; i < k; i++) {
    const row = lines[start + 2 + i];
    assert.ok(cls[i].startsWith(row.slice(0, 15)), row);
    assert.deepEqual(row.slice(16).trim().split(/\s+/).map(Number), cm[i]);
  }
});

test('noiseFit: flipped faces split into memorised (flipped label), recovered (original) and neither; the rest scored against their label', () => {
  // 6 faces; faces 1, 3 and 4 flipped; face 5 unlabelled
  const labels = Int32Array.from([0, 1, 2, 0, 1, -1]);
  const flips = [
    { index: 1, from: 1, to: 2 },
    { index: 3, from: 0, to: 1 },
    { index: 4, from: 1, to: 0 },
  ];
  // face 1 predicts its flipped label, face 3 its original one, face 4 a third class; clean faces 0 right, 2 wrong
  const pred = Int32Array.from([0, 2, 1, 0, 2, 0]);
  const f = noiseFit(pred, labels, flips);
  assert.equal(f.flipped, 3);
  assert.equal(f.clean, 2);
  assert.equal(f.memorised, 1 / 3);
  assert.equal(f.recovered, 1 / 3);
  assert.equal(f.cleanAccuracy, 1 / 2);
});
