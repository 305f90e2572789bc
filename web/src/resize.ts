/**
 * Shrinking a photo before detection the way Node does it. Node's decodePhoto (src/face/image.ts) shrinks
 * with sharp, whose default kernel is Lanczos-3 (libvips reduceh then reducev, 8-bit between the passes).
 * The browser's own drawImage smoothing is a different filter, and the model notices: on
 * face-api's sample1.jpg (1920 → 1280 px) it moved probabilities by up to 0.06, while this filter keeps
 * the page within 0.01 of `poi predict` (test/web.test.ts measures it).
 */
import type { RawImage } from '../../src/face/align.js';

function lanczos3(t: number): number {
  if (t === 0) return 1;
  if (t <= -3 || t >= 3) return 0;
  const p = Math.PI * t;
  return (3 * Math.sin(p) * Math.sin(p / 3)) / (p * p);
}

/** Taps of a 1-D Lanczos-3 reduction from n to m samples: first index and weights per output sample. */
function taps(n: number, m: number): { start: Int32Array; size: number; w: Float32Array } {
  const f = n / m;
  const support = 3 * Math.max(1, f);
  const size = Math.ceil(2 * support) + 1;
  const start = new Int32Array(m);
  const w = new Float32Array(m * size);
  for (let o = 0; o < m; o++) {
    const c = (o + 0.5) * f - 0.5;
    const s0 = Math.floor(c - support) + 1;
    start[o] = s0;
    let sum = 0;
    for (let k = 0; k < size; k++) {
      const v = lanczos3((s0 + k - c) / Math.max(1, f));
      w[o * size + k] = v;
      sum += v;
    }
    for (let k = 0; k < size; k++) w[o * size + k] /= sum;
  }
  return { start, size, w };
}

/** Resize 8-bit interleaved pixels to width x height with Lanczos-3 (horizontal pass, then vertical). */
export function resizeLanczos3(img: RawImage, width: number, height: number): RawImage {
  const { data, width: w0, height: h0, channels: ch } = img;
  const clampX = (x: number) => (x < 0 ? 0 : x >= w0 ? w0 - 1 : x);
  const clampY = (y: number) => (y < 0 ? 0 : y >= h0 ? h0 - 1 : y);
  const th = taps(w0, width);
  const mid = new Uint8Array(width * h0 * ch);
  for (let y = 0; y < h0; y++) {
    const row = y * w0 * ch;
    for (let x = 0; x < width; x++) {
      const s0 = th.start[x];
      for (let c = 0; c < ch; c++) {
        let acc = 0;
        for (let k = 0; k < th.size; k++) acc += th.w[x * th.size + k] * data[row + clampX(s0 + k) * ch + c];
        mid[(y * width + x) * ch + c] = acc < 0 ? 0 : acc > 255 ? 255 : Math.round(acc);
      }
    }
  }
  const tv = taps(h0, height);
  const out = new Uint8Array(width * height * ch);
  const stride = width * ch;
  for (let y = 0; y < height; y++) {
    const s0 = tv.start[y];
    const acc = new Float32Array(stride);
    for (let k = 0; k < tv.size; k++) {
      const wk = tv.w[y * tv.size + k];
      if (wk === 0) continue;
      const src = clampY(s0 + k) * stride;
      for (let i = 0; i < stride; i++) acc[i] += wk * mid[src + i];
    }
    for (let i = 0; i < stride; i++) {
      const v = acc[i];
      out[y * stride + i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
  }
  return { data: out, width, height, channels: ch };
}
