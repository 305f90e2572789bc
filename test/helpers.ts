/** Shared fixtures for poi's tests: synthetic, learnable face-like data made in memory or on disk. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageSet } from '../src/data/types.js';
import sharp from 'sharp';
import { Rng } from '../src/util/rng.js';
import type { Io } from '../src/cli/predict.js';

export const FER_CLASSES = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt'];

export function tempDir(prefix = 'poi-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Class c is a texture (stripes of an orientation and period, or a checkerboard) with a random phase
 * on a noisy background: local, so a small conv net with global pooling learns it in a few epochs.
 */
export function syntheticPixels(cls: number, size: number, rng: Rng): Uint8Array {
  const px = new Uint8Array(size * size);
  const dx = rng.int(8);
  const dy = rng.int(8);
  const pattern = (x: number, y: number): boolean => {
    const X = x + dx;
    const Y = y + dy;
    switch (cls % 8) {
      case 0: return Y % 4 < 2;
      case 1: return X % 4 < 2;
      case 2: return (X + Y) % 2 === 0;
      case 3: return (X + Y) % 4 < 2;
      case 4: return (X - Y + 64) % 4 < 2;
      case 5: return Y % 8 < 4;
      case 6: return X % 8 < 4;
      default: return (Math.floor(X / 2) + Math.floor(Y / 2)) % 2 === 0;
    }
  };
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) px[y * size + x] = Math.min(255, 50 + rng.int(40) + (pattern(x, y) ? 120 : 0));
  }
  return px;
}

/** An in-memory ImageSet of n faces (classes cycle), with vote-like soft labels. */
export function syntheticSet(n: number, size = 16, seed = 1, classes = FER_CLASSES): ImageSet {
  const rng = new Rng(seed);
  const k = classes.length;
  const pixels = new Uint8Array(n * size * size);
  const labels = new Int32Array(n);
  const soft = new Float32Array(n * k);
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % k;
    labels[i] = c;
    pixels.set(syntheticPixels(c, size, rng), i * size * size);
    // some faces are ambiguous to the synthetic annotators, most are not
    const share = i % 3 === 0 ? 0.6 : 1;
    soft[i * k + c] = share;
    soft[i * k + ((c + 1) % k)] = 1 - share;
    paths.push(`/synthetic/${i}.png`);
  }
  return { classes: [...classes], height: size, width: size, channels: 1, pixels, labels, soft, paths };
}

/**
 * One split of a FERPlus-layout dataset on disk (`dir`/fer0000000.png ... and label.csv with 10 vote
 * counts per row): n synthetic 16x16 faces, classes cycling; `votes(i, c)` gives face i's 10 counts.
 * `extraLines` are appended to label.csv as they are (rows naming missing images, say).
 */
export async function writeFerplusSplit(dir: string, n: number, seed: number, votes: (i: number, c: number) => number[], extraLines: string[] = []): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 8;
    const name = `fer${String(i).padStart(7, '0')}.png`;
    await sharp(Buffer.from(syntheticPixels(c, 16, rng)), { raw: { width: 16, height: 16, channels: 1 } }).png().toFile(join(dir, name));
    lines.push(`${name},"(0, 0, 48, 48)",${votes(i, c).join(',')}`);
  }
  writeFileSync(join(dir, 'label.csv'), [...lines, ...extraLines].join('\n') + '\n');
}

/** Ten vote counts: `share` on class c, the rest on class `other` (FERPlus column order; 8 = unknown, 9 = not a face). */
export function votesFor(c: number, share: number, other: number): number[] {
  const v = new Array(10).fill(0);
  v[c] = share;
  if (share < 10) v[other] = 10 - share;
  return v;
}

/** An Io for predictCommand that keeps what it writes. */
export function capture(): Io & { text: () => { out: string; err: string } } {
  let out = '';
  let err = '';
  return {
    out: { write: (s: string) => ((out += s), true) } as Io['out'],
    err: { write: (s: string) => ((err += s), true) } as Io['err'],
    text: () => ({ out, err }),
  };
}
