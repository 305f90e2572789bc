/**
 * Drawing results: boxes (and PIN regions) over the image, and one card per face with the emotion bars,
 * a certainty gauge and the plain sentence. Every number shown is also in the DOM at full precision
 * (data-probs, data-confidence) so tests and scripts can read exactly what the page computed.
 */
import type { PageFace } from './engine.js';
import { AU_NAMES, type Au } from '../../src/model/prior.js';
import { DEFAULT_DESCRIBE, type DescribeOptions } from '../../src/ui/describe.js';

/** Distinct box colours, face i gets COLORS[i % n]. */
export const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324'];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** Draw the boxes, numbers and (with explanations) PIN's regions over the image already on `ctx`. */
export function drawOverlay(ctx: CanvasRenderingContext2D, faces: PageFace[], showRegions: boolean): void {
  const scale = Math.max(1, Math.min(ctx.canvas.width, ctx.canvas.height) / 400);
  faces.forEach((f, i) => {
    const color = COLORS[i % COLORS.length];
    ctx.lineWidth = 2.5 * scale;
    ctx.strokeStyle = color;
    ctx.strokeRect(f.box.x, f.box.y, f.box.width, f.box.height);
    const label = `${i + 1} ${f.emotion} ${Math.round(f.probability * 100)}%`;
    ctx.font = `${Math.round(14 * scale)}px system-ui, sans-serif`;
    const w = ctx.measureText(label).width + 8 * scale;
    const h = 20 * scale;
    const y = f.box.y > h ? f.box.y - h : f.box.y + f.box.height;
    ctx.fillStyle = color;
    ctx.fillRect(f.box.x - ctx.lineWidth / 2, y, w, h);
    ctx.fillStyle = '#fff';
    ctx.fillText(label, f.box.x + 4 * scale - ctx.lineWidth / 2, y + 15 * scale);
    if (showRegions && f.regions) {
      ctx.setLineDash([4 * scale, 3 * scale]);
      ctx.lineWidth = 1.2 * scale;
      for (const r of f.regions) {
        if (r.name === 'global') continue;
        ctx.beginPath();
        r.polygon.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
        ctx.closePath();
        ctx.stroke();
      }
      ctx.setLineDash([]);
    }
  });
}

/** A half-circle gauge of c with the three bands of the model's describe options (PageFace.bands; default DEFAULT_DESCRIBE's). */
export function gauge(confidence: number, bands: Pick<DescribeOptions, 'sureAbove' | 'unsureBelow'> = DEFAULT_DESCRIBE): SVGElement {
  const { unsureBelow: lo, sureAbove: hi } = bands;
  const R = 40;
  const cx = 50;
  const cy = 48;
  const pt = (v: number, r = R) => [cx - r * Math.cos(Math.PI * v), cy - r * Math.sin(Math.PI * v)];
  const arc = (a: number, b: number, color: string) => {
    const [x0, y0] = pt(a);
    const [x1, y1] = pt(b);
    return svg('path', { d: `M ${x0} ${y0} A ${R} ${R} 0 0 1 ${x1} ${y1}`, stroke: color, 'stroke-width': 9, fill: 'none' });
  };
  const s = svg('svg', { viewBox: '0 0 100 56', class: 'gauge', role: 'img', 'aria-label': `certainty ${Math.round(confidence * 100)}%` });
  s.append(arc(0, lo, '#d9534f'), arc(lo, hi, '#f0ad4e'), arc(hi, 1, '#5cb85c'));
  const v = Math.max(0, Math.min(1, confidence));
  const [nx, ny] = pt(v, R - 2);
  s.append(svg('line', { x1: cx, y1: cy, x2: nx, y2: ny, stroke: '#222', 'stroke-width': 2.5, 'stroke-linecap': 'round' }));
  s.append(svg('circle', { cx, cy, r: 3.5, fill: '#222' }));
  return s;
}

/** Draw a grey or RGB crop, upscaled, with PIN's region boxes when explained. */
function cropCanvas(f: PageFace, color: string): HTMLCanvasElement {
  const { pixels, size, channels } = f.crop;
  const c = el('canvas', { class: 'crop', title: 'the aligned face poi saw' });
  const zoom = 2;
  c.width = c.height = size * zoom;
  const ctx = c.getContext('2d')!;
  const small = new ImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    for (let k = 0; k < 3; k++) small.data[i * 4 + k] = pixels[i * channels + (channels === 1 ? 0 : k)];
    small.data[i * 4 + 3] = 255;
  }
  const tmp = el('canvas');
  tmp.width = tmp.height = size;
  tmp.getContext('2d')!.putImageData(small, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, size * zoom, size * zoom);
  if (f.regions) {
    ctx.strokeStyle = color;
    ctx.setLineDash([3, 2]);
    ctx.lineWidth = 1;
    for (const r of f.regions) {
      if (r.name === 'global') continue;
      const [y0, x0, y1, x1] = r.cropBox.map((v) => v * size * zoom);
      ctx.strokeRect(x0 + 0.5, y0 + 0.5, x1 - x0 - 1, y1 - y0 - 1);
    }
  }
  return c;
}

function bars(probs: Record<string, number>, cls = 'bars'): HTMLElement {
  const list = el('ul', { class: cls });
  const top = Math.max(...Object.values(probs));
  for (const [name, p] of Object.entries(probs)) {
    const fill = el('i');
    fill.style.width = `${(p * 100).toFixed(1)}%`;
    list.append(el('li', { 'data-class': name, 'data-p': String(p), class: p === top ? 'top' : '' }, el('span', { class: 'name' }, name), el('span', { class: 'bar' }, fill), el('span', { class: 'val' }, `${(p * 100).toFixed(0)}%`)));
  }
  return list;
}

function explanation(f: PageFace): HTMLElement {
  const box = el('details', { class: 'explain', open: '' }, el('summary', {}, 'why: what each face region suggests (PIN)'));
  const table = el('div', { class: 'regions' });
  for (const r of f.regions!) {
    const [top, p] = Object.entries(r.emotions).sort((a, b) => b[1] - a[1])[0];
    // the region's two most active action units, whatever their level (a weak model's may all stay below 50%)
    const aus = Object.entries(r.aus)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 2)
      .map(([key, v]) => `${key} ${AU_NAMES[Number(key.slice(2)) as Au] ?? ''} ${Math.round(v * 100)}%`)
      .join(', ');
    table.append(el('div', { class: 'region', 'data-region': r.name }, el('strong', {}, r.name), ` ${top} ${Math.round(p * 100)}%`, el('br'), el('small', {}, aus)));
  }
  box.append(table);
  return box;
}

/** One card per face. */
export function faceCard(f: PageFace, i: number): HTMLElement {
  const color = COLORS[i % COLORS.length];
  const d = f.description;
  const card = el('article', {
    class: `face level-${d.level}`,
    'data-index': String(i),
    'data-emotion': f.emotion,
    'data-confidence': String(f.confidence),
    'data-emotions': JSON.stringify(f.emotions),
    'data-level': d.level,
    'data-bands': JSON.stringify(f.bands),
    'data-box': JSON.stringify(f.box),
  });
  card.style.borderColor = color;
  const pct = Math.round(f.confidence * 100);
  card.append(
    el('header', {}, el('span', { class: 'num' }, String(i + 1)), el('span', { class: 'sentence' }, d.sentence)),
    el('div', { class: 'row' },
      cropCanvas(f, color),
      el('div', { class: 'certainty' }, gauge(f.confidence, f.bands), el('div', { class: 'gauge-label' }, `certainty ${pct}%`))),
    bars(f.emotions),
  );
  if (f.regions) card.append(explanation(f));
  return card;
}
