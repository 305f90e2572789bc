/**
 * A recorded "webcam" clip for chromium's fake camera (`--use-file-for-fake-video-capture=<clip.y4m>`),
 * made from face-api's sample1.jpg (no video in the repository): a 640x480 window panning slowly over two of
 * its faces, so they move, come back (the motion is a ping-pong, so the clip loops seamlessly) and stay in
 * view. Written as Y4M (4:2:0, BT.601 full range), which chromium reads frame by frame at the rate in its header.
 * test/webcam.test.ts and bench/webcam-bench.ts both use it.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';

const require = createRequire(import.meta.url);

export const SAMPLE1 = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo', 'sample1.jpg');

export interface ClipOptions {
  /** Frames in the clip (default 60: 2 s at 30 fps); the motion goes there and back once. */
  frames?: number;
  fps?: number;
}

/** RGB (interleaved) to I420 planes, BT.601 full range (what chromium's Y4M reader converts back). */
export function rgbToI420(rgb: Uint8Array, width: number, height: number): Buffer {
  const cw = width >> 1;
  const ch = height >> 1;
  const out = Buffer.alloc(width * height + 2 * cw * ch);
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let i = 0; i < width * height; i++) {
    const r = rgb[i * 3], g = rgb[i * 3 + 1], b = rgb[i * 3 + 2];
    out[i] = clamp(0.299 * r + 0.587 * g + 0.114 * b);
  }
  const uOff = width * height;
  const vOff = uOff + cw * ch;
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      let r = 0, g = 0, b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const p = ((2 * y + dy) * width + 2 * x + dx) * 3;
        r += rgb[p];
        g += rgb[p + 1];
        b += rgb[p + 2];
      }
      r /= 4;
      g /= 4;
      b /= 4;
      out[uOff + y * cw + x] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
      out[vOff + y * cw + x] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
    }
  }
  return out;
}

/** Write the 640x480 clip to `path` (.y4m). */
export async function writeFaceClip(path: string, opts: ClipOptions = {}): Promise<{ frames: number; fps: number; width: number; height: number }> {
  const frames = opts.frames ?? 60;
  const fps = opts.fps ?? 30;
  const width = 640;
  const height = 480;
  // sample1.jpg at 0.7 (1344x896): faces 2 and 3 of `poi predict` sit at x 586-718 and 1033-1175, ~160 px tall;
  // the window keeps both in view while they drift ~30 px sideways and 60 px up and down
  const scale = 0.7;
  const W = Math.round(1920 * scale);
  const H = Math.round(1280 * scale);
  const photo = await sharp(SAMPLE1).resize(W, H).removeAlpha().raw().toBuffer();
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, `YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`);
    const frame = Buffer.alloc(width * height * 3);
    for (let i = 0; i < frames; i++) {
      // there and back: t goes 0 → 1 → 0 over the clip
      const t = 1 - Math.abs(1 - (2 * i) / frames);
      const left = Math.round(545 + 31 * t);
      const top = Math.round(40 + 60 * t);
      for (let y = 0; y < height; y++) {
        const src = ((top + y) * W + left) * 3;
        photo.copy(frame, y * width * 3, src, src + width * 3);
      }
      writeSync(fd, 'FRAME\n');
      writeSync(fd, rgbToI420(frame, width, height));
    }
  } finally {
    closeSync(fd);
  }
  return { frames, fps, width, height };
}
