/**
 * Shrinking a photo before detection: one implementation for Node (decodePhoto, src/face/image.ts) and the
 * browser demo (web/src/engine.ts), so both hand the detector the same pixels.
 *
 * Pure code (no Node imports, no DOM): plain arithmetic on 8-bit interleaved pixels. IEEE double arithmetic
 * and V8's Math.sin (an fdlibm port) give bit-identical results in Node and in chromium.
 *
 * Why not sharp on one side and a copy of its filter on the other: sharp (libvips) shrinks JPEGs while
 * decoding them and rounds between its passes in its own way; a look-alike Lanczos-3 in the page agreed with
 * it on only 87% of the pixel values, which moved one face of face-api's sample1.jpg by 0.053 in probability.
 *
 * The shrink has two steps: an integer box average (each pixel the mean of a k x k block, k = the whole part of
 * the reduction) and then Lanczos-3 for the rest (a factor in [1, 2), so 7-8 taps per pass). Lanczos-3 alone
 * would need 35 taps per pass to take a 7200 px photo to 1280 and cost seconds in JS; the box step reads each
 * source value once. The box filter lets a little more aliasing through than Lanczos would, which the detector
 * does not notice: it resizes the picture again to 512 px (SSD) and the landmarks to 112 px.
 */
import type { RawImage } from './align.js';

/** Photos are shrunk so their longer side is at most this many pixels before detection (Node and browser). */
export const DEFAULT_MAX_SIDE = 1280;

/**
 * The size an image of width x height gets when shrunk to fit maxSide x maxSide, keeping its aspect ratio
 * (sharp's fit 'inside' rounding: the longer side becomes maxSide, the other is rounded, at least 1).
 * Images that already fit keep their size.
 */
export function fitInside(width: number, height: number, maxSide: number): { width: number; height: number } {
  if (!(maxSide >= 1)) throw new Error(`maxSide must be at least 1, got ${maxSide}`);
  const f = maxSide / Math.max(width, height);
  if (f >= 1) return { width, height };
  return width >= height
    ? { width: maxSide, height: Math.max(1, Math.round(height * f)) }
    : { width: Math.max(1, Math.round(width * f)), height: maxSide };
}

function lanczos3(t: number): number {
  if (t === 0) return 1;
  if (t <= -3 || t >= 3) return 0;
  const p = Math.PI * t;
  return (3 * Math.sin(p) * Math.sin(p / 3)) / (p * p);
}

/**
 * Taps of a 1-D Lanczos-3 reduction to m samples from n source samples, where output sample o is centred on
 * source position ((o + 0.5) * f - 0.5 + 0.5) / k - 0.5: `f` is the whole reduction from the original
 * image, `k` the box factor already applied (so the geometry is the original's whatever k was).
 * Indices are clamped at the edges (edge pixels repeated); weights sum to 1.
 */
function taps(n: number, m: number, f: number, k: number): { index: Int32Array; w: Float64Array; size: number } {
  const scale = Math.max(1, f / k);
  const support = 3 * scale;
  const size = Math.ceil(2 * support) + 1;
  const index = new Int32Array(m * size);
  const w = new Float64Array(m * size);
  for (let o = 0; o < m; o++) {
    const c = ((o + 0.5) * f) / k - 0.5;
    const s0 = Math.floor(c - support) + 1;
    let sum = 0;
    for (let t = 0; t < size; t++) {
      const v = lanczos3((s0 + t - c) / scale);
      const i = s0 + t;
      index[o * size + t] = i < 0 ? 0 : i >= n ? n - 1 : i;
      w[o * size + t] = v;
      sum += v;
    }
    for (let t = 0; t < size; t++) w[o * size + t] /= sum;
  }
  return { index, w, size };
}

const clamp8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/**
 * Box-average shrink by an integer factor k: output pixel (x, y) is the mean of source pixels
 * [xk, xk+k) x [yk, yk+k) (fewer at the right and bottom edges when k does not divide the size), rounded.
 */
export function boxShrink(img: RawImage, k: number): RawImage {
  if (!Number.isInteger(k) || k < 1) throw new Error(`boxShrink: factor must be a positive integer, got ${k}`);
  if (k === 1) return img;
  const { data, width: w0, height: h0, channels: ch } = img;
  const width = Math.ceil(w0 / k);
  const height = Math.ceil(h0 / k);
  const out = new Uint8Array(width * height * ch);
  // exact integer sums (at most k*k*255 per value), then one rounding
  const acc = new Float64Array(width * ch);
  for (let y = 0; y < height; y++) {
    acc.fill(0);
    const yEnd = Math.min(h0, (y + 1) * k);
    for (let sy = y * k; sy < yEnd; sy++) {
      let p = sy * w0 * ch;
      for (let x = 0; x < width; x++) {
        const n = Math.min(w0, (x + 1) * k) - x * k;
        if (ch === 3) {
          let a0 = 0, a1 = 0, a2 = 0;
          for (let j = 0; j < n; j++, p += 3) {
            a0 += data[p];
            a1 += data[p + 1];
            a2 += data[p + 2];
          }
          acc[x * 3] += a0;
          acc[x * 3 + 1] += a1;
          acc[x * 3 + 2] += a2;
        } else {
          for (let j = 0; j < n; j++) for (let c = 0; c < ch; c++, p++) acc[x * ch + c] += data[p];
        }
      }
    }
    const rows = yEnd - y * k;
    const dst = y * width * ch;
    for (let x = 0; x < width; x++) {
      const area = (Math.min(w0, (x + 1) * k) - x * k) * rows;
      for (let c = 0; c < ch; c++) out[dst + x * ch + c] = Math.round(acc[x * ch + c] / area);
    }
  }
  return { data: out, width, height, channels: ch };
}

/**
 * Lanczos-3 resize of 8-bit interleaved pixels to width x height, for shrinking: vertical pass first (its
 * inner loop runs along whole rows, the fast direction), rounded to 8 bits, then the horizontal pass on the
 * fewer rows left. `from` gives the original geometry when `img` is already box-shrunk by `from.k` from an
 * image of from.width x from.height (see shrinkToFit).
 */
export function resizeLanczos3(img: RawImage, width: number, height: number, from?: { width: number; height: number; k: number }): RawImage {
  const { data, width: w0, height: h0, channels: ch } = img;
  const k = from?.k ?? 1;
  const fx = (from?.width ?? w0) / width;
  const fy = (from?.height ?? h0) / height;
  // vertical: h0 rows -> height rows, full width
  const tv = taps(h0, height, fy, k);
  const stride0 = w0 * ch;
  const mid = new Uint8Array(height * stride0);
  const rowStart = new Int32Array(tv.size);
  const rowW = new Float64Array(tv.size);
  for (let y = 0; y < height; y++) {
    // the taps with a weight, then one pass along the row summing them (each output value written once)
    let n = 0;
    for (let t = 0; t < tv.size; t++) {
      const wt = tv.w[y * tv.size + t];
      if (wt === 0) continue;
      rowW[n] = wt;
      rowStart[n++] = tv.index[y * tv.size + t] * stride0;
    }
    const dst = y * stride0;
    for (let i = 0; i < stride0; i++) {
      let a = 0;
      for (let t = 0; t < n; t++) a += rowW[t] * data[rowStart[t] + i];
      mid[dst + i] = clamp8(a);
    }
  }
  // horizontal: w0 columns -> width columns, on the height rows left
  const th = taps(w0, width, fx, k);
  const out = new Uint8Array(width * height * ch);
  for (let y = 0; y < height; y++) {
    const row = y * stride0;
    const dst = y * width * ch;
    for (let x = 0; x < width; x++) {
      const base = x * th.size;
      if (ch === 3) {
        let a0 = 0, a1 = 0, a2 = 0;
        for (let t = 0; t < th.size; t++) {
          const wt = th.w[base + t];
          const s = row + th.index[base + t] * 3;
          a0 += wt * mid[s];
          a1 += wt * mid[s + 1];
          a2 += wt * mid[s + 2];
        }
        out[dst + x * 3] = clamp8(a0);
        out[dst + x * 3 + 1] = clamp8(a1);
        out[dst + x * 3 + 2] = clamp8(a2);
      } else {
        for (let c = 0; c < ch; c++) {
          let a = 0;
          for (let t = 0; t < th.size; t++) a += th.w[base + t] * mid[row + th.index[base + t] * ch + c];
          out[dst + x * ch + c] = clamp8(a);
        }
      }
    }
  }
  return { data: out, width, height, channels: ch };
}

/**
 * Shrink `img` so its longer side is at most maxSide (fitInside's size): a box average by the whole part k of
 * the reduction factor, then Lanczos-3 for the remaining factor in [1, 2). Returns the image unchanged when it
 * fits. `scale` maps the result's pixels to the input's (input = result * scale, along x).
 */
export function shrinkToFit(img: RawImage, maxSide: number = DEFAULT_MAX_SIDE): { image: RawImage; scale: number } {
  const size = fitInside(img.width, img.height, maxSide);
  if (size.width === img.width && size.height === img.height) return { image: img, scale: 1 };
  const f = Math.min(img.width / size.width, img.height / size.height);
  const k = Math.max(1, Math.floor(f));
  const boxed = boxShrink(img, k);
  const image = resizeLanczos3(boxed, size.width, size.height, { width: img.width, height: img.height, k });
  return { image, scale: img.width / image.width };
}
