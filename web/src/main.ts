/**
 * The demo page: wire the controls to the engine. States are shown in #status (data-state: loading,
 * ready, working, done, live, error) so a person and a test both know when a result is on screen.
 *
 * The webcam runs continuously (see liveLoop): each new video frame is recognised as soon as the previous
 * one is done, with the detector on every Nth frame and the faces tracked in between (engine.ts,
 * createLiveRecognizer); #fps shows the frames per second and where the time goes, and
 * `window.poiLive.stats()` gives the same numbers to scripts (bench/webcam-bench.ts).
 */
import {
  chooseBackend,
  createLiveRecognizer,
  debugHandles,
  DEFAULT_LIVE,
  DEFAULT_RECOGNIZE,
  loadDetectors,
  loadPoiModel,
  recognize,
  type BackendChoice,
  type DetectorName,
  type FrameTiming,
  type LiveRecognizer,
  type PageFace,
} from './engine.js';
import { drawOverlay, faceCard } from './view.js';
import type { PoiModel } from '../../src/model/poi.js';
import type { Tta } from '../../src/infer/runner.js';
import type { DescribeOptions } from '../../src/ui/describe.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusEl = $<HTMLDivElement>('status');
const canvas = $<HTMLCanvasElement>('canvas');
const facesEl = $<HTMLDivElement>('faces');
const fileInput = $<HTMLInputElement>('file');
const webcamBtn = $<HTMLButtonElement>('webcam');
const explainBox = $<HTMLInputElement>('explain');
const fpsEl = $<HTMLParagraphElement>('fps');
const detectorSel = $<HTMLSelectElement>('detector');
const everySel = $<HTMLSelectElement>('detect-every');
const params = new URLSearchParams(location.search);
explainBox.checked = params.get('explain') === '1';
const ttaBox = $<HTMLInputElement>('tta');
ttaBox.checked = params.get('tta') === 'flip';
if (['auto', 'ssd', 'tiny', 'blazeface'].includes(params.get('detector') ?? '')) detectorSel.value = params.get('detector')!;
const everyParam = Number(params.get('detectEvery'));
if (everyParam >= 1) {
  if (![...everySel.options].some((o) => o.value === String(everyParam))) everySel.append(new Option(`every ${everyParam}th`, String(everyParam)));
  everySel.value = String(everyParam);
}

/** The clean image (the display canvas gets the overlay drawn on top). */
const source = document.createElement('canvas');
let model: PoiModel | null = null;
/** How the loaded model's faces are put in words (its own bands of c: loadPoiModel's `describe`). */
let describe: DescribeOptions = DEFAULT_RECOGNIZE.describe;
let webcam: { stream: MediaStream; video: HTMLVideoElement } | null = null;
let busy = false;

function status(state: 'loading' | 'ready' | 'working' | 'done' | 'live' | 'error', text: string): void {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

/** The detector for photos (auto: `poi predict`'s default, BlazeFace) or for the webcam (auto: BlazeFace, the fastest; README's fps table). */
function detectorFor(mode: 'photo' | 'live'): DetectorName {
  const v = detectorSel.value;
  if (v === 'ssd' || v === 'tiny' || v === 'blazeface') return v;
  return mode === 'photo' ? DEFAULT_RECOGNIZE.detector : DEFAULT_LIVE.detector;
}

/** Name of the photo on screen (data-source on #faces, so a reader knows which photo a result is for). */
let sourceName = '';

function showCards(faces: PageFace[], tta: Tta, detector: DetectorName): void {
  facesEl.replaceChildren(...faces.map(faceCard));
  facesEl.dataset.count = String(faces.length);
  facesEl.dataset.source = sourceName;
  facesEl.dataset.tta = tta;
  facesEl.dataset.detector = detector;
  if (!faces.length) facesEl.append(Object.assign(document.createElement('p'), { className: 'noface', textContent: sourceName === 'webcam' ? 'No face in view.' : 'No face found in this image.' }));
}

function drawFrame(faces: PageFace[]): void {
  if (canvas.width !== source.width || canvas.height !== source.height) {
    canvas.width = source.width;
    canvas.height = source.height;
  }
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(source, 0, 0);
  drawOverlay(ctx, faces, explainBox.checked);
}

function show(faces: PageFace[], ms: number, tta: Tta, detector: DetectorName): void {
  drawFrame(faces);
  showCards(faces, tta, detector);
  $('hint').hidden = true;
  const what = faces.length === 1 ? '1 face' : `${faces.length} faces`;
  status('done', `${what} in ${ms.toFixed(0)} ms`);
}

async function run(): Promise<void> {
  if (!model || busy) return;
  busy = true;
  try {
    const t0 = performance.now();
    // ?maxSide=N overrides the detection size (default: Node's 1280)
    const maxSide = Number(params.get('maxSide')) || DEFAULT_RECOGNIZE.maxSide;
    const tta: Tta = ttaBox.checked ? 'flip' : 'none';
    const detector = detectorFor('photo');
    const faces = await recognize(model, source, { explain: explainBox.checked, tta, maxSide, detector, describe });
    show(faces, performance.now() - t0, tta, detector);
  } finally {
    busy = false;
  }
}

async function openFile(file: File): Promise<void> {
  await stopWebcam();
  status('working', `reading ${file.name}…`);
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    throw new Error(`${file.name}: not an image this browser can decode`);
  }
  source.width = bmp.width;
  source.height = bmp.height;
  source.getContext('2d', { willReadFrequently: true })!.drawImage(bmp, 0, 0);
  bmp.close();
  sourceName = file.name;
  status('working', 'looking for faces…');
  await run();
}

// ---------------------------------------------------------------------------------------------------------
// Webcam: the live loop and its meter.

interface FrameRecord extends FrameTiming {
  /** When the frame was done (performance.now()). */
  at: number;
  /** Copying the video's frame onto the source canvas (drawImage). */
  grab: number;
  /** Waiting for a new video frame since the previous frame was done (the browser renders meanwhile). */
  wait: number;
  /** Drawing the frame and its overlay (and, when due, the face cards). */
  draw: number;
  /** Frame start to done. */
  total: number;
  faces: number;
  detected: boolean;
}

/** The last frames' records (a ring), and counters since the webcam started. */
const meter = {
  frames: 0,
  detections: 0,
  records: [] as FrameRecord[],
  startedAt: 0,
  reset() {
    this.frames = 0;
    this.detections = 0;
    this.records = [];
    this.startedAt = performance.now();
  },
  add(r: FrameRecord) {
    this.frames++;
    if (r.detected) this.detections++;
    this.records.push(r);
    if (this.records.length > 600) this.records.splice(0, this.records.length - 600);
  },
  /** Frames per second over the last `windowMs` (frames completed in it / its length). */
  fps(windowMs = 2000): number {
    const now = performance.now();
    const recent = this.records.filter((r) => r.at > now - windowMs);
    const span = Math.min(windowMs, now - this.startedAt);
    return span > 0 ? (recent.length * 1000) / span : 0;
  },
};

const median = (xs: number[]) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export interface LiveStats {
  running: boolean;
  /** Frames recognised since the webcam started. */
  frames: number;
  /** Of which ran the detector. */
  detections: number;
  /** performance.now() when read. */
  now: number;
  fps: number;
  /** Medians (ms) over the frames done after `since` (a frame count from an earlier read). */
  ms: { wait: number; grab: number; decode: number; detect: number; track: number; recognise: number; align: number; trn: number; draw: number; total: number; detectFrame: number; trackFrame: number };
  /** Faces on the last frame; the fewest, the most and the mean over the frames after `since`. */
  faces: number;
  facesMin: number;
  facesMax: number;
  facesMean: number;
  backend: string;
  /** How frames are read: 'VideoFrame' (WebCodecs' copyTo RGBA) or 'canvas' (drawImage + getImageData); '' before the first. */
  grabPath: string;
  detector: DetectorName;
  detectEvery: number;
  width: number;
  height: number;
}

function liveStats(since = 0): LiveStats {
  const skip = meter.frames - meter.records.length;
  const rs = meter.records.slice(Math.max(0, since - skip));
  const pick = (k: keyof FrameTiming | 'grab' | 'wait' | 'draw' | 'total', only?: (r: FrameRecord) => boolean) => median(rs.filter(only ?? (() => true)).map((r) => r[k]));
  return {
    running: !!webcam,
    frames: meter.frames,
    detections: meter.detections,
    now: performance.now(),
    fps: meter.fps(),
    ms: {
      wait: pick('wait'),
      grab: pick('grab'),
      decode: pick('decode'),
      detect: pick('detect', (r) => r.detected),
      track: pick('track', (r) => !r.detected),
      recognise: pick('recognise'),
      align: pick('align'),
      trn: pick('trn'),
      draw: pick('draw'),
      total: pick('total'),
      detectFrame: pick('total', (r) => r.detected),
      trackFrame: pick('total', (r) => !r.detected),
    },
    faces: rs.length ? rs[rs.length - 1].faces : 0,
    facesMin: rs.length ? Math.min(...rs.map((r) => r.faces)) : 0,
    facesMax: rs.length ? Math.max(...rs.map((r) => r.faces)) : 0,
    facesMean: rs.length ? rs.reduce((a, r) => a + r.faces, 0) / rs.length : 0,
    backend: document.body.dataset.backend ?? '',
    grabPath: rgbaCopy === null ? '' : rgbaCopy ? 'VideoFrame' : 'canvas',
    detector: live?.options.detector ?? detectorFor('live'),
    detectEvery: live?.options.detectEvery ?? Number(everySel.value),
    width: source.width,
    height: source.height,
  };
}
(window as unknown as { poiLive: unknown }).poiLive = { stats: liveStats };
if (params.has('debug')) (window as unknown as { poiDebug: unknown }).poiDebug = debugHandles;

let live: LiveRecognizer | null = null;
/** Settings changed: the loop makes a new recognizer before its next frame. */
let liveStale = false;
/** The running loop, so stopping can wait for its frame to finish. */
let loopDone: Promise<void> | null = null;

/**
 * Resolves when the video has a frame not yet processed: at once (after one turn of the event loop) when the
 * video's frame counter (getVideoPlaybackQuality().totalVideoFrames, kept by the media pipeline off the main
 * thread) moved since the last frame was taken, else at the next requestVideoFrameCallback (where there is
 * none, the next animation frame). Waiting for the callback alone cost a rendering step per frame: it only
 * runs when the main thread renders, so after a busy frame the loop idled ~20 ms for a frame that had
 * already arrived. Either way every frame taken is a new one.
 */
function frameClock(video: HTMLVideoElement): { next(): Promise<void>; stop(): void } {
  let presented = 0;
  let taken = 0;
  const counter = () => (typeof video.getVideoPlaybackQuality === 'function' ? video.getVideoPlaybackQuality().totalVideoFrames : 0);
  let takenCount = 0;
  let waiter: (() => void) | null = null;
  let stopped = false;
  const hasRvfc = 'requestVideoFrameCallback' in video;
  const tick = () => {
    if (stopped) return;
    presented++;
    if (waiter) {
      const w = waiter;
      waiter = null;
      w();
    }
    if (hasRvfc) video.requestVideoFrameCallback(tick);
    else requestAnimationFrame(tick);
  };
  if (hasRvfc) video.requestVideoFrameCallback(tick);
  else requestAnimationFrame(tick);
  return {
    next: () =>
      new Promise<void>((ok) => {
        // always yield to the event loop once, so clicks and paints get in between frames
        const take = () => {
          taken = presented;
          takenCount = counter();
          ok();
        };
        if (presented > taken || counter() > takenCount) yieldThen(take);
        else waiter = take;
      }),
    stop() {
      stopped = true;
      waiter?.();
    },
  };
}

function showFps(s: LiveStats): void {
  fpsEl.hidden = false;
  fpsEl.dataset.fps = s.fps.toFixed(2);
  fpsEl.dataset.frames = String(s.frames);
  const r = (v: number) => v.toFixed(0);
  fpsEl.textContent =
    `${s.fps.toFixed(1)} fps · ${s.width}x${s.height} · ${s.detector} detector every ${s.detectEvery === 1 ? 'frame' : `${s.detectEvery} frames`} · ` +
    `detect ${r(s.ms.detect)} ms, track ${r(s.ms.track)} ms, recognise ${r(s.ms.recognise)} ms (TRN ${r(s.ms.trn)}), draw ${r(s.ms.draw)} ms (median) · ${s.backend}`;
}

/**
 * Run `f` as a new task, after whatever the browser has queued (input, rendering): a MessageChannel message,
 * which, unlike setTimeout(0) called from a timer's own callback again and again, is not clamped to 4 ms.
 */
const yieldThen = (() => {
  const ch = new MessageChannel();
  const queue: (() => void)[] = [];
  ch.port1.onmessage = () => queue.shift()?.();
  return (f: () => void) => {
    queue.push(f);
    ch.port2.postMessage(0);
  };
})();

/** Whether VideoFrame.copyTo(…, { format: 'RGBA' }) works here: null until tried. */
let rgbaCopy: boolean | null = null;

/**
 * The video's current frame as RGBA pixels through WebCodecs: VideoFrame.copyTo converts the camera's YUV
 * straight into our buffer (measured in headless chromium: ~0.3 ms against 5-10 ms for drawImage onto a
 * canvas + getImageData, the same pixels). Null where the browser cannot; the loop then uses the canvas.
 */
async function grabRgba(video: HTMLVideoElement): Promise<ImageData | null> {
  if (rgbaCopy === false || typeof VideoFrame === 'undefined') return null;
  let vf: VideoFrame | null = null;
  try {
    vf = new VideoFrame(video);
    const { width, height } = vf.visibleRect ?? { width: vf.displayWidth, height: vf.displayHeight };
    const data = new Uint8ClampedArray(width * height * 4);
    await vf.copyTo(data, { format: 'RGBA' } as VideoFrameCopyToOptions);
    rgbaCopy = true;
    return new ImageData(data, width, height);
  } catch (e) {
    if (rgbaCopy) throw e;
    console.warn('poi: VideoFrame.copyTo RGBA unavailable, reading frames through a canvas:', e);
    rgbaCopy = false;
    return null;
  } finally {
    vf?.close();
  }
}

/** The running loop's frame clock (stopping the webcam stops it, so a loop waiting for a frame ends). */
let clock: ReturnType<typeof frameClock> | null = null;

async function liveLoop(cam: NonNullable<typeof webcam>): Promise<void> {
  const video = cam.video;
  const myClock = frameClock(video);
  clock = myClock;
  /** This loop's recognizer (`live` points at it for the stats). */
  let rec: LiveRecognizer | null = null;
  meter.reset();
  let lastCards = 0;
  let lastFps = 0;
  let lastCount = -1;
  let lastDone = performance.now();
  try {
    // `webcam` is replaced when the webcam stops or restarts: this loop ends with its own
    while (webcam === cam) {
      await myClock.next();
      if (webcam !== cam || !model) break;
      if (!rec || liveStale) {
        rec?.dispose();
        rec = createLiveRecognizer(model, { detector: detectorFor('live'), detectEvery: Number(everySel.value) || DEFAULT_LIVE.detectEvery, tta: ttaBox.checked ? 'flip' : 'none', describe });
        live = rec;
        liveStale = false;
      }
      const t0 = performance.now();
      if (source.width !== video.videoWidth || source.height !== video.videoHeight) {
        source.width = video.videoWidth;
        source.height = video.videoHeight;
        rec.reset();
      }
      const sctx = source.getContext('2d', { willReadFrequently: true })!;
      const rgba = await grabRgba(video);
      // the source canvas keeps the clean frame (drawn under the overlay; a photo-mode re-run after stopping reads it)
      if (rgba) sctx.putImageData(rgba, 0, 0);
      else sctx.drawImage(video, 0, 0);
      const tg = performance.now();
      const { faces, detected, timing } = await rec.process(rgba ?? source, { explain: explainBox.checked });
      const t1 = performance.now();
      drawFrame(faces);
      // the cards are heavier than the canvas: a few times a second, or when the number of faces changes
      if (t1 - lastCards > 400 || faces.length !== lastCount) {
        showCards(faces, rec.options.tta, rec.options.detector);
        lastCards = t1;
        lastCount = faces.length;
      }
      const t2 = performance.now();
      meter.add({ ...timing, wait: t0 - lastDone, grab: tg - t0, draw: t2 - t1, total: t2 - t0, at: t2, faces: faces.length, detected });
      lastDone = t2;
      if (t2 - lastFps > 500) {
        const s = liveStats(Math.max(0, meter.frames - 60));
        showFps(s);
        status('live', `webcam: ${faces.length === 1 ? '1 face' : `${faces.length} faces`} · ${s.fps.toFixed(1)} fps`);
        lastFps = t2;
      }
    }
  } finally {
    myClock.stop();
    if (clock === myClock) clock = null;
    rec?.dispose();
    if (live === rec) live = null;
  }
}

async function stopWebcam(): Promise<void> {
  if (!webcam) return;
  for (const t of webcam.stream.getTracks()) t.stop();
  webcam.video.srcObject = null;
  webcam = null;
  webcamBtn.textContent = 'Start webcam';
  clock?.stop();
  await loopDone?.catch(() => {});
  if (statusEl.dataset.state === 'live') status('done', `webcam stopped after ${meter.frames} frames`);
}

async function startWebcam(): Promise<void> {
  if (!model) throw new Error('the models are still loading');
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser has no camera access (a page needs https or localhost for it)');
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  const video = $<HTMLVideoElement>('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play();
  webcam = { stream, video };
  sourceName = 'webcam';
  webcamBtn.textContent = 'Stop webcam';
  $('hint').hidden = true;
  status('live', 'webcam: starting…');
  loopDone = liveLoop(webcam);
  loopDone.catch((e) => {
    fail(e);
    stopWebcam().catch(fail);
  });
}

function fail(e: unknown): void {
  console.error(e);
  status('error', (e as Error).message ?? String(e));
}

fileInput.addEventListener('change', () => {
  const f = fileInput.files?.[0];
  if (f) openFile(f).catch(fail);
});
webcamBtn.addEventListener('click', () => {
  if (webcam) stopWebcam().catch(fail);
  else startWebcam().catch(fail);
});
for (const box of [explainBox, ttaBox, detectorSel, everySel]) {
  box.addEventListener('change', () => {
    if (webcam) liveStale = true;
    else if (source.width && box !== everySel) run().catch(fail);
  });
}
// drop a photo anywhere on the page
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => {
  e.preventDefault();
  const f = e.dataTransfer?.files[0];
  if (f) openFile(f).catch(fail);
});

async function init(): Promise<void> {
  const t0 = performance.now();
  const info = await chooseBackend((params.get('backend') as BackendChoice) ?? 'auto', { threads: Number(params.get('threads')) || 0 });
  const [{ model: m, manifest, describe: d }] = await Promise.all([loadPoiModel(), loadDetectors()]);
  model = m;
  describe = d;
  // where the describe bands come from: the model folder's own (bench/tune-describe --write) or the defaults
  document.body.dataset.describe = manifest.describe ? 'model' : 'default';
  debugHandles.model = m;
  const acc = typeof manifest.metrics.accuracy === 'number' ? `, ${(manifest.metrics.accuracy * 100).toFixed(1)}% on FERPlus` : '';
  $('backend').textContent = `backend ${info.label}${info.note ? ` (${info.note})` : ''} · model ${manifest.config.preset ?? 'poi'}${acc}`;
  document.body.dataset.backend = info.backend;
  document.body.dataset.backendLabel = info.label;
  document.body.dataset.isolated = String(info.isolated);
  if (info.threads != null) document.body.dataset.threads = String(info.threads);
  status('ready', `ready in ${((performance.now() - t0) / 1000).toFixed(1)} s — open a photo or start the webcam`);
  if (params.get('webcam') === '1') await startWebcam();
}

init().catch(fail);
