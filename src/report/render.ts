/**
 * Rendering Vega-Lite specs in Node without a canvas: Vega-Lite → Vega (vega-lite's compile), Vega →
 * SVG (a headless vega View's toSVG), SVG → PNG (sharp/librsvg).
 */
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { ChartSpec } from './charts.js';

export interface RenderOptions {
  /** Pixel density of the PNG relative to the SVG's CSS pixels (default 2: sharp on a HiDPI screen). */
  scale?: number;
}

export interface Rendered {
  svg: string;
  png: Buffer;
  /** PNG size in pixels. */
  width: number;
  height: number;
  /** Warnings from Vega-Lite and Vega (an empty list for a clean spec). */
  warnings: string[];
}

/** A logger for vega and vega-lite that collects warnings instead of printing them. */
function collectingLogger(warnings: string[]) {
  let level = 2; // vega.Warn
  const logger = {
    level(l?: number): any {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: readonly unknown[]): any {
      warnings.push(`error: ${args.map(String).join(' ')}`);
      return logger;
    },
    warn(...args: readonly unknown[]): any {
      warnings.push(args.map(String).join(' '));
      return logger;
    },
    info(): any {
      return logger;
    },
    debug(): any {
      return logger;
    },
  };
  return logger;
}

/** Vega-Lite spec → SVG text (no canvas needed; text widths are estimated). */
export async function specToSvg(spec: ChartSpec, warnings: string[] = []): Promise<string> {
  const logger = collectingLogger(warnings);
  const compiled = compile(spec, { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger } as vega.ViewOptions);
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG text → PNG at `scale` times its CSS pixel size, on white. */
export async function svgToPng(svg: string, scale = 2): Promise<{ png: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(Buffer.from(svg), { density: 72 * scale })
    .flatten({ background: '#ffffff' })
    .png({ compressionLevel: 9 })
    .toBuffer({ resolveWithObject: true });
  return { png: data, width: info.width, height: info.height };
}

/** Render a Vega-Lite spec to SVG and PNG. */
export async function renderSpec(spec: ChartSpec, opts: RenderOptions = {}): Promise<Rendered> {
  const warnings: string[] = [];
  const svg = await specToSvg(spec, warnings);
  const { png, width, height } = await svgToPng(svg, opts.scale ?? 2);
  return { svg, png, width, height, warnings };
}

/** Render a spec and write it as a PNG file; returns the render (for sizes and warnings). */
export async function writeChartPng(spec: ChartSpec, file: string, opts: RenderOptions = {}): Promise<Rendered> {
  const r = await renderSpec(spec, opts);
  await writeFile(file, r.png);
  return r;
}
