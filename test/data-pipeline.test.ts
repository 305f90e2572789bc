import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../src/util/rng.js';
import {
  decodeDataset,
  readCacheFile,
  writeCacheFile,
  augment,
  augmentInto,
  augmentConfig,
  NO_AUGMENT,
  Batcher,
  injectLabelNoise,
  writeNoiseList,
  readNoiseList,
  applyNoiseList,
  parseCsv,
  type Dataset,
  type ImageSet,
  type AugmentConfig,
  type Batch,
} from '../src/data/index.js';

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'poi-data-pipeline-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function rawPng(file: string, data: Uint8Array, w: number, h: number, c: 1 | 3): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(Buffer.from(data), { raw: { width: w, height: h, channels: c } }).png().toFile(file);
}

/** Deterministic test pattern. */
function pattern(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 37 + seed * 101 + ((i * i) >> 3)) & 255;
  return a;
}

// ---------------------------------------------------------------- decoding and cache

async function makeSet(d: string): Promise<{ ds: Dataset; imgs: Uint8Array[] }> {
  const imgs: Uint8Array[] = [];
  const samples = [];
  for (let i = 0; i < 5; i++) {
    const p = pattern(6 * 5 * 3, i);
    imgs.push(p);
    const f = path.join(d, `img${i}.png`);
    await rawPng(f, p, 6, 5, 3);
    const soft = new Float32Array(3);
    soft[i % 3] = 0.75;
    soft[(i + 1) % 3] = 0.25;
    samples.push({ path: f, label: i % 3, soft });
  }
  // a corrupt image (garbage bytes with a .png name), and one that does not exist
  fs.writeFileSync(path.join(d, 'bad.png'), Buffer.from('this is not a png at all, just some bytes'));
  samples.splice(2, 0, { path: path.join(d, 'bad.png'), label: 1, soft: Float32Array.from([0, 1, 0]) });
  samples.push({ path: path.join(d, 'gone.png'), label: 0, soft: Float32Array.from([1, 0, 0]) });
  return { ds: { name: 'toy:set', classes: ['a', 'b', 'c'], samples, warnings: ['reader warning'] }, imgs };
}

test('decodeDataset: exact pixels at native size (RGB), corrupt and missing images reported and skipped', async () => {
  const d = path.join(tmp, 'dec1');
  const { ds, imgs } = await makeSet(d);
  const set = await decodeDataset(ds, { height: 5, width: 6, channels: 3, cacheDir: false, quiet: true });
  assert.equal(set.fromCache, false);
  assert.equal(set.cacheFile, null);
  assert.deepEqual(set.paths, [0, 1, 2, 3, 4].map((i) => path.join(d, `img${i}.png`)));
  assert.deepEqual(Array.from(set.labels), [0, 1, 2, 0, 1]);
  assert.equal(set.pixels.length, 5 * 5 * 6 * 3);
  for (let i = 0; i < 5; i++) assert.deepEqual(set.pixels.subarray(i * 90, (i + 1) * 90), imgs[i], `image ${i}`);
  assert.deepEqual(Array.from(set.soft!.subarray(3, 6)), [0, 0.75, 0.25]);
  assert.equal(set.warnings[0], 'reader warning');
  assert.equal(set.warnings.length, 3);
  assert.ok(set.warnings[1].startsWith(path.join(d, 'bad.png') + ': cannot decode'));
  assert.ok(set.warnings[2].startsWith(path.join(d, 'gone.png') + ': cannot decode'));
});

test('decodeDataset: resize, grayscale, fit cover vs fill', async () => {
  const d = path.join(tmp, 'dec2');
  // 40x20 image: left half black, right half white
  const w = 40;
  const h = 20;
  const a = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) a[y * w + x] = x < 20 ? 0 : 255;
  await rawPng(path.join(d, 'lr.png'), a, w, h, 1);
  // a uniform colour image
  const col = new Uint8Array(8 * 8 * 3);
  for (let i = 0; i < 64; i++) col.set([200, 100, 50], i * 3);
  await rawPng(path.join(d, 'col.png'), col, 8, 8, 3);
  const ds: Dataset = {
    name: 'toy:resize',
    classes: ['x'],
    samples: [{ path: path.join(d, 'lr.png'), label: 0 }, { path: path.join(d, 'col.png'), label: 0 }],
    warnings: [],
  };
  const cover = await decodeDataset(ds, { height: 10, width: 10, channels: 1, cacheDir: false });
  assert.equal(cover.pixels.length, 2 * 100);
  assert.equal(cover.soft, null);
  // cover keeps the aspect ratio: centre 20x20 crop -> still half black, half white
  assert.ok(cover.pixels[5 * 10 + 0] < 10 && cover.pixels[5 * 10 + 9] > 245);
  const fill = await decodeDataset(ds, { height: 10, width: 10, channels: 3, fit: 'fill', cacheDir: false });
  assert.equal(fill.pixels.length, 2 * 300);
  assert.ok(fill.pixels[(5 * 10 + 0) * 3] < 10 && fill.pixels[(5 * 10 + 9) * 3] > 245);
  // grey replicated in RGB
  assert.equal(fill.pixels[(5 * 10 + 9) * 3], fill.pixels[(5 * 10 + 9) * 3 + 1]);
  // colour kept in RGB, luminance in grey
  assert.deepEqual(Array.from(fill.pixels.subarray(300, 303)), [200, 100, 50]);
  const g = cover.pixels[100];
  assert.ok(Math.abs(g - (0.2126 * 200 + 0.7152 * 100 + 0.0722 * 50)) < 12, `grey ${g}`);
  // contain: letterbox, the 8x8 source stays square so nothing is padded; lr.png gets black bars top/bottom
  const contain = await decodeDataset(ds, { height: 10, width: 10, channels: 1, fit: 'contain', cacheDir: false });
  assert.ok(contain.pixels[0 * 10 + 9] < 10 && contain.pixels[5 * 10 + 9] > 245);
});

test('decode cache: round trip, atomic file, invalidation on change, damaged file ignored', async () => {
  const d = path.join(tmp, 'dec3');
  const cacheDir = path.join(tmp, 'cache');
  const { ds } = await makeSet(d);
  let progress = 0;
  const opts = { height: 5, width: 6, channels: 3 as const, cacheDir, quiet: true, onProgress: (n: number) => (progress = n) };
  const first = await decodeDataset(ds, opts);
  assert.equal(first.fromCache, false);
  assert.equal(progress, ds.samples.length);
  assert.ok(first.cacheFile && fs.existsSync(first.cacheFile));
  assert.deepEqual(fs.readdirSync(cacheDir), [path.basename(first.cacheFile)], 'no temp files left');
  const second = await decodeDataset(ds, opts);
  assert.equal(second.fromCache, true);
  for (const k of ['classes', 'height', 'width', 'channels', 'pixels', 'labels', 'soft', 'paths', 'warnings'] as const) {
    assert.deepEqual(second[k], first[k], k);
  }
  // another size is another cache entry
  const small = await decodeDataset(ds, { ...opts, height: 4, width: 4 });
  assert.equal(small.fromCache, false);
  assert.equal(fs.readdirSync(cacheDir).length, 2);
  // a changed label or a changed file invalidates
  const relabelled: Dataset = { ...ds, samples: ds.samples.map((s, i) => (i === 0 ? { ...s, label: 2 } : s)) };
  assert.equal((await decodeDataset(relabelled, opts)).fromCache, false);
  const f0 = ds.samples[0].path;
  await rawPng(f0, new Uint8Array(90).fill(7), 6, 5, 3);
  fs.utimesSync(f0, new Date(), new Date(Date.now() + 5000));
  const changed = await decodeDataset(ds, opts);
  assert.equal(changed.fromCache, false);
  assert.equal(changed.pixels[0], 7);
  assert.equal((await decodeDataset(ds, opts)).fromCache, true);
  // a damaged cache file is ignored and rewritten
  fs.truncateSync(changed.cacheFile!, 100);
  assert.equal(readCacheFile(changed.cacheFile!), null);
  const again = await decodeDataset(ds, opts);
  assert.equal(again.fromCache, false);
  assert.deepEqual(again.pixels, changed.pixels);
});

test('cache file: odd pixel counts keep labels and soft labels aligned', () => {
  const set: ImageSet = {
    classes: ['a', 'b'],
    height: 3,
    width: 3,
    channels: 1,
    pixels: pattern(27, 3),
    labels: Int32Array.from([1, -1, 0]),
    soft: Float32Array.from([0.1, 0.9, 0.5, 0.5, 1, 0]),
    paths: ['/x', '/y,z', '/ü'],
  };
  const f = path.join(tmp, 'odd.poic');
  writeCacheFile(f, set, 'k1', 'odd', ['w']);
  const r = readCacheFile(f, 'k1')!;
  assert.deepEqual(r.set, set);
  assert.deepEqual(r.warnings, ['w']);
  assert.equal(readCacheFile(f, 'other-key'), null);
  writeCacheFile(f, { ...set, soft: null }, 'k2', 'odd', []);
  assert.equal(readCacheFile(f, 'k2')!.set.soft, null);
});

// ---------------------------------------------------------------- augmentation

const off = (p: Partial<AugmentConfig>) => augmentConfig({ ...NO_AUGMENT, ...p });

test('augment: flip of a known image, identity when everything is off', () => {
  const h = 3;
  const w = 4;
  const src = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const flipped = augment(src, h, w, 1, new Rng(1), off({ flipProb: 1 }));
  assert.deepEqual(Array.from(flipped), [4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9]);
  assert.deepEqual(Array.from(augment(src, h, w, 1, new Rng(1), NO_AUGMENT)), Array.from(src));
  // RGB: pixels move, channels stay in order
  const rgb = Uint8Array.from([1, 2, 3, 4, 5, 6]);
  assert.deepEqual(Array.from(augment(rgb, 1, 2, 3, new Rng(1), off({ flipProb: 1 }))), [4, 5, 6, 1, 2, 3]);
  assert.throws(() => augment(src, 3, 3, 1, new Rng(1)), /expected 3x3x1/);
  assert.throws(() => augmentConfig({ scaleMin: 1.2, scaleMax: 1.1 }), /scaleMin/);
});

function reflect(i: number, n: number): number {
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

test('augment: random crop with padding is a shift with reflect / zero / edge borders', () => {
  const h = 7;
  const w = 9;
  const src = pattern(h * w, 5);
  for (const border of ['reflect', 'zero', 'edge'] as const) {
    let shifted = 0;
    for (let s = 0; s < 20; s++) {
      const out = new Float32Array(h * w);
      const prm = augmentInto(src, 0, h, w, 1, new Rng(s), off({ cropPad: 3, border }), out, 0);
      assert.ok(Math.abs(prm.dx) <= 3 && Math.abs(prm.dy) <= 3);
      if (prm.dx !== 0 || prm.dy !== 0) shifted++;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const sx = x + prm.dx;
          const sy = y + prm.dy;
          let want: number;
          if (border === 'zero') want = sx < 0 || sy < 0 || sx >= w || sy >= h ? 0 : src[sy * w + sx];
          else if (border === 'edge') want = src[Math.min(h - 1, Math.max(0, sy)) * w + Math.min(w - 1, Math.max(0, sx))];
          else want = src[reflect(sy, h) * w + reflect(sx, w)];
          assert.equal(out[y * w + x], want, `${border} seed ${s} (${x},${y})`);
        }
      }
    }
    assert.ok(shifted >= 15, 'most draws shift');
  }
});

/** Straightforward reference of the composed warp, written independently of the optimised code. */
function referenceWarp(src: Uint8Array, h: number, w: number, c: number, cfg: AugmentConfig, prm: { dx: number; dy: number; flip: boolean; angleDeg: number; scale: number }): Float32Array {
  const out = new Float32Array(h * w * c);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const t = (prm.angleDeg * Math.PI) / 180;
  const at = (x: number, y: number, k: number): number => {
    if (cfg.border === 'zero' && (x < 0 || y < 0 || x >= w || y >= h)) return 0;
    if (cfg.border === 'edge') {
      x = Math.min(w - 1, Math.max(0, x));
      y = Math.min(h - 1, Math.max(0, y));
    } else {
      x = reflect(x, w);
      y = reflect(y, h);
    }
    return src[(y * w + x) * c + k];
  };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // output -> undo rotation+scale about the centre -> undo flip -> undo crop shift
      const rx = x - cx;
      const ry = y - cy;
      let u = cx + (Math.cos(t) * rx + Math.sin(t) * ry) / prm.scale;
      const v = cy + (-Math.sin(t) * rx + Math.cos(t) * ry) / prm.scale;
      if (prm.flip) u = w - 1 - u;
      const sx = u + prm.dx;
      const sy = v + prm.dy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let k = 0; k < c; k++) {
        out[(y * w + x) * c + k] =
          (1 - fx) * (1 - fy) * at(x0, y0, k) + fx * (1 - fy) * at(x0 + 1, y0, k) + (1 - fx) * fy * at(x0, y0 + 1, k) + fx * fy * at(x0 + 1, y0 + 1, k);
      }
    }
  }
  return out;
}

test('augment: rotation/scale/flip/crop warp matches a naive reference; constant image stays constant', () => {
  for (const [h, w, c] of [[11, 13, 1], [8, 8, 3]] as const) {
    const src = pattern(h * w * c, h);
    for (const border of ['reflect', 'zero', 'edge'] as const) {
      const cfg = augmentConfig({ border, rotateDeg: 25, scaleMin: 0.7, scaleMax: 1.3, eraseProb: 0, cropPad: 2 });
      let flips = 0;
      for (let s = 0; s < 12; s++) {
        const out = new Float32Array(h * w * c);
        const prm = augmentInto(src, 0, h, w, c, new Rng(100 + s), cfg, out, 0);
        if (prm.flip) flips++;
        assert.notEqual(prm.angleDeg, 0);
        const ref = referenceWarp(src, h, w, c, cfg, prm);
        for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i] - ref[i]) < 1e-3, `${border} seed ${s} i ${i}: ${out[i]} vs ${ref[i]}`);
      }
      assert.ok(flips > 0 && flips < 12);
    }
  }
  // exact 90° rotation of a square image maps the grid onto itself
  const sq = pattern(25, 9);
  const out = new Float32Array(25);
  class Fixed extends Rng {
    constructor(private vals: number[]) {
      super(0);
    }
    override next(): number {
      return this.vals.shift() ?? 0;
    }
  }
  // draws: angle = uniform(-90, 90) with next() = 1 -> +90
  augmentInto(sq, 0, 5, 5, 1, new Fixed([1]), off({ rotateDeg: 90 }), out, 0);
  // inverse map at +90°: source column = y, source row = 4 - x
  for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) assert.ok(Math.abs(out[y * 5 + x] - sq[(4 - x) * 5 + y]) < 1e-6, `(${x},${y})`);
  const flat = new Uint8Array(12 * 12).fill(90);
  const o2 = augment(flat, 12, 12, 1, new Rng(3), { eraseProb: 0, border: 'reflect' });
  for (const v of o2) assert.ok(Math.abs(v - 90) < 1e-3);
});

test('augment: random erasing area and value, determinism, shape', () => {
  const h = 48;
  const w = 48;
  const flat = new Uint8Array(h * w).fill(200);
  let erasedAny = 0;
  for (let s = 0; s < 50; s++) {
    const out = new Float32Array(h * w);
    const prm = augmentInto(flat, 0, h, w, 1, new Rng(s), off({ eraseProb: 1, eraseValue: 0 }), out, 0);
    const zeros = out.reduce((n, v) => n + (v === 0 ? 1 : 0), 0);
    assert.ok(prm.erase, 'erased');
    assert.equal(zeros, prm.erase!.w * prm.erase!.h);
    assert.ok(zeros >= 0.015 * h * w && zeros <= 0.21 * h * w, `area ${zeros}`);
    if (zeros > 0) erasedAny++;
  }
  assert.equal(erasedAny, 50);
  const none = augment(flat, h, w, 1, new Rng(1), off({ eraseProb: 0 }));
  assert.ok(none.every((v) => v === 200));

  const img = pattern(h * w * 3, 1);
  const a = augment(img, h, w, 3, new Rng(42));
  const b = augment(img, h, w, 3, new Rng(42));
  const c = augment(img, h, w, 3, new Rng(43));
  assert.equal(a.length, h * w * 3);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  // float input works the same way as uint8 input
  const f = augment(Float32Array.from(img), h, w, 3, new Rng(42), { eraseProb: 0 });
  const u = augment(img, h, w, 3, new Rng(42), { eraseProb: 0 });
  for (let i = 0; i < f.length; i++) assert.ok(Math.abs(f[i] - u[i]) < 1e-3);
});

// ---------------------------------------------------------------- batching

function toySet(n: number, h = 6, w = 5, c: 1 | 3 = 1): ImageSet {
  const K = 4;
  const soft = new Float32Array(n * K);
  for (let i = 0; i < n; i++) soft[i * K + (i % K)] = 1;
  return {
    classes: ['a', 'b', 'c', 'd'],
    height: h,
    width: w,
    channels: c,
    pixels: pattern(n * h * w * c, 7),
    labels: Int32Array.from({ length: n }, (_, i) => (i % 11 === 5 ? -1 : i % K)),
    soft,
    paths: Array.from({ length: n }, (_, i) => `/img${i}.png`),
  };
}

test('Batcher: resuming at (epoch 2, step 3) gives exactly the batches of an uninterrupted run', () => {
  const set = toySet(70);
  const opts = { batchSize: 8, seed: 1234, augment: true, dropLast: true, mean: 0.5, std: 0.25 };
  const full: Batch[] = [];
  const run = new Batcher(set, opts);
  for (const { epoch, step, batch } of run.iterate(0, 0, 4)) if (epoch > 2 || (epoch === 2 && step >= 3)) full.push(batch);
  const resumed = [...new Batcher(set, opts).iterate(2, 3, 4)].map((r) => r.batch);
  assert.equal(resumed.length, full.length);
  assert.equal(full.length, 2 * run.stepsPerEpoch - 3);
  for (let i = 0; i < full.length; i++) {
    assert.deepEqual(resumed[i].index, full[i].index);
    assert.deepEqual(resumed[i].labels, full[i].labels);
    assert.deepEqual(resumed[i].x, full[i].x);
    assert.deepEqual(resumed[i].soft, full[i].soft);
  }
  // random access agrees too, in any order
  const b = new Batcher(set, opts);
  b.batch(0, 1);
  assert.deepEqual(b.batch(3, 2).x, full[run.stepsPerEpoch - 3 + 2].x);
  // another seed gives other batches
  assert.notDeepEqual(new Batcher(set, { ...opts, seed: 99 }).batch(2, 3).index, full[0].index);
});

test('Batcher: epochs are permutations of the labelled samples, drop-last, eval order, normalisation', () => {
  const set = toySet(70);
  const labelled = Array.from(set.labels.keys()).filter((i) => set.labels[i] >= 0);
  assert.equal(labelled.length, 64);
  const tr = new Batcher(set, { batchSize: 10, seed: 5, dropLast: true });
  assert.equal(tr.stepsPerEpoch, 6);
  const orders = [0, 1].map((e) => [...tr.epoch(e)].flatMap((bt) => Array.from(bt.index)));
  for (const o of orders) {
    assert.equal(o.length, 60);
    assert.equal(new Set(o).size, 60);
    assert.ok(o.every((i) => set.labels[i] >= 0));
  }
  assert.notDeepEqual(orders[0], orders[1]);
  assert.deepEqual([...tr.order(0)].sort((a, b) => a - b), labelled);

  const ev = new Batcher(set, { batchSize: 10, shuffle: false, skipUnlabelled: false, mean: [0.5], std: [2] });
  assert.equal(ev.stepsPerEpoch, 7);
  const batches = [...ev.epoch(0)];
  assert.deepEqual(batches.map((bt) => bt.index.length), [10, 10, 10, 10, 10, 10, 10]);
  const last = batches[6];
  assert.deepEqual(last.shape, [10, 6, 5, 1]);
  assert.deepEqual(Array.from(last.index), [60, 61, 62, 63, 64, 65, 66, 67, 68, 69]);
  const px = 30;
  for (const t of [0, 7, 29]) {
    const want = (set.pixels[66 * px + t] / 255 - 0.5) / 2;
    assert.ok(Math.abs(last.x[6 * px + t] - want) < 1e-6);
  }
  assert.deepEqual(Array.from(last.soft!.subarray(4, 8)), Array.from(set.soft!.subarray(61 * 4, 62 * 4)));
  assert.throws(() => ev.batch(0, 7), /outside/);

  // RGB normalisation per channel
  const rgb = toySet(3, 2, 2, 3);
  const rb = new Batcher(rgb, { batchSize: 3, shuffle: false, skipUnlabelled: false, mean: [0.1, 0.2, 0.3], std: [1, 2, 4] }).batch(0, 0);
  for (let t = 0; t < rb.x.length; t++) {
    const k = t % 3;
    assert.ok(Math.abs(rb.x[t] - (rgb.pixels[t] / 255 - [0.1, 0.2, 0.3][k]) / [1, 2, 4][k]) < 1e-6);
  }
  assert.throws(() => new Batcher(rgb, { batchSize: 2, mean: [0.5, 0.5] }), /mean/);
});

test('Batcher: label override and index subsets', () => {
  const set = toySet(30);
  const noisy = Int32Array.from(set.labels, (y) => (y < 0 ? -1 : (y + 1) % 4));
  const b = new Batcher(set, { batchSize: 4, seed: 2, labels: noisy, indices: [1, 2, 3, 4, 5, 6, 7] });
  // index 5 has label -1 and is skipped
  assert.equal(b.size, 6);
  for (const bt of b.epoch(0)) for (let j = 0; j < bt.index.length; j++) assert.equal(bt.labels[j], noisy[bt.index[j]]);
  assert.deepEqual([...b.order(0)].sort((x, y) => x - y), [1, 2, 3, 4, 6, 7]);
  assert.throws(() => new Batcher(set, { batchSize: 4, labels: new Int32Array(3) }), /labels override/);
});

// ---------------------------------------------------------------- label noise

test('injectLabelNoise: exact count, labelled only, no self-flips, seeded, uniform targets', () => {
  const n = 5000;
  const K = 7;
  const labels = Int32Array.from({ length: n }, (_, i) => (i % 10 === 0 ? -1 : i % K));
  const copy = Int32Array.from(labels);
  const nl = labels.filter((y) => y >= 0).length;
  for (const rate of [0, 0.1, 0.2, 0.3, 1]) {
    const r = injectLabelNoise(labels, K, rate, 17);
    assert.equal(r.flipped.length, Math.round(rate * nl));
    let changed = 0;
    for (let i = 0; i < n; i++) if (r.labels[i] !== labels[i]) changed++;
    assert.equal(changed, r.flipped.length);
    for (const f of r.flipped) {
      assert.notEqual(f.to, f.from);
      assert.equal(f.from, labels[f.index]);
      assert.equal(r.labels[f.index], f.to);
      assert.ok(f.from >= 0 && f.to >= 0 && f.to < K);
    }
    for (let i = 0; i < n; i++) if (labels[i] < 0) assert.equal(r.labels[i], -1);
    assert.deepEqual(r.flipped.map((f) => f.index), [...r.flipped.map((f) => f.index)].sort((a, b) => a - b));
  }
  assert.deepEqual(labels, copy, 'input unchanged');
  const a = injectLabelNoise(labels, K, 0.3, 17);
  const b = injectLabelNoise(labels, K, 0.3, 17);
  const c = injectLabelNoise(labels, K, 0.3, 18);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.flipped.map((f) => f.index), c.flipped.map((f) => f.index));
  // targets: every other class, roughly equally often (1350 flips over 6 targets each)
  const all = injectLabelNoise(labels, K, 0.3, 5).flipped;
  const counts = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  for (const f of all) counts[f.from][f.to]++;
  for (let from = 0; from < K; from++) {
    const row = counts[from].filter((_, to) => to !== from);
    const mean = row.reduce((s, v) => s + v, 0) / row.length;
    for (const v of row) assert.ok(v > mean * 0.5 && v < mean * 1.5, `from ${from}: ${counts[from]}`);
  }
  // the chosen samples are spread over the whole set, not a prefix
  const idx = all.map((f) => f.index);
  assert.ok(idx[0] < n * 0.01 && idx[idx.length - 1] > n * 0.99);
  assert.throws(() => injectLabelNoise(labels, K, 1.5, 1), /rate/);
  assert.throws(() => injectLabelNoise(Int32Array.from([9]), K, 0.5, 1), /not < 7/);
});

test('writeNoiseList: CSV and JSON', () => {
  const flipped = [
    { index: 0, from: 1, to: 2 },
    { index: 2, from: 0, to: 1 },
  ];
  const paths = ['/a,1.png', '/b.png', '/c.png'];
  const classes = ['x', 'y', 'z'];
  const csv = path.join(tmp, 'noise', 'n.csv');
  writeNoiseList(csv, flipped, paths, classes);
  assert.deepEqual(parseCsv(fs.readFileSync(csv, 'utf8')).map((r) => r.fields), [
    ['index', 'path', 'from', 'to', 'from_class', 'to_class'],
    ['0', 'a,1.png', '1', '2', 'y', 'z'],
    ['2', 'c.png', '0', '1', 'x', 'y'],
  ]);
  const js = path.join(tmp, 'noise', 'n.json');
  writeNoiseList(js, flipped, paths, classes);
  assert.deepEqual(JSON.parse(fs.readFileSync(js, 'utf8'))[1], { index: 2, path: 'c.png', from: 0, to: 1, fromClass: 'x', toClass: 'y' });
});

test('readNoiseList: a written list applies to the same labels anywhere, and refuses other data', () => {
  const classes = ['x', 'y', 'z'];
  const labels = Int32Array.from([1, 0, 2, -1, 0]);
  const paths = ['/data/Train/a.png', '/data/Train/b.png', '/data/Train/c.png', '/data/Train/d.png', '/data/Train/e.png'];
  const { labels: noisy, flipped } = injectLabelNoise(labels, 3, 0.5, 7);
  const file = path.join(tmp, 'noise', 'portable.csv');
  writeNoiseList(file, flipped, paths, classes);
  assert.match(fs.readFileSync(file, 'utf8'), /Train\/[a-e]\.png/);
  // the same samples under another root, in another order
  const moved = [4, 3, 2, 1, 0].map((i) => paths[i].replace('/data', '/elsewhere/ferplus'));
  const movedLabels = Int32Array.from([4, 3, 2, 1, 0], (i) => labels[i]);
  const back = readNoiseList(file, moved, movedLabels, classes);
  assert.equal(back.length, flipped.length);
  const applied = applyNoiseList(movedLabels, back);
  assert.deepEqual([4, 3, 2, 1, 0].map((i, j) => applied[j]), [4, 3, 2, 1, 0].map((i) => noisy[i]));
  // labels that differ from the list's "from" class: refused, naming file and line
  const other = Int32Array.from(movedLabels, (y) => (y >= 0 ? (y + 1) % 3 : y));
  assert.throws(() => readNoiseList(file, moved, other, classes), /portable\.csv:\d+: .*made for other labels/);
  // a set without one of the listed faces
  const keep = moved.map((_, j) => j).filter((j) => !moved[j].endsWith(path.basename(paths[flipped[0].index])));
  assert.throws(() => readNoiseList(file, keep.map((j) => moved[j]), Int32Array.from(keep, (j) => movedLabels[j]), classes), /not in the training set/);
  fs.writeFileSync(path.join(tmp, 'noise', 'bad.csv'), 'a,b\n1,2\n');
  assert.throws(() => readNoiseList(path.join(tmp, 'noise', 'bad.csv'), moved, movedLabels, classes), /needs the columns path, from_class and to_class/);
});
