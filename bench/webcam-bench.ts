/**
 * The browser demo's webcam mode in headless chromium (software: no GPU), frames per second (issue 15).
 *
 * Chromium's fake camera plays a recorded 640x480 clip (bench/webcam-clip.ts: two of face-api's sample
 * faces drifting, 30 fps); the page (`poi demo`'s build and server, in this process) runs its live loop on it
 * and reports frames and per-stage times through `window.poiLive.stats()`. Each configuration (backend x
 * detector x detect-every) is measured in interleaved rounds (a fresh page each time: warm-up, then a
 * measured window); its fps is the median over the rounds. A frame counts when every face on it was
 * detected (or tracked) and recognised on that frame: the page re-uses no earlier frame's result, so fps is
 * recognised frames per second (the fewest and mean faces per measured frame are given, since a frame where
 * a face is missed is cheaper). Also given: frames per CPU-second (chromium's processes' CPU time over the
 * window, from the DevTools protocol), which a machine busy with other work does not change much, where the
 * time of a frame goes (decode, detector, tracking, alignment, TRN, drawing), and each page's backend,
 * thread count and cross-origin isolation as the page reports them.
 *
 *   npm run bench:webcam -- [--rounds 3] [--seconds 6] [--warmup 3] [--backends wasm,wasm-2]
 *       [--detectors blazeface,tiny,ssd] [--every 5,1] [--json out.json] [--text out.txt]
 *
 * BlazeFace detects on every frame (the page ignores detect-every for it), so it has one row per backend.
 *
 * Backends: wasm (the page's default: SIMD, half the logical cores, so one thread on 2 cores), wasm-N
 * (?threads=N: N > 1 is the threaded build), cpu, webgl (SwiftShader here), webgpu (SwiftShader's fallback
 * adapter, with --enable-unsafe-webgpu; about a minute per frame). A backend the page cannot start is
 * reported, not measured.
 *
 * For bench:photo: `import { runWebcamBench, formatWebcamBench } from './webcam-bench.js'` runs the same and
 * returns the rows (this file only runs its CLI when it is the entry point).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultSitePaths, ensureBuilt, PACKAGE_ROOT } from '../src/demo/site.js';
import { startDemoServer } from '../src/demo/server.js';
import { formatMs } from '../src/infer/timing.js';
import { writeFaceClip } from './webcam-clip.js';

export const CHROMIUM = '/usr/bin/chromium';

export interface WebcamConfig {
  /** wasm (the page's default threads), wasm-N (?threads=N), cpu, webgl, webgpu. */
  backend: string;
  detector: Detector;
  detectEvery: number;
}

export type Detector = 'blazeface' | 'tiny' | 'ssd';

export interface WebcamRow extends WebcamConfig {
  /** What the page runs on ("wasm (SIMD, 2 threads)"), or why it could not. */
  label: string;
  /** The page's wasm thread count (body[data-threads]), null off wasm. */
  threads: number | null;
  /** self.crossOriginIsolated on the page (needed for threads). */
  isolated: boolean;
  ok: boolean;
  /** Median over the rounds. */
  fps: number;
  rounds: number[];
  /** Frames per second of chromium CPU time (all its processes), median over the rounds. */
  fpsPerCpuSecond: number;
  /** Medians over the measured frames of the last round, ms. */
  ms: PageStats['ms'];
  /** Faces on the last frame; the fewest, the most and the mean per frame over the last round's window. */
  faces: number;
  facesMin: number;
  facesMax: number;
  facesMean: number;
  frames: number;
}

export interface WebcamBenchOptions {
  rounds?: number;
  /** Measured window per round, s. */
  seconds?: number;
  /** Warm-up before the window (after the first frame), s. */
  warmup?: number;
  backends?: string[];
  detectors?: Detector[];
  every?: number[];
  log?: (line: string) => void;
}

interface PageStats {
  frames: number;
  detections: number;
  now: number;
  faces: number;
  facesMin: number;
  facesMax: number;
  facesMean: number;
  grabPath: string;
  ms: { wait: number; grab: number; decode: number; detect: number; track: number; recognise: number; align: number; trn: number; draw: number; total: number; detectFrame: number; trackFrame: number };
}

const median = (v: number[]) => {
  if (!v.length) return 0;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function query(c: WebcamConfig): string {
  const threads = /^wasm-(\d+)$/.exec(c.backend);
  const backend = threads ? `wasm&threads=${threads[1]}` : c.backend;
  return `?backend=${backend}&detector=${c.detector}&detectEvery=${c.detectEvery}&webcam=1`;
}

export async function runWebcamBench(opts: WebcamBenchOptions = {}): Promise<{ rows: WebcamRow[]; clip: string; chromium: string; cores: number; load: number[] }> {
  const rounds = opts.rounds ?? 3;
  const seconds = opts.seconds ?? 6;
  const warmup = opts.warmup ?? 3;
  const log = opts.log ?? ((l: string) => console.log(l));
  const configs: WebcamConfig[] = [];
  for (const backend of opts.backends ?? ['wasm', 'wasm-2']) {
    for (const detector of opts.detectors ?? ['blazeface', 'tiny', 'ssd']) {
      // BlazeFace detects on every frame whatever is asked
      if (detector === 'blazeface') {
        configs.push({ backend, detector, detectEvery: 1 });
        continue;
      }
      for (const detectEvery of opts.every ?? [5, 1]) {
        // the other backends only at the default detect rate, unless asked
        if (backend !== 'wasm' && !opts.every && detectEvery !== 5) continue;
        configs.push({ backend, detector, detectEvery });
      }
    }
  }
  const paths = defaultSitePaths(PACKAGE_ROOT);
  await ensureBuilt({ paths, log });
  const work = mkdtempSync(join(tmpdir(), 'poi-webcam-bench-'));
  const clip = join(work, 'faces-640x480.y4m');
  await writeFaceClip(clip, { frames: 90 });
  const demo = await startDemoServer({ siteDir: paths.outDir, modelDir: join(PACKAGE_ROOT, 'models', 'poi-ferplus'), port: 0 });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-video-capture=${clip}`,
      // WebGPU on SwiftShader's fallback adapter, for ?backend=webgpu (the page's auto mode skips it)
      '--enable-unsafe-webgpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  const version = browser.version();
  const cdp = await browser.newBrowserCDPSession();
  const cpuTime = async (): Promise<number> => {
    const info = (await cdp.send('SystemInfo.getProcessInfo')) as { processInfo: { cpuTime: number }[] };
    return info.processInfo.reduce((a, p) => a + p.cpuTime, 0);
  };
  const results = configs.map((c) => ({ c, fps: [] as number[], perCpu: [] as number[], last: null as PageStats | null, label: '', threads: null as number | null, isolated: false, ok: true }));
  const loads: number[] = [];
  const { loadavg, availableParallelism } = await import('node:os');
  try {
    for (let r = 0; r < rounds; r++) {
      for (const res of results) {
        if (!res.ok) continue;
        const ctx = await browser.newContext({ permissions: ['camera'], viewport: { width: 1280, height: 900 } });
        const page = await ctx.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        try {
          await page.goto(demo.url + query(res.c));
          await page.waitForSelector('#status[data-state="live"], #status[data-state="error"]', { timeout: 120_000 });
          const backend = await page.getAttribute('body', 'data-backend');
          res.label = (await page.getAttribute('body', 'data-backend-label')) ?? backend ?? '?';
          const threads = await page.getAttribute('body', 'data-threads');
          res.threads = threads === null ? null : Number(threads);
          res.isolated = (await page.getAttribute('body', 'data-isolated')) === 'true';
          const want = res.c.backend.replace(/-\d+$/, '');
          if ((await page.getAttribute('#status', 'data-state')) === 'error' || backend !== want) {
            res.ok = false;
            res.label = `not available (${backend ? `page chose ${backend}` : await page.textContent('#status')})`;
            log(`${res.c.backend}: ${res.label}`);
            continue;
          }
          const stats = (since = 0) => page.evaluate((s) => (window as unknown as { poiLive: { stats(s: number): PageStats } }).poiLive.stats(s), since);
          // warm-up: the first frames compile kernels and allocate; then `warmup` seconds
          try {
            await page.waitForFunction(() => (window as unknown as { poiLive: { stats(): PageStats } }).poiLive.stats().frames >= 2, undefined, { timeout: 180_000, polling: 250 });
          } catch (e) {
            const v = await page.evaluate(() => {
              const video = document.getElementById('video') as HTMLVideoElement;
              return `status "${document.getElementById('status')?.textContent}", video readyState ${video.readyState}, paused ${video.paused}, frames ${video.getVideoPlaybackQuality().totalVideoFrames}`;
            });
            throw new Error(`${res.c.backend} ${res.c.detector}: no frames recognised in 180 s (${v}; ${errors.join('; ')})`, { cause: e });
          }
          await page.waitForTimeout(warmup * 1000);
          const s0 = await stats();
          const c0 = await cpuTime();
          await page.waitForTimeout(seconds * 1000);
          const s1 = await stats(s0.frames);
          const c1 = await cpuTime();
          const frames = s1.frames - s0.frames;
          const fps = (frames * 1000) / (s1.now - s0.now);
          res.fps.push(fps);
          res.perCpu.push(c1 > c0 ? frames / (c1 - c0) : 0);
          res.last = s1;
          if (errors.length) throw new Error(errors.join('; '));
          log(
            `round ${r + 1}/${rounds} ${res.c.backend} ${res.c.detector} every ${res.c.detectEvery} [${res.label}; threads ${res.threads ?? '-'}, crossOriginIsolated ${res.isolated}; frames read by ${s1.grabPath}]: ` +
              `${fps.toFixed(2)} fps (${frames} frames, ${(frames / Math.max(1e-9, c1 - c0)).toFixed(2)} per CPU-s), faces per frame ${s1.facesMin}-${s1.facesMax} (mean ${s1.facesMean.toFixed(2)}); ` +
              `median ms wait ${formatMs(s1.ms.wait)} grab ${formatMs(s1.ms.grab)} decode ${formatMs(s1.ms.decode)} detect ${formatMs(s1.ms.detect)} track ${formatMs(s1.ms.track)} recognise ${formatMs(s1.ms.recognise)} ` +
              `(align ${formatMs(s1.ms.align)}, TRN ${formatMs(s1.ms.trn)}) draw ${formatMs(s1.ms.draw)}`,
          );
          loads.push(loadavg()[0]);
        } finally {
          await ctx.close();
        }
      }
    }
  } finally {
    await browser.close();
    await demo.close();
    rmSync(work, { recursive: true, force: true });
  }
  const rows: WebcamRow[] = results.map((res) => ({
    ...res.c,
    label: res.label,
    threads: res.threads,
    isolated: res.isolated,
    ok: res.ok && res.fps.length > 0,
    fps: median(res.fps),
    rounds: res.fps,
    fpsPerCpuSecond: median(res.perCpu),
    ms: res.last?.ms ?? { wait: 0, grab: 0, decode: 0, detect: 0, track: 0, recognise: 0, align: 0, trn: 0, draw: 0, total: 0, detectFrame: 0, trackFrame: 0 },
    faces: res.last?.faces ?? 0,
    facesMin: res.last?.facesMin ?? 0,
    facesMax: res.last?.facesMax ?? 0,
    facesMean: res.last?.facesMean ?? 0,
    frames: res.last ? res.last.frames : 0,
  }));
  return { rows, clip: '640x480 y4m, 30 fps, 2 faces (bench/webcam-clip.ts)', chromium: version, cores: availableParallelism(), load: loads };
}

/**
 * The rows as a markdown table. Stage columns (medians over the last round's frames, ms): wait = from the
 * previous frame done to this one taken (the browser renders meanwhile, or no new frame yet); read = the
 * frame's pixels (VideoFrame.copyTo, or drawImage + getImageData); detect (with face-api's detectors, its
 * landmark net too), track (tracked frames), recognise = align + TRN on all faces, draw = the frame, the
 * overlay and (a few times a second) the cards.
 */
export function formatWebcamBench(r: Awaited<ReturnType<typeof runWebcamBench>>): string {
  const lines = [
    `chromium ${r.chromium} headless, software (no GPU), ${r.cores} cores; clip ${r.clip}; load average during the rounds ${r.load.length ? `${Math.min(...r.load).toFixed(1)}-${Math.max(...r.load).toFixed(1)}` : '?'}`,
    '',
    '| backend | threads | detector | detect every | fps (median) | rounds | frames per CPU-s | faces per frame | wait ms | read ms | detect ms | track ms | recognise ms (TRN) | draw ms | detect frame ms | tracked frame ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of r.rows) {
    if (!row.ok) {
      lines.push(`| ${row.backend} | | ${row.detector} | ${row.detectEvery} | – | – | – | | ${row.label} | | | | | | | |`);
      continue;
    }
    const threads = row.threads === null ? '–' : `${row.threads}${row.isolated ? '' : ' (not isolated)'}`;
    lines.push(
      `| ${row.label} | ${threads} | ${row.detector} | ${row.detectEvery} | **${row.fps.toFixed(1)}** | ${row.rounds.map((v) => v.toFixed(1)).join(', ')} | ${row.fpsPerCpuSecond.toFixed(1)} | ` +
        `${row.facesMin === row.facesMax ? row.facesMin : `${row.facesMin}-${row.facesMax}, mean ${row.facesMean.toFixed(2)}`} | ${formatMs(row.ms.wait)} | ${formatMs(row.ms.grab + row.ms.decode)} | ` +
        `${formatMs(row.ms.detect)} | ${row.detectEvery > 1 ? formatMs(row.ms.track) : '–'} | ${formatMs(row.ms.recognise)} (${formatMs(row.ms.trn)}) | ${formatMs(row.ms.draw)} | ${formatMs(row.ms.detectFrame)} | ${row.detectEvery > 1 ? formatMs(row.ms.trackFrame) : '–'} |`,
    );
  }
  return lines.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      backends: { type: 'string' },
      detectors: { type: 'string' },
      every: { type: 'string' },
      json: { type: 'string' },
      text: { type: 'string' },
    },
  });
  const list = (v: string | undefined) => v?.split(',').map((s) => s.trim()).filter(Boolean);
  const r = await runWebcamBench({
    rounds: values.rounds ? Number(values.rounds) : undefined,
    seconds: values.seconds ? Number(values.seconds) : undefined,
    warmup: values.warmup ? Number(values.warmup) : undefined,
    backends: list(values.backends),
    detectors: list(values.detectors) as Detector[] | undefined,
    every: list(values.every)?.map(Number),
  });
  const text = formatWebcamBench(r);
  console.log('\n' + text);
  if (values.json) writeFileSync(values.json, JSON.stringify(r, null, 2) + '\n');
  if (values.text) writeFileSync(values.text, text);
}
