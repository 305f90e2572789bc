/**
 * Inputs that are not plain image files: devices, FIFOs, huge files, folders that cannot be read; and
 * a reader that closes poi's stdout. The cases that hung or grew without end before are run in child
 * processes with a time limit and a memory watchdog, so this file stays bounded whatever the code does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expandInputs } from '../src/util/glob.js';
import { faceApiSample } from '../src/face/detector.js';
import { EXIT_PIPE_CLOSED } from '../src/cli/main.js';
import { tempDir, votesFor, writeFerplusSplit } from './helpers.js';

const BIN = resolve('bin/poi.js');
const IMAGE_JS = new URL('../src/face/image.js', import.meta.url).href;
const LOAD_JS = new URL('../src/data/load.js', import.meta.url).href;
const DECODE_JS = new URL('../src/data/decode.js', import.meta.url).href;
const canFifo = process.platform !== 'win32' && spawnSync('mkfifo', ['--version']).status === 0;
/** Exits the process (status 99) once it holds more than 1 GB: a reader without a bound is caught early. */
const WATCHDOG = `data:text/javascript,setInterval(()=>{if(process.memoryUsage.rss()>1e9){console.error("watchdog: over 1 GB");process.exit(99)}},20).unref()`;

function node(args: string[], opts: { timeout?: number; cwd?: string } = {}) {
  const r = spawnSync(process.execPath, ['--import', WATCHDOG, ...args], { encoding: 'utf8', timeout: opts.timeout ?? 60_000, cwd: opts.cwd });
  return { status: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** A folder with a link to /dev/zero, a FIFO and a link to it, all named like images. */
function strangeFolder(): string {
  const dir = tempDir('poi-strange-');
  symlinkSync('/dev/zero', join(dir, 'zero.jpg'));
  if (canFifo) {
    spawnSync('mkfifo', [join(dir, 'pipe.jpg')]);
    symlinkSync(join(dir, 'pipe.jpg'), join(dir, 'to-pipe.png'));
  }
  return dir;
}

test('decoding refuses devices and FIFOs at once and caps file size (the API recognize() uses)', { skip: process.platform === 'win32' }, () => {
  const dir = strangeFolder();
  const big = join(dir, 'big.png');
  writeFileSync(big, Buffer.alloc(3000, 1));
  const src = `
    import { decodePhoto, decodeAligned, readImageFile } from ${JSON.stringify(IMAGE_JS)};
    const out = {};
    const tries = {
      zeroPhoto: () => decodePhoto(${JSON.stringify(join(dir, 'zero.jpg'))}),
      zeroAligned: () => decodeAligned(${JSON.stringify(join(dir, 'zero.jpg'))}, 48, 1),
      device: () => readImageFile('/dev/zero'),
      ${canFifo ? `fifo: () => decodePhoto(${JSON.stringify(join(dir, 'pipe.jpg'))}), linkToFifo: () => decodePhoto(${JSON.stringify(join(dir, 'to-pipe.png'))}),` : ''}
      folder: () => decodePhoto(${JSON.stringify(dir)}),
      big: () => decodePhoto(${JSON.stringify(big)}, { maxFileMb: 0.002 }),
      bigAllowed: () => readImageFile(${JSON.stringify(big)}, { maxFileMb: 0.003 }).then((b) => ({ message: 'read ' + b.length })),
      notAnInput: () => decodePhoto(null),
    };
    for (const [k, f] of Object.entries(tries)) {
      try { const r = await f(); out[k] = r.message ?? 'decoded'; } catch (e) { out[k] = e.name + ': ' + e.message; }
    }
    console.log(JSON.stringify(out));
  `;
  const t0 = Date.now();
  const r = node(['--input-type=module', '-e', src], { timeout: 30_000 });
  assert.equal(r.signal, null, `the child hung (killed after ${Date.now() - t0} ms):\n${r.err}`);
  assert.equal(r.status, 0, r.err);
  const out = JSON.parse(r.out.trim().split('\n').pop()!);
  assert.match(out.zeroPhoto, /^ImageError: .*zero\.jpg: is a character device, not an image file$/);
  assert.match(out.zeroAligned, /zero\.jpg: is a character device/);
  assert.match(out.device, /\/dev\/zero: is a character device/);
  if (canFifo) {
    assert.match(out.fifo, /pipe\.jpg: is a FIFO \(named pipe\), not an image file/);
    assert.match(out.linkToFifo, /to-pipe\.png: is a FIFO/);
  }
  assert.match(out.folder, /: is a folder/);
  assert.match(out.big, /big\.png: the file's 0\.0 MB is more than the 0\.002 MB poi reads from an image file \(raise it with --max-file-mb or the maxFileMb option\)/);
  assert.equal(out.bigAllowed, 'read 3000');
  assert.match(out.notAnInput, /^TypeError: expected an image file path \(string\) or its bytes \(Buffer or Uint8Array\), got null$/);
});

test('dataset loading: a FIFO, /dev/zero and an oversized file named as images are reported and skipped like a corrupt image, bounded', { skip: process.platform === 'win32', timeout: 120_000 }, async () => {
  const root = tempDir('poi-strange-data-');
  const split = join(root, 'FER2013Train');
  await writeFerplusSplit(split, 6, 3, (_, c) => votesFor(c, 8, (c + 1) % 8));
  // label.csv names them as images: the FERPlus reader lists them, the decoder must refuse them
  rmSync(join(split, 'fer0000002.png'));
  symlinkSync('/dev/zero', join(split, 'fer0000002.png'));
  if (canFifo) {
    rmSync(join(split, 'fer0000004.png'));
    spawnSync('mkfifo', [join(split, 'fer0000004.png')]);
  }
  const big = join(root, 'big.png');
  writeFileSync(big, Buffer.alloc(3000, 1));
  const src = `
    process.env.POI_CACHE_DIR = ${JSON.stringify(join(root, 'cache'))};
    const { loadSet } = await import(${JSON.stringify(LOAD_JS)});
    const { decodeDataset } = await import(${JSON.stringify(DECODE_JS)});
    const { set } = await loadSet(${JSON.stringify(root)}, 'train', { height: 16, width: 16, channels: 1, mean: 0.5, std: 0.25 }, { quiet: true });
    const sized = await decodeDataset({ name: 'sized', classes: ['a'], warnings: [], samples: [{ path: ${JSON.stringify(big)}, label: 0 }, { path: ${JSON.stringify(join(split, 'fer0000000.png'))}, label: 0 }] },
      { height: 16, width: 16, channels: 1, cacheDir: false, quiet: true, maxFileMb: 0.002 });
    console.log(JSON.stringify({ paths: set.paths, warnings: set.warnings, sized: { paths: sized.paths, warnings: sized.warnings } }));
  `;
  const t0 = Date.now();
  const r = node(['--input-type=module', '-e', src], { timeout: 60_000 });
  assert.equal(r.signal, null, `the child hung (killed after ${Date.now() - t0} ms):\n${r.err}`);
  assert.equal(r.status, 0, r.err);
  const out = JSON.parse(r.out.trim().split('\n').pop()!);
  const name = (p: string) => p.slice(split.length + 1);
  assert.deepEqual(out.paths.map(name), ['fer0000000.png', 'fer0000001.png', 'fer0000003.png', ...(canFifo ? [] : ['fer0000004.png']), 'fer0000005.png'], 'the other images are decoded');
  const warned = out.warnings.filter((w: string) => w.includes(': cannot decode ('));
  assert.equal(warned.length, canFifo ? 2 : 1, out.warnings.join('\n'));
  assert.ok(warned.some((w: string) => w === `${join(split, 'fer0000002.png')}: cannot decode (is a character device, not an image file), skipped`), warned.join('\n'));
  if (canFifo) assert.ok(warned.some((w: string) => w === `${join(split, 'fer0000004.png')}: cannot decode (is a FIFO (named pipe), not an image file), skipped`), warned.join('\n'));
  assert.deepEqual(out.sized.paths.map(name), ['fer0000000.png']);
  assert.match(out.sized.warnings[0], /big\.png: cannot decode \(the file's 0\.0 MB is more than the 0\.002 MB poi reads from an image file \(raise it with --max-file-mb or the maxFileMb option\)\), skipped$/);
});

test('poi predict on a folder with a link to /dev/zero and a FIFO: both reported, the photo read, bounded', { skip: process.platform === 'win32' }, () => {
  const dir = strangeFolder();
  copyFileSync(faceApiSample(1), join(dir, 'people.jpg'));
  const r = node([BIN, 'predict', dir, '--json', '--detector', 'tiny', '--runtime', 'tfjs'], { timeout: 90_000 });
  assert.equal(r.signal, null, `poi predict hung:\n${r.err}`);
  assert.equal(r.status, 1, r.err);
  const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
  const errors = Object.fromEntries(lines.filter((l) => l.error).map((l) => [l.path.slice(dir.length + 1), l.error]));
  assert.match(errors['zero.jpg'], /is a character device, not an image file/);
  if (canFifo) {
    assert.match(errors['pipe.jpg'], /is a FIFO/);
    assert.match(errors['to-pipe.png'], /is a FIFO/);
  }
  assert.ok(lines.filter((l) => l.path.endsWith('people.jpg') && l.face !== undefined).length >= 2, r.out);
});

test('poi predict --json | head -1: the closed pipe ends poi quietly, with the status of SIGPIPE', { skip: process.platform === 'win32' }, () => {
  const dir = tempDir('poi-pipe-');
  for (let i = 0; i < 4; i++) copyFileSync(faceApiSample(1), join(dir, `p${i}.jpg`));
  const cmd = `"${process.execPath}" "${BIN}" predict "${dir}" --json --detector tiny --runtime tfjs 2>"${join(dir, 'err.txt')}" | head -1; echo "status \${PIPESTATUS[0]}" >&2`;
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: 90_000 });
  assert.equal(r.signal, null);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  assert.equal(JSON.parse(r.stdout).face, 0);
  assert.match(r.stderr, new RegExp(`status ${EXIT_PIPE_CLOSED}`));
  const err = spawnSync('cat', [join(dir, 'err.txt')], { encoding: 'utf8' }).stdout;
  assert.doesNotMatch(err, /EPIPE|Error|at /, `stderr:\n${err}`);
});

test('expandInputs: unreadable folders are reported, not skipped; a FIFO is listed for the reader to refuse', () => {
  const dir = tempDir('poi-unreadable-');
  mkdirSync(join(dir, 'ok'));
  mkdirSync(join(dir, 'locked'));
  writeFileSync(join(dir, 'ok', 'a.jpg'), 'x');
  writeFileSync(join(dir, 'locked', 'b.jpg'), 'x');
  if (canFifo) spawnSync('mkfifo', [join(dir, 'ok', 'f.jpg')]);
  chmodSync(join(dir, 'locked'), 0);
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'ok'), 0o755);
  const GLOB_JS = new URL('../src/util/glob.js', import.meta.url).href;
  const src = `
    import { expandInputs } from ${JSON.stringify(GLOB_JS)};
    const d = ${JSON.stringify(dir)};
    console.log(JSON.stringify([expandInputs([d]), expandInputs([d + '/locked/b.jpg']), expandInputs([d + '/locked']), expandInputs([d + '/ok/a.jpg/x.jpg'])]));
  `;
  // root reads any folder: run as nobody where this process is root
  const asRoot = process.getuid?.() === 0;
  const argv = asRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : [process.execPath];
  const p = spawnSync(argv[0], [...argv.slice(1), '--input-type=module', '-e', src], { encoding: 'utf8', timeout: 30_000, cwd: '/' });
  chmodSync(join(dir, 'locked'), 0o755);
  if (asRoot && p.status !== 0 && /setpriv|EPERM|not permitted/.test(p.stderr ?? '')) return; // no way to drop root here
  assert.equal(p.status, 0, p.stderr);
  const [all, under, top, throughFile] = JSON.parse(p.stdout);
  assert.deepEqual(all.files.map((f: string) => f.slice(dir.length + 1)).sort(), canFifo ? ['ok/a.jpg', 'ok/f.jpg'] : ['ok/a.jpg']);
  assert.deepEqual(all.missing, [{ input: join(dir, 'locked'), error: `${join(dir, 'locked')}: cannot read this folder (permission denied)` }]);
  assert.match(under.missing[0].error, /locked\/b\.jpg: permission denied/);
  assert.deepEqual(top.missing.map((m: { error: string }) => m.error), [`${join(dir, 'locked')}: cannot read this folder (permission denied)`]);
  assert.match(throughFile.missing[0].error, /no such file or folder \(a part of the path is a file\)/);
  // and in-process, without permissions in play
  assert.deepEqual(expandInputs([join(dir, 'ok')]).missing, []);
});
