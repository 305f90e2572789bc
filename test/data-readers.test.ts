import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  parseCsv,
  ferplusMajority,
  ferplusSoft,
  readFerplus,
  readRafdb,
  readFolder,
  readCsvManifest,
  readDataset,
  detectFormat,
  mapClasses,
  classCounts,
  FERPLUS_CLASSES,
  RAFDB_CLASSES,
} from '../src/data/index.js';

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'poi-data-readers-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A small gray PNG/JPEG with a given fill. */
async function img(file: string, value = 128, w = 8, h = 8): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const s = sharp(Buffer.alloc(w * h, value), { raw: { width: w, height: h, channels: 1 } });
  if (/\.jpe?g$/i.test(file)) await s.jpeg().toFile(file);
  else await s.png().toFile(file);
}

function dir(name: string): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

const close = (a: ArrayLike<number>, b: number[], tol = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

test('parseCsv: quoted fields with commas, doubled quotes, CRLF, blank lines, line numbers', () => {
  const rows = parseCsv('a,"b, c",d\r\n\r\n"x ""y""",2,\n"multi\nline",z,3\n', 'f.csv');
  assert.deepEqual(rows, [
    { line: 1, fields: ['a', 'b, c', 'd'] },
    { line: 3, fields: ['x "y"', '2', ''] },
    { line: 4, fields: ['multi\nline', 'z', '3'] },
  ]);
  assert.throws(() => parseCsv('a,b\n"open,c\n', 'f.csv'), /f\.csv:2: unterminated/);
});

test('FERPlus majority rule: hand-computed cases (Microsoft ferplus.py majority mode)', () => {
  const cases: Array<[number[], number]> = [
    // drop single votes -> [4,0,0,0,3,2,0,0,0,0], sum 9, 4 is not > 4.5 -> unknown
    [[4, 0, 0, 1, 3, 2, 0, 0, 0, 0], -1],
    // -> [6,0,0,0,0,0,0,0,2,0], sum 8, 6 > 4 -> neutral
    [[6, 0, 1, 1, 0, 0, 0, 0, 2, 0], 0],
    // -> [5,0,0,3,0,...], sum 8, 5 > 4 -> neutral
    [[5, 0, 0, 3, 1, 0, 0, 0, 1, 0], 0],
    // -> [4,0,0,0,0,0,0,4,0,0], sum 8, 4 is not > 4 -> unknown (tie)
    [[4, 0, 0, 0, 1, 0, 0, 4, 1, 0], -1],
    // -> [0,0,0,0,0,2,0,6,0,0], sum 8, 6 > 4 -> contempt
    [[1, 0, 0, 1, 0, 2, 0, 6, 0, 0], 7],
    // majority is NF -> excluded
    [[0, 0, 0, 0, 0, 0, 0, 0, 3, 7], -1],
    // majority is unknown -> excluded
    [[0, 0, 0, 0, 0, 0, 0, 0, 6, 4], -1],
    // every vote single -> all dropped, sum 0 -> unknown
    [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1], -1],
    // two votes for happiness only: 2 > 1
    [[0, 2, 0, 0, 0, 0, 0, 0, 0, 0], 1],
    // 3 is not > 5
    [[3, 3, 2, 2, 0, 0, 0, 0, 0, 0], -1],
    // 6 > 5 -> surprise
    [[0, 0, 6, 0, 0, 0, 4, 0, 0, 0], 2],
    // NF votes count in the sum: 5 > 4.5 -> fear
    [[0, 0, 0, 0, 0, 0, 5, 0, 0, 4], 6],
    // 5 of 10: not more than half
    [[0, 0, 5, 0, 0, 0, 5, 0, 0, 0], -1],
    // single votes removed before the sum: [0,0,0,5,4,0,...], sum 9, 5 > 4.5 -> sadness
    [[0, 1, 0, 5, 4, 0, 0, 0, 0, 0], 3],
  ];
  for (const [votes, want] of cases) assert.equal(ferplusMajority(votes), want, `votes ${votes}`);
  assert.throws(() => ferplusMajority([1, 2, 3]), /10 entries/);
});

test('FERPlus soft labels: drop-single (default) and raw', () => {
  close(ferplusSoft([4, 0, 0, 1, 3, 2, 0, 0, 0, 0])!, [4 / 9, 0, 0, 0, 3 / 9, 2 / 9, 0, 0]);
  close(ferplusSoft([4, 0, 0, 1, 3, 2, 0, 0, 0, 0], 'raw')!, [0.4, 0, 0, 0.1, 0.3, 0.2, 0, 0]);
  // unknown/NF votes are not part of the 8-class distribution
  close(ferplusSoft([6, 0, 1, 1, 0, 0, 0, 0, 2, 0])!, [1, 0, 0, 0, 0, 0, 0, 0]);
  close(ferplusSoft([6, 0, 1, 1, 0, 0, 0, 0, 2, 0], 'raw')!, [0.75, 0, 0.125, 0.125, 0, 0, 0, 0]);
  assert.equal(ferplusSoft([1, 0, 0, 0, 0, 0, 0, 0, 2, 7]), null);
  assert.notEqual(ferplusSoft([1, 0, 0, 0, 0, 0, 0, 0, 2, 7], 'raw'), null);
});

async function makeFerplus(d: string): Promise<void> {
  const lines = [
    'fer0000000.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,0', // unknown
    'fer0000001.png,"(0, 0, 48, 48)",6,0,1,1,0,0,0,0,2,0', // neutral
    'fer0000002.png,"(0, 0, 48, 48)",0,0,0,0,0,0,0,0,3,7', // NF
    'fer0000003.png,"(0, 0, 48, 48)",0,8,0,0,0,0,0,0,1,1', // happiness
    'fer0000004.png,"(0, 0, 48, 48)",0,0,6,0,0,0,4,0,0,0', // surprise, image missing
    'fer0000005.png,"(0, 0, 48, 48)",1,0,0,1,0,2,0,6,0,0', // contempt
  ];
  fs.writeFileSync(path.join(d, 'label.csv'), lines.join('\n') + '\n');
  for (const i of [0, 1, 2, 3, 5]) await img(path.join(d, `fer000000${i}.png`), 10 * i, 48, 48);
}

test('readFerplus: majority labels, soft labels, missing image warned and skipped, exclusion option', async () => {
  const d = dir('FER2013Train');
  await makeFerplus(d);
  const ds = readFerplus(d, { quiet: true });
  assert.equal(ds.name, 'ferplus:FER2013Train');
  assert.deepEqual(ds.classes, [...FERPLUS_CLASSES]);
  assert.deepEqual(ds.samples.map((s) => path.basename(s.path)), ['fer0000001.png', 'fer0000003.png', 'fer0000005.png']);
  assert.deepEqual(ds.samples.map((s) => s.label), [0, 1, 7]);
  assert.equal(ds.warnings.length, 1);
  assert.match(ds.warnings[0], /label\.csv:5: image fer0000004\.png not found/);
  close(ds.samples[0].soft!, [1, 0, 0, 0, 0, 0, 0, 0]);
  close(ds.samples[2].soft!, [0, 0, 0, 0, 0, 0.25, 0, 0.75]);

  const all = readFerplus(d, { quiet: true, excludeUnlabelled: false, soft: 'raw' });
  assert.deepEqual(all.samples.map((s) => s.label), [-1, 0, -1, 1, 7]);
  close(all.samples[0].soft!, [0.4, 0, 0, 0.1, 0.3, 0.2, 0, 0]);
  // NF face: no emotion votes at all -> no soft label
  assert.equal(all.samples[2].soft, undefined);
  assert.deepEqual(classCounts(all), { counts: [1, 1, 0, 0, 0, 0, 0, 1], unlabelled: 2 });
});

test('readFerplus: malformed lines throw with file and line number', async () => {
  const d = dir('ferbad');
  await img(path.join(d, 'a.png'));
  const f = path.join(d, 'label.csv');
  fs.writeFileSync(f, 'a.png,"(0, 0, 48, 48)",10,0,0,0,0,0,0,0,0,0\na.png,"(0, 0, 48, 48)",10,0,x,0,0,0,0,0,0,0\n');
  assert.throws(() => readFerplus(d, { quiet: true }), (e: Error) => e.message.includes(`${f}:2:`) && /surprise/.test(e.message));
  fs.writeFileSync(f, '\na.png,"(0, 0, 48, 48)",10,0,0,0,0,0,0,0,0,0\na.png,"(0, 0, 48, 48)",10,0,0\n');
  assert.throws(() => readFerplus(d, { quiet: true }), (e: Error) => e.message.includes(`${f}:3:`) && /12 fields/.test(e.message));
  fs.writeFileSync(f, 'a.png,"(0, 0, 48, 48)",10,0,0,0,0,0,0,0,0,-1\n');
  assert.throws(() => readFerplus(d, { quiet: true }), (e: Error) => e.message.includes(`${f}:1:`));
  assert.throws(() => readFerplus(path.join(tmp, 'nope')), /no label\.csv/);
});

async function makeRafdb(d: string): Promise<void> {
  fs.mkdirSync(path.join(d, 'EmoLabel'), { recursive: true });
  fs.writeFileSync(
    path.join(d, 'EmoLabel', 'list_patition_label.txt'),
    ['train_00001.jpg 5', 'train_00002.jpg 1', 'test_0001.jpg 7', 'train_00003.jpg 4', 'test_0002.jpg 4', ''].join('\n'),
  );
  await img(path.join(d, 'Image', 'aligned', 'train_00001_aligned.jpg'));
  await img(path.join(d, 'Image', 'aligned', 'train_00002.jpg')); // the original name, directly in aligned/
  await img(path.join(d, 'Image', 'aligned', 'test_0001_aligned.jpg'));
  await img(path.join(d, 'Image', 'original', 'test_0002.jpg')); // only the original image
  // train_00003 has no image
}

test('readRafdb: splits, label mapping 1..7, image name variants, missing image, bad line', async () => {
  const d = dir('rafdb');
  await makeRafdb(d);
  const tr = readRafdb(d, 'train', { quiet: true });
  assert.equal(tr.name, 'rafdb:train');
  assert.deepEqual(tr.classes, [...RAFDB_CLASSES]);
  assert.deepEqual(tr.samples.map((s) => path.relative(d, s.path)), [
    path.join('Image', 'aligned', 'train_00001_aligned.jpg'),
    path.join('Image', 'aligned', 'train_00002.jpg'),
  ]);
  assert.deepEqual(tr.samples.map((s) => tr.classes[s.label]), ['Sadness', 'Surprise']);
  assert.equal(tr.warnings.length, 1);
  assert.match(tr.warnings[0], /list_patition_label\.txt:4: image train_00003\.jpg not found/);
  const te = readRafdb(d, 'test', { quiet: true });
  assert.deepEqual(te.samples.map((s) => te.classes[s.label]), ['Neutral', 'Happiness']);
  assert.equal(path.basename(te.samples[1].path), 'test_0002.jpg');
  // the list file directly in the folder also works
  const d2 = dir('rafdb-flat');
  fs.writeFileSync(path.join(d2, 'list_patition_label.txt'), 'train_1.jpg 3\ntrain_2.jpg 9\n');
  await img(path.join(d2, 'Image', 'aligned', 'train_1_aligned.jpg'));
  const list2 = path.join(d2, 'list_patition_label.txt');
  assert.throws(() => readRafdb(d2, 'train', { quiet: true }), (e: Error) => e.message.includes(`${list2}:2:`));
  fs.writeFileSync(list2, 'train_1.jpg 3\n');
  assert.deepEqual(readRafdb(d2, 'train', { quiet: true }).samples.map((s) => s.label), [2]);
  assert.throws(() => readRafdb(dir('empty'), 'train'), /list_patition_label\.txt not found/);
});

test('readFolder: sorted class folders, recursive image search, other files and hidden folders ignored', async () => {
  const d = dir('folder');
  await img(path.join(d, 'b', 'x.png'));
  await img(path.join(d, 'a', 'sub', 'y.jpg'));
  await img(path.join(d, 'a', 'z.png'));
  await img(path.join(d, 'a', 'w.webp'.replace('webp', 'png')));
  fs.writeFileSync(path.join(d, 'a', 'readme.txt'), 'not an image');
  await img(path.join(d, '.cache', 'q.png'));
  fs.writeFileSync(path.join(d, 'notes.txt'), 'x');
  const ds = readFolder(d, { quiet: true });
  assert.deepEqual(ds.classes, ['a', 'b']);
  assert.deepEqual(ds.samples.map((s) => [path.relative(d, s.path), s.label]), [
    [path.join('a', 'sub', 'y.jpg'), 0],
    [path.join('a', 'w.png'), 0],
    [path.join('a', 'z.png'), 0],
    [path.join('b', 'x.png'), 1],
  ]);
  assert.equal(ds.name, `folder:${d}`);
});

test('readCsvManifest: hard labels with quoted paths, soft labels, split column, errors with file:line', async () => {
  const d = dir('manifest');
  await img(path.join(d, 'imgs', 'a,1.png'));
  await img(path.join(d, 'imgs', 'b.png'));
  await img(path.join(d, 'imgs', 'c.png'));
  const hard = path.join(d, 'hard.csv');
  fs.writeFileSync(hard, 'path,label,split\n"imgs/a,1.png",happy,train\nimgs/b.png,sad,train\nimgs/gone.png,sad,train\nimgs/c.png,happy,test\n');
  const h = readCsvManifest(hard, { quiet: true });
  assert.deepEqual(h.classes, ['happy', 'sad']);
  assert.deepEqual(h.samples.map((s) => [path.basename(s.path), s.label]), [['a,1.png', 0], ['b.png', 1], ['c.png', 0]]);
  assert.equal(h.warnings.length, 1);
  assert.match(h.warnings[0], /hard\.csv:4: image imgs\/gone\.png not found/);
  const ht = readCsvManifest(hard, { quiet: true, split: 'test' });
  assert.deepEqual(ht.samples.map((s) => path.basename(s.path)), ['c.png']);
  // given classes fix the order; integer labels index them
  const num = path.join(d, 'num.csv');
  fs.writeFileSync(num, 'path,expression\nimgs/b.png,2\nimgs/c.png,sad\n');
  assert.deepEqual(readCsvManifest(num, { quiet: true, classes: ['x', 'happy', 'sad'] }).samples.map((s) => s.label), [2, 2]);
  assert.throws(() => readCsvManifest(num, { quiet: true, classes: ['x', 'happy'] }), (e: Error) => e.message.includes(`${num}:2: label 2 out of range`));
  fs.writeFileSync(num, 'path,expression\nimgs/b.png,1\nimgs/c.png,angry\n');
  assert.throws(() => readCsvManifest(num, { quiet: true, classes: ['x', 'happy'] }), (e: Error) => e.message.includes(`${num}:3: label 'angry'`));

  const soft = path.join(d, 'soft.csv');
  fs.writeFileSync(soft, 'path,neutral,happy,sad\nimgs/b.png,1,3,0\nimgs/c.png,0,0,0\n"imgs/a,1.png",0,1,1\n');
  const s = readCsvManifest(soft, { quiet: true });
  assert.deepEqual(s.classes, ['neutral', 'happy', 'sad']);
  assert.deepEqual(s.samples.map((x) => x.label), [1, 1]); // all-zero row excluded; tie -> first max
  close(s.samples[0].soft!, [0.25, 0.75, 0]);
  close(s.samples[1].soft!, [0, 0.5, 0.5]);
  assert.equal(readCsvManifest(soft, { quiet: true, excludeUnlabelled: false }).samples[1].label, -1);

  const bad1 = path.join(d, 'bad1.csv');
  fs.writeFileSync(bad1, 'path,neutral,happy\nimgs/b.png,1,2\nimgs/c.png,1,oops\n');
  assert.throws(() => readCsvManifest(bad1), (e: Error) => e.message.includes(`${bad1}:3:`) && e.message.includes('happy'));
  const bad2 = path.join(d, 'bad2.csv');
  fs.writeFileSync(bad2, 'path,label\nimgs/b.png,sad\nimgs/c.png\n');
  assert.throws(() => readCsvManifest(bad2), (e: Error) => e.message.includes(`${bad2}:3:`));
  const bad3 = path.join(d, 'bad3.csv');
  fs.writeFileSync(bad3, 'file_name_wrong,label\nimgs/b.png,sad\n');
  assert.throws(() => readCsvManifest(bad3), /no 'path' column/);
});

test('readDataset: detects each layout, handles splits', async () => {
  const root = dir('detect');
  const fp = path.join(root, 'ferplus');
  await makeFerplus(dir('detect/ferplus/FER2013Train'));
  await makeFerplus(dir('detect/ferplus/FER2013Valid'));
  assert.equal(detectFormat(path.join(fp, 'FER2013Train')), 'ferplus');
  assert.equal(readDataset(path.join(fp, 'FER2013Train'), undefined).name, 'ferplus:FER2013Train');
  assert.equal(readDataset({ path: fp, split: 'valid', quiet: true }).name, 'ferplus:FER2013Valid');
  assert.equal(readDataset({ path: fp, quiet: true }, 'train').samples.length, 3);
  assert.throws(() => readDataset({ path: fp, quiet: true }, 'test'), /no split 'test'/);
  assert.equal(readDataset({ path: path.join(fp, 'FER2013Train', 'label.csv'), quiet: true }).name, 'ferplus:FER2013Train');

  const rd = path.join(root, 'raf');
  fs.mkdirSync(rd);
  await makeRafdb(rd);
  assert.equal(detectFormat(rd), 'rafdb');
  assert.throws(() => readDataset({ path: rd, quiet: true }), /pass split/);
  assert.equal(readDataset({ path: rd, quiet: true }, 'test').name, 'rafdb:test');

  const fd = path.join(root, 'folder');
  await img(path.join(fd, 'train', 'happy', '1.png'));
  await img(path.join(fd, 'train', 'sad', '2.png'));
  await img(path.join(fd, 'test', 'sad', '3.png'));
  const ftr = readDataset({ path: fd, quiet: true }, 'train');
  assert.deepEqual(ftr.classes, ['happy', 'sad']);
  assert.equal(ftr.samples.length, 2);
  assert.deepEqual(readDataset({ path: fd, quiet: true }, 'test').classes, ['sad']);
  assert.deepEqual(readDataset({ path: fd, quiet: true }).classes, ['test', 'train']);

  const csv = path.join(root, 'm.csv');
  fs.writeFileSync(csv, 'path,label\nfolder/train/happy/1.png,happy\n');
  assert.equal(detectFormat(csv), 'csv');
  assert.equal(readDataset(csv).samples.length, 1);
  assert.throws(() => readDataset(path.join(root, 'missing')), /not found/);
  assert.throws(() => readDataset(dir('detect/emptydir')), /cannot tell/);
});

test('mapClasses: case-insensitive match, explicit mapping, dropping, clear mismatch error', async () => {
  const d = dir('maprafdb');
  await makeRafdb(d);
  const raf = readRafdb(d, 'train', { quiet: true });
  const m = mapClasses(raf, FERPLUS_CLASSES);
  assert.deepEqual(m.classes, [...FERPLUS_CLASSES]);
  // RAF-DB Sadness(4), Surprise(0) -> FERPlus sadness(3), surprise(2)
  assert.deepEqual(m.samples.map((s) => s.label), [3, 2]);
  assert.ok(m.warnings.some((w) => /contempt/.test(w)));
  assert.deepEqual(raf.samples.map((s) => s.label), [4, 0], 'input unchanged');

  const ds = {
    name: 'toy',
    classes: ['angry', 'happy', 'other'],
    samples: [
      { path: '/a', label: 0, soft: Float32Array.from([0.5, 0.25, 0.25]) },
      { path: '/b', label: 1 },
      { path: '/c', label: 2 },
      { path: '/d', label: -1 },
    ],
    warnings: [],
  };
  assert.throws(
    () => mapClasses(ds, ['anger', 'happiness']),
    (e: Error) => /dataset classes: \[angry, happy, other\]/.test(e.message) && /target classes:  \[anger, happiness\]/.test(e.message) && /unmatched: \[angry, happy, other\]/.test(e.message),
  );
  assert.throws(() => mapClasses(ds, ['anger', 'happiness'], { angry: 'anger', happy: 'joy', other: null }), /happy -> joy/);
  assert.throws(() => mapClasses(ds, ['anger'], { nonsense: 'anger' }), /nonsense/);
  const r = mapClasses(ds, ['Happiness', 'Anger'], { Angry: 'anger', happy: 'happiness', other: null });
  assert.deepEqual(r.samples.map((s) => [s.path, s.label]), [['/a', 1], ['/b', 0], ['/d', -1]]);
  close(r.samples[0].soft!, [0.25 / 0.75, 0.5 / 0.75]);
  // many-to-one sums soft mass
  const r2 = mapClasses(ds, ['neg', 'pos'], { angry: 'neg', other: 'neg', happy: 'pos' });
  close(r2.samples[0].soft!, [0.75, 0.25]);
  assert.deepEqual(r2.samples.map((s) => s.label), [0, 1, 0, -1]);
});
