/**
 * Decoding a Dataset into an in-memory ImageSet (uint8 NHWC) with sharp, with an on-disk cache.
 *
 * Geometry: each image is auto-rotated by its EXIF orientation, alpha is flattened onto black, and it
 * is resized to (height, width) with `fit` (default 'cover': keep the aspect ratio, scale to cover the
 * target and crop the centre — no distortion; 'fill' stretches to the exact size; 'contain' letterboxes
 * with black). Colour: channels 1 → libvips 'b-w' (luminance), 3 → sRGB (grey images replicated).
 *
 * Failures: an image that cannot be read or decoded is skipped; its path and the error go to the
 * returned `warnings` and to console.warn (compactly). The batch never throws for a bad image. Files
 * are read bounded (src/face/image.ts readImageFile): only regular files, at most `maxFileMb`, so a FIFO
 * or /dev/zero named as an image is a failure like a corrupt one, not a read that never ends.
 *
 * Cache: the decoded set is stored in `cacheDir` (default $POI_CACHE_DIR or ~/.cache/poi) as one binary
 * file `<name>-<key>.poic`, written atomically (temp file + rename). The key is a SHA-256 of the format
 * version, dataset name, classes, every sample's path, label and soft label, each file's size and mtime,
 * and the decode settings (height, width, channels, fit). Change any of them and the set is decoded again.
 * File layout (little-endian): 8-byte magic "POICACHE", uint32 header length, header JSON (key, name,
 * classes, height, width, channels, n, hasSoft, paths, warnings), zero padding to a multiple of 8,
 * pixels (n*H*W*C uint8), labels (n int32), soft (n*K float32, if hasSoft).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import sharp from 'sharp';
import type { Dataset, ImageSet } from './types.js';
import { printWarnings } from './common.js';
import { DEFAULT_MAX_FILE_MB, readImageFile } from '../face/image.js';

export type ResizeFit = 'cover' | 'fill' | 'contain';

export interface DecodeOptions {
  height: number;
  width: number;
  channels: 1 | 3;
  /** Default 'cover' (see module doc). */
  fit?: ResizeFit;
  /** Cache folder; default $POI_CACHE_DIR or ~/.cache/poi. `false` disables the cache. */
  cacheDir?: string | false;
  /** Images decoded at once (default 16). */
  concurrency?: number;
  /** Called as images are decoded (not called on a cache hit except once with (n, n)). */
  onProgress?: (done: number, total: number) => void;
  /** Do not print warnings (they are still returned). */
  quiet?: boolean;
  /** Refuse image files larger than this many MB (default DEFAULT_MAX_FILE_MB, as poi predict). */
  maxFileMb?: number;
}

/** An ImageSet plus what decoding found. */
export interface DecodedSet extends ImageSet {
  /** Images that failed to decode ("path: error"), and the dataset's own warnings. */
  warnings: string[];
  /** True when the set was loaded from the cache. */
  fromCache: boolean;
  /** The cache file used or written (null without cache). */
  cacheFile: string | null;
}

const MAGIC = 'POICACHE';
const CACHE_VERSION = 1;

/** The default cache folder: $POI_CACHE_DIR, else ~/.cache/poi. */
export function defaultCacheDir(): string {
  return process.env.POI_CACHE_DIR || path.join(os.homedir(), '.cache', 'poi');
}

/** Decode one image file to exactly height*width*channels uint8 bytes. */
export async function decodeImage(
  file: string | Uint8Array,
  height: number,
  width: number,
  channels: 1 | 3,
  fit: ResizeFit = 'cover',
): Promise<Uint8Array> {
  const { data, info } = await sharp(file)
    .rotate()
    .flatten({ background: '#000000' })
    .resize(width, height, { fit, position: 'centre', background: '#000000' })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height) {
    throw new Error(`decoded to ${info.width}x${info.height}, expected ${width}x${height}`);
  }
  const c = info.channels;
  if (c === channels) return new Uint8Array(data.buffer, data.byteOffset, data.length);
  const n = width * height;
  const out = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    if (channels === 1) out[i] = data[i * c];
    else for (let k = 0; k < 3; k++) out[i * 3 + k] = data[i * c + (c >= 3 ? k : 0)];
  }
  return out;
}

function sanitize(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '');
  return s.length > 60 ? s.slice(s.length - 60) : s;
}

/** The cache key of (dataset, settings): SHA-256 hex. Stats every file (size, mtime). */
export function cacheKey(ds: Dataset, opts: DecodeOptions): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({
    v: CACHE_VERSION,
    name: ds.name,
    classes: ds.classes,
    height: opts.height,
    width: opts.width,
    channels: opts.channels,
    fit: opts.fit ?? 'cover',
    n: ds.samples.length,
    // a size limit other than the default can change which files are refused (absent: keys stay as they were)
    ...(opts.maxFileMb !== undefined && opts.maxFileMb !== DEFAULT_MAX_FILE_MB ? { maxFileMb: opts.maxFileMb } : {}),
  }));
  const lab = new Int32Array(1);
  for (const s of ds.samples) {
    let fp: string;
    try {
      const st = fs.statSync(s.path);
      fp = `${st.size}:${st.mtimeMs}`;
    } catch {
      fp = 'missing';
    }
    lab[0] = s.label;
    h.update(`\n${s.path}\u0000${fp}\u0000`);
    h.update(new Uint8Array(lab.buffer));
    if (s.soft) h.update(new Uint8Array(s.soft.buffer, s.soft.byteOffset, s.soft.byteLength));
    else h.update('-');
  }
  return h.digest('hex');
}

interface Header {
  version: number;
  key: string;
  name: string;
  classes: string[];
  height: number;
  width: number;
  channels: 1 | 3;
  n: number;
  hasSoft: boolean;
  paths: string[];
  warnings: string[];
}

const CHUNK = 1 << 26;

function writeAll(fd: number, a: Uint8Array): void {
  for (let off = 0; off < a.length; ) {
    off += fs.writeSync(fd, a, off, Math.min(CHUNK, a.length - off));
  }
}

function readAll(fd: number, a: Uint8Array, pos: number): void {
  for (let off = 0; off < a.length; ) {
    const r = fs.readSync(fd, a, off, Math.min(CHUNK, a.length - off), pos + off);
    if (r <= 0) throw new Error('cache file truncated');
    off += r;
  }
}

/** Write an ImageSet to a cache file atomically (temp file in the same folder, then rename). */
export function writeCacheFile(file: string, set: ImageSet, key: string, name: string, warnings: string[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const header: Header = {
    version: CACHE_VERSION,
    key,
    name,
    classes: set.classes,
    height: set.height,
    width: set.width,
    channels: set.channels,
    n: set.labels.length,
    hasSoft: set.soft !== null,
    paths: set.paths,
    warnings,
  };
  const hjson = Buffer.from(JSON.stringify(header), 'utf8');
  const pre = 8 + 4 + hjson.length;
  const pad = (8 - (pre % 8)) % 8;
  const head = Buffer.alloc(pre + pad);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(hjson.length, 8);
  hjson.copy(head, 12);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAll(fd, head);
    writeAll(fd, set.pixels);
    // pixels length may not be a multiple of 4; pad so labels start aligned in the file
    const p2 = (4 - (set.pixels.length % 4)) % 4;
    if (p2) writeAll(fd, new Uint8Array(p2));
    writeAll(fd, new Uint8Array(set.labels.buffer, set.labels.byteOffset, set.labels.byteLength));
    if (set.soft) writeAll(fd, new Uint8Array(set.soft.buffer, set.soft.byteOffset, set.soft.byteLength));
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

/** Read a cache file (its warnings are the decode failures); null if it is absent, of another version/key, or damaged. */
export function readCacheFile(file: string, key?: string): { set: ImageSet; warnings: string[]; name: string } | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const pre = Buffer.alloc(12);
    if (size < 12) return null;
    readAll(fd, pre, 0);
    if (pre.toString('latin1', 0, 8) !== MAGIC) return null;
    const hlen = pre.readUInt32LE(8);
    if (12 + hlen > size) return null;
    const hbuf = Buffer.alloc(hlen);
    readAll(fd, hbuf, 12);
    const h = JSON.parse(hbuf.toString('utf8')) as Header;
    if (h.version !== CACHE_VERSION || (key !== undefined && h.key !== key)) return null;
    const start = 12 + hlen + ((8 - ((12 + hlen) % 8)) % 8);
    const npx = h.n * h.height * h.width * h.channels;
    const p2 = (4 - (npx % 4)) % 4;
    const K = h.classes.length;
    const expected = start + npx + p2 + h.n * 4 + (h.hasSoft ? h.n * K * 4 : 0);
    if (size !== expected || h.paths.length !== h.n) return null;
    const pixels = new Uint8Array(npx);
    readAll(fd, pixels, start);
    const labels = new Int32Array(h.n);
    readAll(fd, new Uint8Array(labels.buffer), start + npx + p2);
    let soft: Float32Array | null = null;
    if (h.hasSoft) {
      soft = new Float32Array(h.n * K);
      readAll(fd, new Uint8Array(soft.buffer), start + npx + p2 + h.n * 4);
    }
    const set: ImageSet = {
      classes: h.classes,
      height: h.height,
      width: h.width,
      channels: h.channels,
      pixels,
      labels,
      soft,
      paths: h.paths,
    };
    return { set, warnings: h.warnings, name: h.name };
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Decode every sample of `ds` (see module doc). Uses the cache unless `cacheDir: false`.
 * Returns the images in sample order, without the ones that failed.
 */
export async function decodeDataset(ds: Dataset, opts: DecodeOptions): Promise<DecodedSet> {
  const { height: H, width: W, channels: C } = opts;
  if (!(Number.isInteger(H) && H > 0 && Number.isInteger(W) && W > 0)) throw new Error(`decodeDataset: bad size ${H}x${W}`);
  if (C !== 1 && C !== 3) throw new Error(`decodeDataset: channels must be 1 or 3, got ${C}`);
  const fit = opts.fit ?? 'cover';
  const maxFileMb = opts.maxFileMb ?? DEFAULT_MAX_FILE_MB;
  const N = ds.samples.length;
  const K = ds.classes.length;
  const cacheDir = opts.cacheDir === false ? null : opts.cacheDir ?? defaultCacheDir();
  let key = '';
  let file: string | null = null;
  if (cacheDir) {
    key = cacheKey(ds, opts);
    file = path.join(cacheDir, `${sanitize(ds.name)}-${H}x${W}x${C}-${key.slice(0, 16)}.poic`);
    const hit = readCacheFile(file, key);
    if (hit) {
      opts.onProgress?.(N, N);
      printWarnings(ds.name, hit.warnings, opts.quiet);
      return { ...hit.set, warnings: [...ds.warnings, ...hit.warnings], fromCache: true, cacheFile: file };
    }
  }

  const px = H * W * C;
  const pixels = new Uint8Array(N * px);
  const ok = new Uint8Array(N);
  const failures: string[] = [];
  const failIndex: number[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= N) return;
      const s = ds.samples[i];
      try {
        const bytes = await readImageFile(s.path, { maxFileMb });
        const img = await decodeImage(bytes, H, W, C, fit);
        pixels.set(img, i * px);
        ok[i] = 1;
      } catch (e) {
        failIndex.push(i);
        const why = String((e as Error).message ?? e).replace(`${s.path}: `, '');
        failures.push(`${s.path}: cannot decode (${why}), skipped`);
      }
      done++;
      opts.onProgress?.(done, N);
    }
  };
  const conc = Math.max(1, Math.min(opts.concurrency ?? 16, N || 1));
  await Promise.all(Array.from({ length: conc }, worker));
  // failures in sample order, for stable reports
  const order = failIndex.map((i, j) => [i, j] as const).sort((a, b) => a[0] - b[0]);
  const decodeWarnings = order.map(([, j]) => failures[j]);

  const keep: number[] = [];
  for (let i = 0; i < N; i++) if (ok[i]) keep.push(i);
  const M = keep.length;
  const hasSoft = ds.samples.some((s) => s.soft !== undefined);
  const outPixels = M === N ? pixels : new Uint8Array(M * px);
  const labels = new Int32Array(M);
  const soft = hasSoft ? new Float32Array(M * K) : null;
  const paths: string[] = new Array(M);
  keep.forEach((i, j) => {
    const s = ds.samples[i];
    if (M !== N) outPixels.set(pixels.subarray(i * px, (i + 1) * px), j * px);
    labels[j] = s.label;
    paths[j] = s.path;
    if (soft) {
      if (s.soft) {
        if (s.soft.length !== K) throw new Error(`decodeDataset: ${s.path} has ${s.soft.length} soft values for ${K} classes`);
        soft.set(s.soft, j * K);
      } else if (s.label >= 0) soft[j * K + s.label] = 1; // one-hot where a sample has no soft label
    }
  });
  const set: ImageSet = { classes: [...ds.classes], height: H, width: W, channels: C, pixels: outPixels, labels, soft, paths };
  printWarnings(ds.name, decodeWarnings, opts.quiet);
  const warnings = [...ds.warnings, ...decodeWarnings];
  if (file) {
    try {
      writeCacheFile(file, set, key, ds.name, decodeWarnings);
    } catch (e) {
      const w = `cache ${file} not written: ${(e as Error).message}`;
      warnings.push(w);
      if (!opts.quiet) console.warn(`poi data: ${w}`);
      file = null;
    }
  }
  return { ...set, warnings, fromCache: false, cacheFile: file };
}
