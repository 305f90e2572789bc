/**
 * The demo page: wire the controls to the engine. States are shown in #status (data-state: loading,
 * ready, working, done, error) so a person and a test both know when a result is on screen.
 */
import { chooseBackend, DEFAULT_RECOGNIZE, loadFaceApi, loadPoiModel, recognize, type BackendChoice, type PageFace } from './engine.js';
import { drawOverlay, faceCard } from './view.js';
import type { PoiModel } from '../../src/model/poi.js';
import type { Tta } from '../../src/infer/runner.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusEl = $<HTMLDivElement>('status');
const canvas = $<HTMLCanvasElement>('canvas');
const facesEl = $<HTMLDivElement>('faces');
const fileInput = $<HTMLInputElement>('file');
const webcamBtn = $<HTMLButtonElement>('webcam');
const explainBox = $<HTMLInputElement>('explain');
const params = new URLSearchParams(location.search);
explainBox.checked = params.get('explain') === '1';
const ttaBox = $<HTMLInputElement>('tta');
ttaBox.checked = params.get('tta') === 'flip';

/** The clean image (the display canvas gets the overlay drawn on top). */
const source = document.createElement('canvas');
let model: PoiModel | null = null;
let webcam: { stream: MediaStream; video: HTMLVideoElement } | null = null;
let busy = false;

function status(state: 'loading' | 'ready' | 'working' | 'done' | 'error', text: string): void {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

/** Name of the photo on screen (data-source on #faces, so a reader knows which photo a result is for). */
let sourceName = '';

function show(faces: PageFace[], ms: number, tta: Tta): void {
  canvas.width = source.width;
  canvas.height = source.height;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(source, 0, 0);
  drawOverlay(ctx, faces, explainBox.checked);
  facesEl.replaceChildren(...faces.map(faceCard));
  facesEl.dataset.count = String(faces.length);
  facesEl.dataset.source = sourceName;
  facesEl.dataset.tta = tta;
  if (!faces.length) facesEl.append(Object.assign(document.createElement('p'), { className: 'noface', textContent: 'No face found in this image.' }));
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
    const faces = await recognize(model, source, { explain: explainBox.checked, tta, maxSide });
    show(faces, performance.now() - t0, tta);
  } finally {
    busy = false;
  }
}

async function openFile(file: File): Promise<void> {
  stopWebcam();
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

function stopWebcam(): void {
  if (!webcam) return;
  for (const t of webcam.stream.getTracks()) t.stop();
  webcam = null;
  webcamBtn.textContent = 'Start webcam';
}

async function startWebcam(): Promise<void> {
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser has no camera access (a page needs https or localhost for it)');
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play();
  webcam = { stream, video };
  sourceName = 'webcam';
  webcamBtn.textContent = 'Stop webcam';
  const loop = async () => {
    if (!webcam || webcam.video !== video) return;
    source.width = video.videoWidth;
    source.height = video.videoHeight;
    source.getContext('2d', { willReadFrequently: true })!.drawImage(video, 0, 0);
    try {
      await run();
    } catch (e) {
      fail(e);
      stopWebcam();
      return;
    }
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
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
  if (webcam) stopWebcam();
  else startWebcam().catch(fail);
});
for (const box of [explainBox, ttaBox]) {
  box.addEventListener('change', () => {
    if (!webcam && source.width) run().catch(fail);
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
  const { backend, note } = await chooseBackend((params.get('backend') as BackendChoice) ?? 'auto');
  const [{ model: m, manifest }] = await Promise.all([loadPoiModel(), loadFaceApi()]);
  model = m;
  const acc = typeof manifest.metrics.accuracy === 'number' ? `, ${(manifest.metrics.accuracy * 100).toFixed(1)}% on FERPlus` : '';
  $('backend').textContent = `backend ${backend}${note ? ` (${note})` : ''} · model ${manifest.config.preset ?? 'poi'}${acc}`;
  document.body.dataset.backend = backend;
  status('ready', `ready in ${((performance.now() - t0) / 1000).toFixed(1)} s — open a photo or start the webcam`);
}

init().catch(fail);
