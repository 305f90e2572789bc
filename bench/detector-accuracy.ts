/**
 * What each detector does to accuracy (issue 15): FER2013Valid faces pasted into larger photos, found,
 * aligned and recognised, against recognising the original 48x48 crops (`--aligned`).
 *
 * Each synthetic photo is 960x720: a smooth coloured background (blurred noise, no faces) with nine
 * FER2013 faces on a 3x3 grid, each upscaled (Lanczos-3) to 112, 160 or 224 px and put at a random place in
 * its 320x240 cell, then saved as a JPEG (quality 90) and run through the whole path (decode, detect,
 * landmarks, align, TRN). A face counts as found when a detected box's centre lies in its pasted square.
 * Reported per detector: the detection rate, accuracy (majority label) on the faces found against the crops'
 * accuracy on the same faces (paired), and the accuracy over all faces with a miss counted wrong.
 *
 *   node dist/bench/detector-accuracy.js --data ../shared/data/ferplus/FER2013Valid [--n 900] [--detectors ssd,tiny,blazeface] [--json out.json]
 *   node dist/bench/detector-accuracy.js --data ../shared/data/ferplus/FER2013Train --n 900 --template
 *
 * `--template` prints where each detector's eyes, nose and mouth fall in the crops (medians, crop fractions):
 * BLAZEFACE_TEMPLATE in src/face/blazeface.ts was measured this way on FER2013Train faces (not the Valid
 * faces it is evaluated on).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import sharp, { type OverlayOptions } from 'sharp';
import { readFerplus } from '../src/data/ferplus.js';
import { createRecognizer, type ImageResult, type Recognizer } from '../src/infer/recognizer.js';
import { createLocator } from '../src/face/locators.js';
import { decodePhoto } from '../src/face/image.js';
import type { FacePoints, Point } from '../src/face/align.js';
import { Rng } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/ferplus/FER2013Valid' },
    n: { type: 'string' },
    detectors: { type: 'string', default: 'ssd,tiny,blazeface' },
    seed: { type: 'string', default: '1' },
    template: { type: 'boolean' },
    json: { type: 'string' },
  },
});
const W = 960;
const H = 720;
const SIZES = [112, 160, 224];
const detectors = values.detectors!.split(',') as ('ssd' | 'tiny' | 'blazeface')[];

const set = readFerplus(values.data!);
const samples = set.samples.filter((s) => s.label >= 0);
const n = Math.min(samples.length, Number(values.n ?? samples.length));
// an even spread over the set, not its first n
const chosen = Array.from({ length: n }, (_, i) => samples[Math.floor((i * samples.length) / n)]);
console.log(`${n} of ${samples.length} labelled faces of ${values.data}, ${Math.ceil(n / 9)} photos of ${W}x${H}, face sizes ${SIZES.join('/')} px`);

interface Placed {
  index: number;
  x: number;
  y: number;
  size: number;
}

async function background(rng: Rng): Promise<Buffer> {
  const w = 48;
  const h = 36;
  const noise = Buffer.alloc(w * h * 3);
  const base = [rng.int(200), rng.int(200), rng.int(200)];
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) noise[i * 3 + c] = Math.min(255, base[c] + rng.int(56));
  return sharp(noise, { raw: { width: w, height: h, channels: 3 } }).resize(W, H, { kernel: 'cubic' }).blur(6).raw().toBuffer();
}

/** One photo: its JPEG bytes and where each face went. */
async function makePhoto(group: number[], rng: Rng): Promise<{ jpeg: Buffer; placed: Placed[] }> {
  const bg = await background(rng);
  const placed: Placed[] = [];
  const layers: OverlayOptions[] = [];
  for (let j = 0; j < group.length; j++) {
    const index = group[j];
    const size = SIZES[index % SIZES.length];
    const cx = (j % 3) * 320;
    const cy = Math.floor(j / 3) * 240;
    const x = cx + rng.int(Math.max(1, 320 - size));
    const y = cy + rng.int(Math.max(1, 240 - size));
    const face = await sharp(chosen[index].path).resize(size, size, { kernel: 'lanczos3' }).toColourspace('srgb').png().toBuffer();
    layers.push({ input: face, left: x, top: y });
    placed.push({ index, x, y, size });
  }
  const jpeg = await sharp(bg, { raw: { width: W, height: H, channels: 3 } }).composite(layers).jpeg({ quality: 90 }).toBuffer();
  return { jpeg, placed };
}

const argmax = (e: Record<string, number>) => Object.entries(e).reduce((a, b) => (b[1] > a[1] ? b : a))[0];
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

const rng = new Rng(Number(values.seed));
const groups: number[][] = [];
for (let i = 0; i < n; i += 9) groups.push(Array.from({ length: Math.min(9, n - i) }, (_, k) => i + k));

if (values.template) {
  // where each detector's four points fall in the crops
  const { initBackend } = await import('../src/backend/index.js');
  await initBackend();
  for (const d of detectors) {
    const loc = await createLocator({ detector: d });
    const pts: Record<keyof FacePoints, Point[]> = { leftEye: [], rightEye: [], nose: [], mouth: [] };
    let found = 0;
    for (const g of groups) {
      const { jpeg, placed } = await makePhoto(g, rng);
      const photo = await decodePhoto(jpeg);
      const faces = await loc.locate(photo.image);
      for (const p of placed) {
        const f = faces.find((q) => {
          const cx = (q.box.x + q.box.width / 2) * photo.scale;
          const cy = (q.box.y + q.box.height / 2) * photo.scale;
          return cx >= p.x && cx <= p.x + p.size && cy >= p.y && cy <= p.y + p.size;
        });
        if (!f) continue;
        found++;
        for (const k of Object.keys(pts) as (keyof FacePoints)[]) pts[k].push([(f.points[k][0] * photo.scale - p.x) / p.size, (f.points[k][1] * photo.scale - p.y) / p.size]);
      }
    }
    const t = Object.fromEntries(Object.entries(pts).map(([k, v]) => [k, [median(v.map((q) => q[0])), median(v.map((q) => q[1]))].map((x) => Number(x.toFixed(4)))]));
    console.log(`${d}: ${found}/${n} found; template ${JSON.stringify(t)}`);
  }
  process.exit(0);
}

// the crops themselves (--aligned), one batch
const base = await createRecognizer({});
const classes = base.classes;
const label = (i: number) => set.classes[chosen[i].label];
const cropPred: string[] = [];
for (let i = 0; i < n; i += 256) {
  const out = await base.recognizeBatch(chosen.slice(i, i + 256).map((s) => s.path), { aligned: true });
  for (const r of out) {
    if (r instanceof Error) throw r;
    cropPred.push(argmax(r.faces[0].emotions));
  }
}
base.dispose();
const cropCorrect = cropPred.map((p, i) => p === label(i));
const cropAcc = cropCorrect.filter(Boolean).length / n;
console.log(`crops (--aligned): ${(100 * cropAcc).toFixed(2)}% (classes ${classes.join(' ')})`);

// the photos, made once, shared by every detector
const photos: { jpeg: Buffer; placed: Placed[] }[] = [];
for (const g of groups) photos.push(await makePhoto(g, rng));

const rows: Record<string, number | string>[] = [];
const recs: Record<string, Recognizer> = {};
for (const d of detectors) recs[d] = await createRecognizer({ detector: d });
const stats: Record<string, { found: number; correct: number; cropCorrectFound: number; extra: number; ms: number; disagree: number[] }> = {};
for (const d of detectors) stats[d] = { found: 0, correct: 0, cropCorrectFound: 0, extra: 0, ms: 0, disagree: [] };
for (let k = 0; k < photos.length; k++) {
  const { jpeg, placed } = photos[k];
  // interleaved: every detector on this photo before the next photo
  for (const d of detectors) {
    const t0 = performance.now();
    const got = (await recs[d].recognizeBatch([jpeg]))[0];
    if (got instanceof Error) console.log(`  ${d}, photo ${k}: ${got.message}`);
    const r: Pick<ImageResult, 'faces'> = got instanceof Error ? { faces: [] } : got;
    stats[d].ms += performance.now() - t0;
    const used = new Set<number>();
    for (const p of placed) {
      const j = r.faces.findIndex((q, qi) => {
        if (used.has(qi)) return false;
        const cx = q.box.x + q.box.width / 2;
        const cy = q.box.y + q.box.height / 2;
        return cx >= p.x && cx <= p.x + p.size && cy >= p.y && cy <= p.y + p.size;
      });
      if (j < 0) continue;
      used.add(j);
      const s = stats[d];
      s.found++;
      const ok = argmax(r.faces[j].emotions) === label(p.index);
      if (ok) s.correct++;
      if (cropCorrect[p.index]) s.cropCorrectFound++;
      s.disagree.push((ok ? 1 : 0) - (cropCorrect[p.index] ? 1 : 0));
    }
    stats[d].extra += r.faces.length - used.size;
  }
  if ((k + 1) % 20 === 0) console.log(`  ${k + 1}/${photos.length} photos`);
}
console.log(`\ndetector   found        acc (found)  crops (same faces)  diff     ±1.96 SE   acc (miss = wrong)  extra boxes  ms/photo`);
for (const d of detectors) {
  const s = stats[d];
  const acc = s.correct / s.found;
  const cacc = s.cropCorrectFound / s.found;
  const m = s.disagree.reduce((a, b) => a + b, 0) / s.found;
  const v = s.disagree.reduce((a, b) => a + (b - m) ** 2, 0) / (s.found - 1);
  const se = Math.sqrt(v / s.found);
  const row = {
    detector: d,
    found: s.found,
    faces: n,
    detectionRate: s.found / n,
    accuracyFound: acc,
    cropAccuracySameFaces: cacc,
    diffPoints: 100 * (acc - cacc),
    ci95Points: 196 * se,
    accuracyAll: s.correct / n,
    cropAccuracyAll: cropAcc,
    extraBoxes: s.extra,
    msPerPhoto: s.ms / photos.length,
  };
  rows.push(row);
  console.log(
    `${d.padEnd(10)} ${`${s.found}/${n} ${(100 * row.detectionRate).toFixed(1)}%`.padEnd(12)} ${(100 * acc).toFixed(2).padStart(7)}%     ${(100 * cacc).toFixed(2).padStart(7)}%            ${row.diffPoints.toFixed(2).padStart(6)}   ±${row.ci95Points.toFixed(2)}     ${(100 * row.accuracyAll).toFixed(2).padStart(7)}%            ${String(s.extra).padStart(5)}        ${row.msPerPhoto.toFixed(0)}`,
  );
}
console.log(`crops over all ${n} faces: ${(100 * cropAcc).toFixed(2)}%`);
for (const r of Object.values(recs)) r.dispose();
if (values.json) writeFileSync(values.json, JSON.stringify({ data: values.data, n, width: W, height: H, sizes: SIZES, cropAccuracy: cropAcc, rows }, null, 2));
