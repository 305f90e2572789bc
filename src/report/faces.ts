/**
 * Face grids for the report: the faces the model is most and least sure about, cut from a decoded
 * ImageSet's pixels, upscaled, captioned (predicted class, confidence, true label) and composed into
 * one PNG with sharp.
 */
import sharp from 'sharp';
import type { ImageSet } from '../data/types.js';

export interface FaceInfo {
  /** Index of the face in the ImageSet. */
  index: number;
  /** Predicted class name. */
  predicted: string;
  /** True class name, or null when the face has no label. */
  truth: string | null;
  /** The model's confidence in (0, 1) (its uncertainty is 1 − confidence). */
  confidence: number;
  /** Probability of the predicted class. */
  probability: number;
}

/**
 * Indices of the `n` most sure faces (highest confidence first) and the `n` least sure (lowest first).
 * Ties go to the lower index. With fewer than 2n faces the two lists split them and do not overlap.
 */
export function selectFaces(confidence: ArrayLike<number>, n: number): { mostSure: number[]; leastSure: number[] } {
  const N = confidence.length;
  const idx = Array.from({ length: N }, (_, i) => i).filter((i) => Number.isFinite(confidence[i]));
  idx.sort((a, b) => confidence[b] - confidence[a] || a - b);
  const each = idx.length >= 2 * n ? n : Math.floor(idx.length / 2);
  if (each <= 0) return { mostSure: idx.slice(0, Math.min(1, n)), leastSure: [] };
  const mostSure = idx.slice(0, each);
  const leastSure = idx.slice(idx.length - each).reverse();
  return { mostSure, leastSure };
}

/** Describe faces for a grid from N*K probabilities, N confidences and the set's labels. */
export function describeFaces(indices: number[], set: ImageSet, probs: ArrayLike<number>, confidence: ArrayLike<number>): FaceInfo[] {
  const k = set.classes.length;
  return indices.map((i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + best]) best = j;
    const y = set.labels[i];
    return {
      index: i,
      predicted: set.classes[best],
      truth: y >= 0 ? set.classes[y] : null,
      confidence: confidence[i],
      probability: probs[i * k + best],
    };
  });
}

/** Pango markup escaping. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A face crop as a `size`x`size` RGB PNG buffer. */
export async function faceCrop(set: ImageSet, index: number, size: number): Promise<Buffer> {
  const { height: h, width: w, channels: c } = set;
  const px = set.pixels.subarray(index * h * w * c, (index + 1) * h * w * c);
  return sharp(Buffer.from(px), { raw: { width: w, height: h, channels: c } })
    .resize(size, size, { fit: 'fill', kernel: size >= 2 * Math.max(w, h) ? 'cubic' : 'lanczos3' })
    .toColourspace('srgb')
    .png()
    .toBuffer();
}

async function textImage(markup: string, width: number, font: string): Promise<{ buf: Buffer; width: number; height: number }> {
  const { data, info } = await sharp({ text: { text: markup, font, width, rgba: true, dpi: 96, wrap: 'word-char' } })
    .png()
    .toBuffer({ resolveWithObject: true });
  return { buf: data, width: info.width, height: info.height };
}

export interface GridOptions {
  /** Faces per row (default 6). */
  columns?: number;
  /** Tile size in pixels (default 112). */
  tile?: number;
  /** Heading drawn above the grid. */
  title?: string;
}

/**
 * One PNG: a grid of captioned faces. Caption colour: green when the prediction matches the label,
 * red when it does not, grey without a label.
 */
export async function faceGridPng(set: ImageSet, faces: FaceInfo[], opts: GridOptions = {}): Promise<Buffer> {
  const cols = Math.max(1, Math.min(opts.columns ?? 6, faces.length || 1));
  const tile = opts.tile ?? 112;
  const pad = 10;
  const captions = await Promise.all(
    faces.map((f) => {
      const colour = f.truth === null ? '#555555' : f.truth === f.predicted ? '#1a7f37' : '#c62828';
      const markup =
        `<span foreground="${colour}"><b>${esc(f.predicted)}</b></span>\n` +
        `conf ${f.confidence.toFixed(3)} · p ${f.probability.toFixed(3)}\n` +
        `<span foreground="#555555">true: ${esc(f.truth ?? '(none)')}</span>`;
      return textImage(markup, tile, 'sans 8');
    }),
  );
  const capH = Math.max(0, ...captions.map((c) => c.height));
  const title = opts.title ? await textImage(`<b>${esc(opts.title)}</b>`, cols * (tile + pad), 'sans 11') : null;
  const top = pad + (title ? title.height + pad : 0);
  const rows = Math.ceil(faces.length / cols);
  const width = pad + cols * (tile + pad);
  const height = top + Math.max(1, rows) * (tile + 4 + capH + pad);
  const crops = await Promise.all(faces.map((f) => faceCrop(set, f.index, tile)));
  const layers: { input: Buffer; left: number; top: number }[] = [];
  if (title) layers.push({ input: title.buf, left: pad, top: pad });
  faces.forEach((_, t) => {
    const x = pad + (t % cols) * (tile + pad);
    const y = top + Math.floor(t / cols) * (tile + 4 + capH + pad);
    layers.push({ input: crops[t], left: x, top: y });
    layers.push({ input: captions[t].buf, left: x, top: y + tile + 4 });
  });
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite(layers)
    .png({ compressionLevel: 9 })
    .toBuffer();
}
