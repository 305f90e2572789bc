/**
 * Training-time augmentation in plain TypeScript, seeded by an Rng.
 *
 * One call draws, in this order: crop shift (dx, dy), flip, rotation angle, scale, then erasing.
 * Crop, flip, rotation and scale are composed into ONE inverse affine map and applied with bilinear
 * sampling (exact copy when there is no rotation/scale), so the image is resampled at most once.
 * "Random crop with padding p" = pad by p on each side, crop a random HxW window = shift the image by an
 * integer in [-p, p] on each axis; pixels from outside the image follow `border`.
 * Random erasing (Zhong et al. 2020, as torchvision) then fills one rectangle.
 */
import { Rng } from '../util/rng.js';

export type BorderMode = 'reflect' | 'zero' | 'edge';

export interface AugmentConfig {
  /** Random crop: padding in pixels (shift in [-cropPad, cropPad]). 0 = off. Default 4. */
  cropPad: number;
  /** Where pixels come from outside the image: 'reflect' (mirror, edge not repeated), 'zero', 'edge'. Default 'reflect'. */
  border: BorderMode;
  /** Probability of a horizontal flip. 0 = off. Default 0.5. */
  flipProb: number;
  /** Rotation uniform in [-rotateDeg, rotateDeg] degrees. 0 = off. Default 10. */
  rotateDeg: number;
  /** Scale uniform in [scaleMin, scaleMax] (> 1 zooms in). 1, 1 = off. Default 0.9, 1.1. */
  scaleMin: number;
  scaleMax: number;
  /** Probability of random erasing. 0 = off. Default 0.25. */
  eraseProb: number;
  /** Erased area as a fraction of the image, uniform in [min, max]. Default [0.02, 0.2]. */
  eraseArea: [number, number];
  /** Aspect ratio (h/w) of the erased box, log-uniform in [min, max]. Default [0.3, 3.3]. */
  eraseRatio: [number, number];
  /** Fill: a constant in the input's value range, or 'random' (uniform noise in [0, pixelMax)). Default 'random'. */
  eraseValue: number | 'random';
  /** Largest pixel value, for 'random' erasing: default 255 for Uint8Array input, 1 for Float32Array. */
  pixelMax?: number;
}

export const DEFAULT_AUGMENT: Readonly<AugmentConfig> = Object.freeze({
  cropPad: 4,
  border: 'reflect',
  flipProb: 0.5,
  rotateDeg: 10,
  scaleMin: 0.9,
  scaleMax: 1.1,
  eraseProb: 0.25,
  eraseArea: [0.02, 0.2],
  eraseRatio: [0.3, 3.3],
  eraseValue: 'random',
}) as Readonly<AugmentConfig>;

/** Everything off (the identity); spread over it to turn on single parts. */
export const NO_AUGMENT: Readonly<AugmentConfig> = Object.freeze({
  ...DEFAULT_AUGMENT,
  cropPad: 0,
  flipProb: 0,
  rotateDeg: 0,
  scaleMin: 1,
  scaleMax: 1,
  eraseProb: 0,
}) as Readonly<AugmentConfig>;

/** Defaults completed with the given fields; validated. */
export function augmentConfig(partial: Partial<AugmentConfig> = {}): AugmentConfig {
  const c: AugmentConfig = {
    ...DEFAULT_AUGMENT,
    eraseArea: [...DEFAULT_AUGMENT.eraseArea],
    eraseRatio: [...DEFAULT_AUGMENT.eraseRatio],
    ...partial,
  };
  const bad = (m: string) => {
    throw new Error(`AugmentConfig: ${m}`);
  };
  if (!(Number.isInteger(c.cropPad) && c.cropPad >= 0)) bad(`cropPad must be a non-negative integer, got ${c.cropPad}`);
  if (!['reflect', 'zero', 'edge'].includes(c.border)) bad(`border must be reflect|zero|edge, got ${c.border}`);
  if (!(c.flipProb >= 0 && c.flipProb <= 1)) bad(`flipProb must be in [0,1]`);
  if (!(c.rotateDeg >= 0 && c.rotateDeg < 180)) bad(`rotateDeg must be in [0,180)`);
  if (!(c.scaleMin > 0 && c.scaleMax >= c.scaleMin)) bad(`need 0 < scaleMin <= scaleMax`);
  if (!(c.eraseProb >= 0 && c.eraseProb <= 1)) bad(`eraseProb must be in [0,1]`);
  if (!(c.eraseArea[0] > 0 && c.eraseArea[1] >= c.eraseArea[0] && c.eraseArea[1] < 1)) bad(`eraseArea must satisfy 0 < min <= max < 1`);
  if (!(c.eraseRatio[0] > 0 && c.eraseRatio[1] >= c.eraseRatio[0])) bad(`eraseRatio must satisfy 0 < min <= max`);
  return c;
}

/** Map index i into [0, n) by the border rule; -1 means "zero". */
function borderIndex(i: number, n: number, mode: BorderMode): number {
  if (i >= 0 && i < n) return i;
  if (mode === 'zero') return -1;
  if (mode === 'edge' || n === 1) return i < 0 ? 0 : n - 1;
  const period = 2 * n - 2;
  i = Math.abs(i) % period;
  return i >= n ? period - i : i;
}

/** What one augment() call drew (for tests and debugging). */
export interface AugmentParams {
  dx: number;
  dy: number;
  flip: boolean;
  angleDeg: number;
  scale: number;
  /** Erased box, or null. */
  erase: { x: number; y: number; w: number; h: number } | null;
}

/** Draw the random parameters of one augmentation (the same draws augment() makes, in order). */
export function drawAugmentParams(h: number, w: number, rng: Rng, cfg: AugmentConfig): AugmentParams {
  const p = cfg.cropPad;
  const dx = p > 0 ? rng.int(2 * p + 1) - p : 0;
  const dy = p > 0 ? rng.int(2 * p + 1) - p : 0;
  const flip = cfg.flipProb > 0 ? rng.next() < cfg.flipProb : false;
  const angleDeg = cfg.rotateDeg > 0 ? rng.uniform(-cfg.rotateDeg, cfg.rotateDeg) : 0;
  const scale = cfg.scaleMax > cfg.scaleMin ? rng.uniform(cfg.scaleMin, cfg.scaleMax) : cfg.scaleMin;
  let erase: AugmentParams['erase'] = null;
  if (cfg.eraseProb > 0 && rng.next() < cfg.eraseProb) {
    const lr0 = Math.log(cfg.eraseRatio[0]);
    const lr1 = Math.log(cfg.eraseRatio[1]);
    for (let attempt = 0; attempt < 10; attempt++) {
      const area = rng.uniform(cfg.eraseArea[0], cfg.eraseArea[1]) * h * w;
      const ratio = Math.exp(rng.uniform(lr0, lr1));
      const eh = Math.round(Math.sqrt(area * ratio));
      const ew = Math.round(Math.sqrt(area / ratio));
      if (eh < 1 || ew < 1 || eh >= h || ew >= w) continue;
      erase = { y: rng.int(h - eh + 1), x: rng.int(w - ew + 1), h: eh, w: ew };
      break;
    }
  }
  return { dx, dy, flip, angleDeg, scale, erase };
}

/**
 * Augment one HxWxC image (`src` from `srcOffset`) into `out` (from `outOffset`), in the input's value
 * range, as float32. Returns the parameters drawn. `out` must not overlap `src`.
 */
export function augmentInto(
  src: Uint8Array | Float32Array,
  srcOffset: number,
  h: number,
  w: number,
  c: number,
  rng: Rng,
  cfg: AugmentConfig,
  out: Float32Array,
  outOffset: number,
): AugmentParams {
  const prm = drawAugmentParams(h, w, rng, cfg);
  const { dx, dy, flip, angleDeg, scale } = prm;
  const mode = cfg.border;
  const rowStride = w * c;
  if (angleDeg === 0 && scale === 1) {
    // integer shift (+ flip): exact copy through index tables
    const xs = new Int32Array(w);
    for (let x = 0; x < w; x++) xs[x] = borderIndex((flip ? w - 1 - x : x) + dx, w, mode);
    for (let y = 0; y < h; y++) {
      const sy = borderIndex(y + dy, h, mode);
      let o = outOffset + y * rowStride;
      if (sy < 0) {
        out.fill(0, o, o + rowStride);
        continue;
      }
      const rowBase = srcOffset + sy * rowStride;
      if (c === 1) {
        for (let x = 0; x < w; x++, o++) {
          const sx = xs[x];
          out[o] = sx < 0 ? 0 : src[rowBase + sx];
        }
      } else {
        for (let x = 0; x < w; x++) {
          const sx = xs[x];
          for (let k = 0; k < c; k++, o++) out[o] = sx < 0 ? 0 : src[rowBase + sx * c + k];
        }
      }
    }
  } else {
    // inverse map: output (x, y) -> rotation/scale about the centre undone -> flip undone -> shift
    const cx = (w - 1) / 2;
    const cy = (h - 1) / 2;
    const t = (angleDeg * Math.PI) / 180;
    const cs = Math.cos(t) / scale;
    const sn = Math.sin(t) / scale;
    // source coordinates are affine in x: start at x = 0 and step by (ax, ay) per output pixel
    const fl = flip ? -1 : 1;
    const ax = fl * cs;
    const ay = -sn;
    for (let y = 0; y < h; y++) {
      const yy = y - cy;
      let u0 = cx - cs * cx + sn * yy;
      if (flip) u0 = w - 1 - u0;
      let sx = u0 + dx;
      let sy = cy + sn * cx + cs * yy + dy;
      let o = outOffset + y * rowStride;
      for (let x = 0; x < w; x++, sx += ax, sy += ay) {
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        const w00 = (1 - fx) * (1 - fy);
        const w01 = fx * (1 - fy);
        const w10 = (1 - fx) * fy;
        const w11 = fx * fy;
        if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
          // all four neighbours inside: no border logic
          const p0 = srcOffset + y0 * rowStride + x0 * c;
          const p1 = p0 + rowStride;
          for (let k = 0; k < c; k++, o++) {
            out[o] = w00 * src[p0 + k] + w01 * src[p0 + c + k] + w10 * src[p1 + k] + w11 * src[p1 + c + k];
          }
          continue;
        }
        const ix0 = borderIndex(x0, w, mode);
        const ix1 = borderIndex(x0 + 1, w, mode);
        const iy0 = borderIndex(y0, h, mode);
        const iy1 = borderIndex(y0 + 1, h, mode);
        const r0 = iy0 < 0 ? -1 : srcOffset + iy0 * rowStride;
        const r1 = iy1 < 0 ? -1 : srcOffset + iy1 * rowStride;
        for (let k = 0; k < c; k++, o++) {
          let acc = 0;
          if (r0 >= 0) {
            if (ix0 >= 0) acc += w00 * src[r0 + ix0 * c + k];
            if (ix1 >= 0) acc += w01 * src[r0 + ix1 * c + k];
          }
          if (r1 >= 0) {
            if (ix0 >= 0) acc += w10 * src[r1 + ix0 * c + k];
            if (ix1 >= 0) acc += w11 * src[r1 + ix1 * c + k];
          }
          out[o] = acc;
        }
      }
    }
  }
  const e = prm.erase;
  if (e) {
    const max = cfg.pixelMax ?? (src instanceof Uint8Array ? 255 : 1);
    const val = cfg.eraseValue;
    for (let y = e.y; y < e.y + e.h; y++) {
      let o = outOffset + (y * w + e.x) * c;
      for (let n = e.w * c; n > 0; n--, o++) out[o] = val === 'random' ? rng.next() * max : val;
    }
  }
  return prm;
}

/**
 * Augment one HxWxC image; returns a new Float32Array (same value range as the input).
 * `cfg` may be partial (completed with DEFAULT_AUGMENT).
 */
export function augment(
  src: Uint8Array | Float32Array,
  h: number,
  w: number,
  c: number,
  rng: Rng,
  cfg: Partial<AugmentConfig> = {},
  out?: Float32Array,
): Float32Array {
  if (src.length !== h * w * c) throw new Error(`augment: image has ${src.length} values, expected ${h}x${w}x${c}`);
  const o = out ?? new Float32Array(h * w * c);
  augmentInto(src, 0, h, w, c, rng, augmentConfig(cfg), o, 0);
  return o;
}
