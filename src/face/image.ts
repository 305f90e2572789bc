/**
 * Decoding photos for recognition (Node only, sharp): EXIF orientation applied, alpha flattened,
 * very large images shrunk for detection. Errors are ImageError with a message a user can act on.
 */
import sharp, { type Sharp } from 'sharp';
import type { RawImage } from './align.js';
import { DEFAULT_MAX_SIDE, fitInside, shrinkToFit } from './resize.js';
import { DEFAULT_MAX_FILE_MB } from '../util/glob.js';
import { parseShrink, type ShrinkMode } from './kinds.js';

/** The input could not be read as an image (corrupt, truncated, not an image, unsupported format). */
export class ImageError extends Error {
  constructor(message: string, readonly source?: string) {
    super(message);
    this.name = 'ImageError';
  }
}

export { DEFAULT_MAX_FILE_MB };

export interface ReadOptions {
  /** Refuse files larger than this many MB (default DEFAULT_MAX_FILE_MB). */
  maxFileMb?: number;
}

const KINDS: [string, (s: import('node:fs').Stats) => boolean][] = [
  ['a folder', (s) => s.isDirectory()],
  ['a FIFO (named pipe)', (s) => s.isFIFO()],
  ['a character device', (s) => s.isCharacterDevice()],
  ['a block device', (s) => s.isBlockDevice()],
  ['a socket', (s) => s.isSocket()],
];

/**
 * Read an image file, bounded: only a regular file (a link is followed), at most `maxFileMb`. A FIFO,
 * a device (/dev/zero) or a socket would otherwise block forever or be read without end.
 */
export async function readImageFile(path: string, opts: ReadOptions = {}): Promise<Uint8Array> {
  const { open, constants } = await import('node:fs/promises');
  const mb = opts.maxFileMb ?? DEFAULT_MAX_FILE_MB;
  const cap = Math.floor(mb * 1e6);
  let fh;
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one
    fh = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a folder' : (e as Error).message;
    throw new ImageError(`${path}: ${why}`, path);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      const kind = KINDS.find(([, is]) => is(st))?.[0] ?? 'not a regular file';
      throw new ImageError(`${path}: is ${kind}, not an image file`, path);
    }
    const tooBig = (n: string) =>
      new ImageError(`${path}: ${n} is more than the ${mb} MB poi reads from an image file (raise it with --max-file-mb or the maxFileMb option)`, path);
    if (st.size > cap) throw tooBig(`the file's ${(st.size / 1e6).toFixed(1)} MB`);
    // read at most cap + 1 bytes: a file that grows while it is read is still bounded
    const buf = new Uint8Array(Math.min(st.size, cap) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) {
        if (n > cap) throw tooBig('the file');
        break;
      }
    }
    return buf.subarray(0, n);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(`${path}: ${(e as Error).message}`, path);
  } finally {
    await fh.close();
  }
}

/** Formats poi reads (sharp's names). */
export const IMAGE_FORMATS = ['jpeg', 'png', 'webp', 'tiff', 'bmp', 'gif', 'heif', 'avif'] as const;

export interface DecodedPhoto {
  /** RGB pixels at the detection scale. */
  image: RawImage;
  /** Size of the image as the user sees it (after EXIF rotation), in its own pixels. */
  width: number;
  height: number;
  /** image pixels * scale = original pixels (1 unless the image was shrunk). */
  scale: number;
  /** sharp's format name. */
  format: string;
}

function describe(input: string | Uint8Array): string {
  return typeof input === 'string' ? input : `image (${input.length} bytes)`;
}

function decodeError(input: string | Uint8Array, e: unknown): ImageError {
  const msg = (e as Error).message ?? String(e);
  const what = describe(input);
  if (/unsupported image format|bad seek|not a known file format/i.test(msg)) return new ImageError(`${what}: not an image or an unsupported format`, what);
  if (/ENOENT|no such file/i.test(msg)) return new ImageError(`${what}: no such file`, what);
  if (/pixel limit/i.test(msg)) return new ImageError(`${what}: image is too large (${msg})`, what);
  return new ImageError(`${what}: cannot decode image (${msg.split('\n')[0]})`, what);
}

/** BMP is not in libvips; decode the common uncompressed 24/32-bit BMP here so folders of BMPs work. */
function decodeBmp(buf: Uint8Array): { data: Uint8Array; width: number; height: number } | null {
  if (buf.length < 54 || buf[0] !== 0x42 || buf[1] !== 0x4d) return null;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const offset = dv.getUint32(10, true);
  const width = dv.getInt32(18, true);
  const rawH = dv.getInt32(22, true);
  const bpp = dv.getUint16(28, true);
  const compression = dv.getUint32(30, true);
  if (width <= 0 || rawH === 0 || (bpp !== 24 && bpp !== 32) || (compression !== 0 && compression !== 3)) {
    throw new Error(`unsupported BMP (${bpp} bits per pixel, compression ${compression}); only uncompressed 24/32-bit`);
  }
  const height = Math.abs(rawH);
  const bytes = bpp / 8;
  const stride = Math.ceil((width * bytes) / 4) * 4;
  if (offset + stride * height > buf.length) throw new Error('truncated BMP');
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = rawH > 0 ? height - 1 - y : y;
    for (let x = 0; x < width; x++) {
      const s = offset + row * stride + x * bytes;
      const d = (y * width + x) * 3;
      data[d] = buf[s + 2];
      data[d + 1] = buf[s + 1];
      data[d + 2] = buf[s];
    }
  }
  return { data, width, height };
}

async function source(input: string | Uint8Array, opts: ReadOptions): Promise<Sharp> {
  if (typeof input === 'string') return source2(await readImageFile(input, opts), input);
  if (!(input instanceof Uint8Array)) {
    const what = input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input;
    throw new TypeError(`expected an image file path (string) or its bytes (Buffer or Uint8Array), got ${what}`);
  }
  return source2(input, input);
}

function source2(buf: Uint8Array, input: string | Uint8Array): Sharp {
  if (buf.length === 0) throw new ImageError(`${describe(input)}: empty file`, describe(input));
  let bmp: ReturnType<typeof decodeBmp>;
  try {
    bmp = decodeBmp(buf);
  } catch (e) {
    throw new ImageError(`${describe(input)}: ${(e as Error).message}`, describe(input));
  }
  if (bmp) return sharp(bmp.data, { raw: { width: bmp.width, height: bmp.height, channels: 3 } });
  return sharp(buf, { failOn: 'error' });
}

export { parseShrink, SHRINK_MODES, type ShrinkMode } from './kinds.js';

function defaultShrink(): ShrinkMode {
  try {
    return parseShrink(process.env.POI_SHRINK) ?? 'sharp';
  } catch {
    return 'sharp';
  }
}

/**
 * Decode a photo for detection: EXIF-rotated, RGB, shrunk so its longer side is at most `maxSide`
 * (detectors work at 128-512 px anyway; shrinking first keeps a 50-megapixel photo cheap).
 *
 * `shrink` 'sharp' (default) lets libvips shrink while decoding; 'js' decodes at full size and shrinks with
 * poi's own code (src/face/resize.ts), what the browser demo does. If libvips' resize fails for an image the JS
 * shrink is used instead. Either way `scale` maps the returned pixels to the photo's own.
 */
export async function decodePhoto(input: string | Uint8Array, opts: { maxSide?: number; shrink?: ShrinkMode } & ReadOptions = {}): Promise<DecodedPhoto> {
  const maxSide = opts.maxSide ?? DEFAULT_MAX_SIDE;
  const shrink = opts.shrink ?? defaultShrink();
  const img = await source(input, opts);
  try {
    const meta = await img.metadata();
    if (!meta.width || !meta.height) throw new Error('no image size');
    const swap = (meta.orientation ?? 1) >= 5;
    const width = swap ? meta.height : meta.width;
    const height = swap ? meta.width : meta.height;
    const fit = fitInside(width, height, maxSide);
    const needs = fit.width !== width || fit.height !== height;
    if (shrink === 'sharp' && needs) {
      try {
        const { data, info } = await img
          .clone()
          .rotate()
          .flatten({ background: '#000000' })
          .toColourspace('srgb')
          .removeAlpha()
          .resize(fit.width, fit.height, { fit: 'fill', kernel: 'lanczos3' })
          .raw()
          .toBuffer({ resolveWithObject: true });
        if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
        if (info.width !== fit.width || info.height !== fit.height) throw new Error(`resized to ${info.width}x${info.height}, expected ${fit.width}x${fit.height}`);
        const image: RawImage = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
        return { image, width, height, scale: width / image.width, format: meta.format ?? 'raw' };
      } catch {
        // fall back to the full decode and the JS shrink; a file that does not decode fails there, with its message
      }
    }
    const { data, info } = await img
      .rotate()
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    const full: RawImage = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
    const { image, scale } = shrinkToFit(full, maxSide);
    return { image, width: info.width, height: info.height, scale, format: meta.format ?? 'raw' };
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw decodeError(input, e);
  }
}

/**
 * Decode an already-aligned face crop straight to the model input (size x size x channels uint8), the
 * way training images are decoded (src/data/decode.ts: EXIF-rotated, scaled to cover and centre-cropped,
 * libvips 'b-w' for grey), so `--aligned` on FERPlus or RAF-DB aligned images sees what training saw.
 */
export async function decodeAligned(input: string | Uint8Array, size: number, channels: number, opts: ReadOptions = {}): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  const img = await source(input, opts);
  try {
    const meta = await img.metadata();
    const swap = (meta.orientation ?? 1) >= 5;
    const { data, info } = await img
      .rotate()
      .flatten({ background: '#000000' })
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .toColourspace(channels === 1 ? 'b-w' : 'srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`decoded to ${info.channels} channels, expected ${channels}`);
    return {
      pixels: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: (swap ? meta.height : meta.width) ?? size,
      height: (swap ? meta.width : meta.height) ?? size,
    };
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw decodeError(input, e);
  }
}
