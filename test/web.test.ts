/**
 * The browser demo: uncertainty in words, the demo server, the page's types, and end to end in Debian's
 * chromium (playwright-core): `poi demo` serves the page, a photo is uploaded, and the distribution the
 * page shows must match `poi predict --json` for the same photo.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { describeOptionsFor, describeUncertainty, orList } from '../src/ui/describe.js';
import { readModelManifest } from '../src/model/io.js';
import { startDemoServer } from '../src/demo/server.js';
import { tempDir } from './helpers.js';
import { loadDemoPage, NO_CHROMIUM, openPage, type PageCard, POI, ROOT, startDemo } from './browser.js';

const MODEL = join(ROOT, 'models', 'poi-ferplus');
const require = createRequire(import.meta.url);
const SAMPLE1 = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo', 'sample1.jpg');

test('describeUncertainty: clear, probable, unsure and ambiguous faces', () => {
  const base = { neutral: 0.02, happiness: 0.9, surprise: 0.02, sadness: 0.02, anger: 0.01, disgust: 0.01, fear: 0.01, contempt: 0.01 };
  assert.deepEqual(describeUncertainty(base, 0.9), { level: 'clear', candidates: ['happiness'], sentence: 'clear: happiness', band: 'high' });
  assert.equal(describeUncertainty(base, 0.7).sentence, 'probably happiness');
  assert.equal(describeUncertainty(base, 0.3).level, 'unsure');
  assert.match(describeUncertainty(base, 0.3).sentence, /^unsure: maybe happiness/);
  const amb = { ...base, happiness: 0.05, surprise: 0.45, fear: 0.3, anger: 0.1 };
  const d = describeUncertainty(amb, 0.9);
  assert.equal(d.level, 'ambiguous');
  assert.equal(d.sentence, 'ambiguous: surprise or fear');
  assert.equal(d.band, 'high', 'the gauge band still follows c');
  // the boundary: exactly half the top probability is a candidate
  assert.deepEqual(describeUncertainty({ a: 0.5, b: 0.25, c: 0.25 }, 0.9).candidates, ['a', 'b', 'c']);
  assert.equal(describeUncertainty({ a: 0.5, b: 0.25, c: 0.25 }, 0.9, { maxCandidates: 2 }).sentence, 'ambiguous: a or b');
  assert.equal(orList(['a', 'b', 'c']), 'a, b or c');
  assert.throws(() => describeUncertainty({}, 0.5), /empty/);
});

test('demo server: page, model, face-api and BlazeFace weights and wasm from one origin; nothing else', async () => {
  const site = tempDir('poi-web-site-');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>t</title>');
  mkdirSync(join(site, 'assets'));
  writeFileSync(join(site, 'assets', 'a-123.js'), 'console.log(1)');
  const demo = await startDemoServer({ siteDir: site, modelDir: MODEL, port: 0 });
  try {
    assert.match(demo.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const get = (p: string, init?: RequestInit) => fetch(new URL(p, demo.url), init);
    const page = await get('/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    assert.match(await page.text(), /<title>t<\/title>/);
    const js = await get('/assets/a-123.js');
    assert.match(js.headers.get('content-type')!, /javascript/);
    assert.match(js.headers.get('cache-control')!, /immutable/);
    const manifest = await (await get('/models/poi/model.json')).json();
    assert.equal(manifest.format, 'poi-model');
    const weights = await get('/models/poi/weights.bin', { method: 'HEAD' });
    assert.equal(weights.status, 200);
    assert.ok(Number(weights.headers.get('content-length')) > 1000);
    assert.equal((await get('/models/face-api/ssd_mobilenetv1_model-weights_manifest.json')).status, 200);
    const blaze = await (await get('/models/blazeface/blazeface.json')).json();
    assert.equal(blaze.format, 'graph-model', "BlazeFace's weights from poi's models/blazeface/");
    assert.equal((await get('/models/blazeface/blazeface.bin', { method: 'HEAD' })).status, 200);
    const wasm = await get('/wasm/tfjs-backend-wasm-simd.wasm', { method: 'HEAD' });
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal((await get('/nope.js')).status, 404);
    // fetch would normalise the dots away; send the raw path
    const raw = (path: string) =>
      new Promise<number>((ok, fail) => get_(new URL(path, demo.url).origin + path, ok, fail));
    const get_ = (u: string, ok: (n: number) => void, fail: (e: Error) => void) => {
      const { hostname, port } = new URL(u);
      const path = u.slice(new URL(u).origin.length);
      httpRequest({ hostname, port, path, method: 'GET' }, (res) => {
        res.resume();
        ok(res.statusCode!);
      })
        .on('error', fail)
        .end();
    };
    assert.equal(await raw('/models/poi/..%2F..%2Fpackage.json'), 403);
    // plain dots are resolved by URL parsing to /package.json, which the site does not have
    assert.equal(await raw('/wasm/../../../package.json'), 404);
    assert.equal((await get('/', { method: 'POST', body: 'x' })).status, 405);
  } finally {
    await demo.close();
    rmSync(site, { recursive: true, force: true });
  }
  await assert.rejects(startDemoServer({ siteDir: tempDir(), modelDir: MODEL, port: 0 }), /not built/);
  await assert.rejects(startDemoServer({ siteDir: tempDir(), modelDir: tempDir(), port: 0 }), /not a poi model folder/);
});

test('the page type-checks with browser types only (shared model and face code have no Node imports)', () => {
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
  const r = spawnSync(tsc, ['-p', join(ROOT, 'web', 'tsconfig.json')], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, `tsc -p web/tsconfig.json failed:\n${r.stdout}${r.stderr}`);
});

interface PredictLine {
  path: string;
  box: { x: number; y: number; width: number; height: number };
  landmarks: [number, number][];
  emotions: Record<string, number>;
  confidence: number;
}

interface PageFace extends PageCard {
  level: string;
}

const centre = (b: PageFace['box']) => [b.x + b.width / 2, b.y + b.height / 2];
const distance = (a: PageFace['box'], b: PageFace['box']) => Math.hypot(centre(a)[0] - centre(b)[0], centre(a)[1] - centre(b)[1]);
/** The face whose box centre is nearest to `box`'s. */
const nearest = <F extends { box: PageFace['box'] }>(faces: F[], box: PageFace['box']): F => faces.reduce((a, b) => (distance(a.box, box) <= distance(b.box, box) ? a : b));

/**
 * Tolerance, absolute, per class probability and for c, against `poi predict --shrink js` (the browser's shrink
 * code; sharp's shrink, Node's default, is held to its own looser tolerance in test/photo.test.ts). Both sides decode the same pixels (a PNG; and
 * sample1.jpg, which chromium and sharp both decode with libjpeg-turbo code), shrink photos over 1280 px with the same code
 * (src/face/resize.ts), and run the same detector, alignment, normalisation and model on tfjs wasm (Node:
 * threaded build, browser: single-thread SIMD). Measured: they agree to ~5e-5 on the PNG and on sample1.jpg
 * (1920 px, shrunk to 1280 on both sides), which is `poi predict --json`'s 1e-4 rounding. 0.005 leaves room
 * for a browser that picks WebGL (float32 textures, another summation order) without hiding a real
 * preprocessing bug: when Node shrank with sharp and the page with a look-alike Lanczos-3, sample1.jpg
 * differed by 0.053. Faces are paired by box centre.
 */
const TOLERANCE = 0.005;

test('poi demo in chromium: upload a photo, the page shows what poi predict --json gives (the default BlazeFace, flip TTA, SSD)', { skip: NO_CHROMIUM, timeout: 240_000 }, async () => {
  const work = tempDir('poi-web-e2e-');
  // one clear face, lossless, under 1280 px: a crop of face-api's sample1.jpg made here (no image in the repo)
  const face = join(work, 'one-face.png');
  await sharp(SAMPLE1).extract({ left: 1260, top: 40, width: 640, height: 640 }).png().toFile(face);

  const pred = spawnSync(process.execPath, [POI, 'predict', '--json', '--shrink', 'js', face, SAMPLE1], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
  assert.equal(pred.status, 0, `poi predict failed:\n${pred.stderr}`);
  const lines: PredictLine[] = pred.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const expected = (p: string) => lines.filter((l) => resolve(ROOT, l.path) === p);
  assert.equal(expected(face).length, 1);
  assert.equal(expected(SAMPLE1).length, 3);
  const predFlip = spawnSync(process.execPath, [POI, 'predict', '--json', '--shrink', 'js', '--tta', 'flip', SAMPLE1], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
  assert.equal(predFlip.status, 0, `poi predict --tta flip failed:\n${predFlip.stderr}`);
  const flipLines: PredictLine[] = predFlip.stdout.trim().split('\n').map((l) => JSON.parse(l));
  // SSD: the page's face-api build with the same options must give what `poi predict --detector ssd` gives
  const predSsd = spawnSync(process.execPath, [POI, 'predict', '--json', '--shrink', 'js', '--detector', 'ssd', face, SAMPLE1], { cwd: ROOT, encoding: 'utf8', timeout: 90_000 });
  assert.equal(predSsd.status, 0, `poi predict --detector ssd failed:\n${predSsd.stderr}`);
  const ssdLines: PredictLine[] = predSsd.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const expectedSsd = (p: string) => ssdLines.filter((l) => resolve(ROOT, l.path) === p);

  const demo = await startDemo();
  const { browser, page, errors } = await openPage({ args: ['--disable-gpu', '--disable-quic'] });
  const foreign: string[] = [];
  try {
    // offline proof: any request that is not to the demo server fails the test
    await page.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(demo.url) || u.startsWith('blob:') || u.startsWith('data:')) return route.continue();
      foreign.push(u);
      return route.abort();
    });
    await loadDemoPage(page, demo.url, 60_000);
    const backend = await page.getAttribute('body', 'data-backend');

    const shownFaces = (): Promise<PageFace[]> =>
      page.$$eval('#faces .face', (els) =>
        els.map((e) => {
          const d = (e as HTMLElement).dataset;
          return { box: JSON.parse(d.box!), emotions: JSON.parse(d.emotions!), confidence: Number(d.confidence), emotion: d.emotion!, level: d.level! };
        }),
      );
    const upload = async (file: string): Promise<PageFace[]> => {
      await page.setInputFiles('#file', file);
      const name = file.split('/').pop()!;
      await page.waitForSelector(`#faces[data-source="${name}"], #status[data-state="error"]`, { timeout: 60_000 });
      assert.equal(await page.getAttribute('#status', 'data-state'), 'done', `page error: ${await page.textContent('#status')}`);
      return shownFaces();
    };
    const compare = (shown: PageFace[], want: PredictLine[], tol: number, what: string): number => {
      assert.equal(shown.length, want.length, `${what}: ${shown.length} faces on the page, ${want.length} from poi predict`);
      let worst = 0;
      for (const w of want) {
        const s = nearest(shown, w.box);
        assert.ok(distance(s.box, w.box) < 0.1 * w.box.width, `${what}: no face on the page near ${JSON.stringify(w.box)}`);
        assert.deepEqual(Object.keys(s.emotions), Object.keys(w.emotions), `${what}: classes differ`);
        for (const [c, p] of Object.entries(w.emotions)) {
          const diff = Math.abs(s.emotions[c] - p);
          worst = Math.max(worst, diff);
          assert.ok(diff <= tol, `${what}: ${c} ${s.emotions[c]} on the page vs ${p} from poi predict (tolerance ${tol}, backend ${backend})`);
        }
        assert.ok(Math.abs(s.confidence - w.confidence) <= tol, `${what}: confidence ${s.confidence} vs ${w.confidence}`);
      }
      return worst;
    };

    // the page's default detector for photos is poi predict's: BlazeFace (6 keypoints a face from poi predict)
    const one = await upload(face);
    assert.equal(await page.getAttribute('#faces', 'data-detector'), 'blazeface', "the page's default detector for photos");
    assert.ok(lines.every((l) => l.landmarks.length === 6), "poi predict's default detector is BlazeFace");
    const worstOne = compare(one, expected(face), TOLERANCE, 'one-face.png');
    const sum = Object.values(one[0].emotions).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4, 'the distribution sums to 1');
    const bars = await page.$$eval('#faces .face:first-child .bars li', (els) => els.length);
    assert.equal(bars, 8, 'one bar per class');
    assert.match((await page.textContent('#faces .face .sentence'))!, /^(clear|probably|ambiguous|unsure)/);
    // the cards are described with the served model's own bands (describeOptionsFor its model.json)
    const manifest = await readModelManifest(MODEL);
    const want = describeOptionsFor(manifest);
    assert.equal(await page.getAttribute('body', 'data-describe'), manifest.describe ? 'model' : 'default');
    const bands = await page.$$eval('#faces .face', (els) => els.map((e) => JSON.parse((e as HTMLElement).dataset.bands!)));
    assert.deepEqual(bands, [{ sureAbove: want.sureAbove, unsureBelow: want.unsureBelow }]);
    assert.equal(one[0].level, describeUncertainty(one[0].emotions, one[0].confidence, want).level, "the card's level is describeUncertainty's with those bands");

    const three = await upload(SAMPLE1);
    const worstPhoto = compare(three, expected(SAMPLE1), TOLERANCE, 'sample1.jpg');

    // explanations: PIN's regions per face, then the screenshot shows them
    await page.check('#explain');
    await page.waitForSelector('#faces .face .explain .region', { timeout: 30_000 });
    assert.equal(await page.$$eval('#faces .face:first-child .region', (els) => els.length), 4);

    // the mirror toggle: the page re-runs with flip TTA and then shows what `poi predict --tta flip` gives,
    // which differs from the plain reading by more than the tolerance (so the toggle must really act)
    const plainVsFlip = Math.max(...expected(SAMPLE1).flatMap((w) => {
      const f = nearest(flipLines, w.box);
      return Object.keys(w.emotions).map((c) => Math.abs(w.emotions[c] - f.emotions[c]));
    }));
    assert.ok(plainVsFlip > TOLERANCE, `flip TTA changes sample1.jpg's probabilities by only ${plainVsFlip}`);
    await page.check('#tta');
    await page.waitForSelector('#faces[data-tta="flip"], #status[data-state="error"]', { timeout: 60_000 });
    assert.equal(await page.getAttribute('#status', 'data-state'), 'done', `page error: ${await page.textContent('#status')}`);
    compare(await shownFaces(), flipLines, TOLERANCE, 'sample1.jpg with flip TTA');

    const artifacts = join(ROOT, 'artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'web-demo.png'), fullPage: true });

    // SSD on the same photos (mirror off, then the detector switched: each change re-runs the photo)
    await page.uncheck('#tta');
    await page.waitForSelector('#faces[data-tta="none"][data-detector="blazeface"], #status[data-state="error"]', { timeout: 60_000 });
    await page.selectOption('#detector', 'ssd');
    await page.waitForSelector('#faces[data-source="sample1.jpg"][data-detector="ssd"], #status[data-state="error"]', { timeout: 60_000 });
    assert.equal(await page.getAttribute('#status', 'data-state'), 'done', `page error: ${await page.textContent('#status')}`);
    const worstSsd = compare(await shownFaces(), expectedSsd(SAMPLE1), TOLERANCE, 'sample1.jpg with SSD');
    compare(await upload(face), expectedSsd(face), TOLERANCE, 'one-face.png with SSD');

    assert.deepEqual(errors, [], 'no page errors');
    assert.deepEqual(foreign, [], 'no request leaves the demo server');
    console.log(`# web e2e: backend ${backend}; worst |Δp| ${worstOne.toExponential(1)} (png), ${worstPhoto.toExponential(1)} (sample1.jpg), ${worstSsd.toExponential(1)} (sample1.jpg, SSD); screenshot artifacts/web-demo.png`);
  } finally {
    await browser.close();
    demo.proc.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
});
