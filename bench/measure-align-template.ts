/**
 * Measure where the FERPlus training faces have their eyes, nose and mouth, to frame real photos the
 * same way (src/face/align.ts FER_TEMPLATE).
 *
 *   node dist/bench/measure-align-template.js [--data /work/shared/data/ferplus/FER2013Valid] [--n 600]
 *
 * Each 48x48 FERPlus crop is upsampled to 112x112 (face-api's landmark input size) and given whole to
 * face-api's faceLandmark68Net, as a detector's face box would be; the template points (eye centres,
 * nose tip, mouth centre) are averaged (median per coordinate) over the images, in fractions of the crop. Prints the template
 * as TypeScript, the spread, and the mean residual after aligning each crop to the template.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import * as tf from '../src/tf.js';
import { initBackend } from '../src/backend/index.js';
import { loadFaceApi, loadNet } from '../src/face/detector.js';
import { alignmentTransform, applySimilarity, facePoints, type FacePoints, type Point } from '../src/face/align.js';

const { values } = parseArgs({
  options: { data: { type: 'string' }, n: { type: 'string' }, backend: { type: 'string' } },
});
const dir = values.data ?? '/work/shared/data/ferplus/FER2013Valid';
const n = Number(values.n ?? 600);
const SIZE = 112;

await initBackend({ backend: values.backend });
const fa = loadFaceApi() as unknown as {
  nets: { faceLandmark68Net: { detectLandmarks(x: unknown): Promise<{ positions: { x: number; y: number }[] }[]> } };
};
await loadNet(loadFaceApi(), 'faceLandmark68Net');

const files = readdirSync(dir).filter((f) => f.endsWith('.png')).sort().slice(0, n);
const keys: (keyof FacePoints)[] = ['leftEye', 'rightEye', 'nose', 'mouth'];
const all: FacePoints[] = [];
const BATCH = 32;
for (let s = 0; s < files.length; s += BATCH) {
  const chunk = files.slice(s, s + BATCH);
  const pix = await Promise.all(
    chunk.map(async (f) => {
      const { data } = await sharp(join(dir, f)).resize(SIZE, SIZE, { kernel: 'cubic' }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return data;
    }),
  );
  const buf = new Uint8Array(chunk.length * SIZE * SIZE * 3);
  pix.forEach((p, i) => buf.set(p, i * SIZE * SIZE * 3));
  const x = tf.tensor4d(buf, [chunk.length, SIZE, SIZE, 3], 'int32');
  const marks = await fa.nets.faceLandmark68Net.detectLandmarks(tf.unstack(x));
  x.dispose();
  for (const m of Array.isArray(marks) ? marks : [marks]) {
    all.push(facePoints(m.positions.map((p) => [p.x / SIZE, p.y / SIZE] as Point)));
  }
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const template = {} as FacePoints;
const means: Record<string, Point> = {};
const spread: Record<string, Point> = {};
for (const k of keys) {
  // the median: robust to the few crops where the landmark model fails (non-faces, occlusions)
  const mx = median(all.map((p) => p[k][0]));
  const my = median(all.map((p) => p[k][1]));
  template[k] = [mx, my];
  means[k] = [all.reduce((a, p) => a + p[k][0], 0) / all.length, all.reduce((a, p) => a + p[k][1], 0) / all.length];
  spread[k] = [
    Math.sqrt(all.reduce((a, p) => a + (p[k][0] - mx) ** 2, 0) / all.length),
    Math.sqrt(all.reduce((a, p) => a + (p[k][1] - my) ** 2, 0) / all.length),
  ];
}
// how far each crop's points are from the template once aligned to it (the noise alignment cannot remove)
let resid = 0;
let scale = 0;
let bad = 0;
for (const p of all) {
  let t;
  try {
    t = alignmentTransform(p, template);
  } catch {
    bad++; // landmarks on a non-face (FERPlus has a few): no fit
    continue;
  }
  scale += Math.hypot(t.a, t.b) / all.length;
  for (const k of keys) {
    const q = applySimilarity(t, p[k]);
    resid += Math.hypot(q[0] - template[k][0], q[1] - template[k][1]) / (all.length * keys.length);
  }
}
const f = (v: number) => v.toFixed(4);
console.log(`${all.length} FERPlus crops from ${dir}`);
console.log('export const FER_TEMPLATE: FacePoints = {');
for (const k of keys) console.log(`  ${k}: [${f(template[k][0])}, ${f(template[k][1])}],`);
console.log('};');
console.log('means:', Object.entries(means).map(([k, v]) => `${k} ${f(v[0])},${f(v[1])}`).join('  '));
console.log('spread (std):', Object.entries(spread).map(([k, v]) => `${k} ${f(v[0])},${f(v[1])}`).join('  '));
console.log(`${bad} crops could not be fitted (not faces)`);
console.log(`mean residual after alignment: ${f(resid)} of the crop; mean scale of the fitted transform: ${f(scale)} (1 = crops already at template scale)`);
