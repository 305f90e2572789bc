import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  appendJsonl,
  ensureDir,
  readJson,
  readJsonl,
  removeStaleTempFiles,
  tempPathFor,
  writeFileAtomic,
  writeFileAtomicSync,
  writeJsonAtomic,
} from '../src/util/fs.js';
import { formatDuration, formatField, Progress, type ProgressStream } from '../src/util/progress.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'poi-util-test-'));
}

// ---------------------------------------------------------------------------------------------
// fs

test('writeFileAtomic creates and replaces a file, leaving no temp files', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'a.txt');
    await writeFileAtomic(p, 'old');
    assert.equal(readFileSync(p, 'utf8'), 'old');
    await writeFileAtomic(p, new Uint8Array([104, 105]));
    assert.equal(readFileSync(p, 'utf8'), 'hi');
    writeFileAtomicSync(p, 'sync');
    assert.equal(readFileSync(p, 'utf8'), 'sync');
    assert.deepEqual(readdirSync(dir), ['a.txt']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileAtomic removes its temp file when the rename fails', async () => {
  const dir = tempDir();
  try {
    const target = join(dir, 'is-a-dir');
    mkdirSync(target);
    await assert.rejects(writeFileAtomic(target, 'x'));
    assert.throws(() => writeFileAtomicSync(target, 'x'));
    assert.deepEqual(readdirSync(dir), ['is-a-dir']);
    assert.deepEqual(readdirSync(target), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileAtomic: a process killed mid-write leaves the old or the new file, never a torn one', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'big.bin');
    const size = 8 << 20;
    writeFileSync(p, Buffer.alloc(size, 'A'));
    const fsUrl = new URL('../src/util/fs.js', import.meta.url).href;
    // the child rewrites the file forever, alternating all-A and all-B contents
    const script = `
      import { writeFileAtomicSync } from ${JSON.stringify(fsUrl)};
      const a = Buffer.alloc(${size}, 'A'), b = Buffer.alloc(${size}, 'B');
      process.stdout.write('ready\\n');
      for (let i = 0; ; i++) writeFileAtomicSync(${JSON.stringify(p)}, i % 2 ? a : b);
    `;
    const seen = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 30 + round * 37));
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const buf = readFileSync(p);
      assert.equal(buf.length, size, 'file is complete');
      const first = buf[0];
      assert.ok(buf.every((x) => x === first), 'file is all one version');
      seen.add(String.fromCharCode(first));
    }
    // temp files left by the killed writers are recognised as stale and removed
    await removeStaleTempFiles(dir);
    assert.deepEqual(readdirSync(dir), ['big.bin']);
    assert.ok(seen.size >= 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('removeStaleTempFiles removes temp files of dead processes only', async () => {
  const dir = tempDir();
  try {
    const mine = tempPathFor(join(dir, 'a.json'));
    assert.match(mine, new RegExp(`a\\.json\\.tmp-${process.pid}-[0-9a-f]{12}$`));
    writeFileSync(mine, '');
    writeFileSync(join(dir, 'a.json.tmp-999999999-0123456789ab'), ''); // no such pid
    writeFileSync(join(dir, 'a.json'), '');
    writeFileSync(join(dir, 'notes.tmp-1-x'), '');
    assert.deepEqual(await removeStaleTempFiles(dir), ['a.json.tmp-999999999-0123456789ab']);
    assert.equal(readdirSync(dir).length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeJsonAtomic / readJson round trip; typed arrays as arrays; bad JSON names the file', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'r.json');
    await writeJsonAtomic(p, { a: new Float32Array([0.5, 1]), b: NaN, c: 'x' });
    assert.deepEqual(await readJson(p), { a: [0.5, 1], b: null, c: 'x' });
    assert.ok(readFileSync(p, 'utf8').endsWith('}\n'));
    assert.deepEqual(readdirSync(dir), ['r.json']);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"a": 1,');
    await assert.rejects(readJson(bad), (e: Error) => e.message.startsWith(`${bad}: invalid JSON`));
    await assert.rejects(readJson(join(dir, 'missing.json')), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ensureDir creates nested directories and accepts existing ones', async () => {
  const dir = tempDir();
  try {
    const d = join(dir, 'a', 'b', 'c');
    await ensureDir(d);
    await ensureDir(d);
    assert.ok(existsSync(d));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readJsonl skips a truncated last line with a warning, throws on a bad middle line', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'log.jsonl');
    const warnings: string[] = [];
    const onWarning = (m: string) => warnings.push(m);
    writeFileSync(p, '{"step":1}\n\n{"step":2}\n{"step":3,"lo');
    assert.deepEqual(await readJsonl(p, { onWarning }), [{ step: 1 }, { step: 2 }]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /log\.jsonl:4: skipping a truncated last line/);
    // a complete last record without newline is kept
    writeFileSync(p, '{"step":1}\n{"step":2}');
    assert.deepEqual(await readJsonl(p, { onWarning }), [{ step: 1 }, { step: 2 }]);
    assert.equal(warnings.length, 1);
    // corruption elsewhere is an error naming file and line
    writeFileSync(p, '{"step":1}\n{"st\n{"step":3}\n');
    await assert.rejects(readJsonl(p, { onWarning }), (e: Error) => e.message.startsWith(`${p}:2: invalid JSON line`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('appendJsonl appends lines and repairs a torn tail before appending', async () => {
  const dir = tempDir();
  try {
    const p = join(dir, 'log.jsonl');
    const warnings: string[] = [];
    const onWarning = (m: string) => warnings.push(m);
    await appendJsonl(p, { step: 1, v: new Int32Array([1, 2]) }, { onWarning });
    await appendJsonl(p, { step: 2 }, { onWarning });
    assert.equal(readFileSync(p, 'utf8'), '{"step":1,"v":[1,2]}\n{"step":2}\n');
    // crash mid-append left a fragment: it is dropped, the new record is readable
    writeFileSync(p, '{"step":1}\n{"step":2,"lo', { flag: 'w' });
    await appendJsonl(p, { step: 3 }, { onWarning });
    assert.equal(readFileSync(p, 'utf8'), '{"step":1}\n{"step":3}\n');
    assert.equal(warnings.length, 1);
    // a complete record lacking its newline is kept
    writeFileSync(p, '{"step":1}');
    await appendJsonl(p, { step: 2 }, { onWarning });
    assert.deepEqual(await readJsonl(p, { onWarning }), [{ step: 1 }, { step: 2 }]);
    assert.equal(warnings.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// progress

class FakeStream implements ProgressStream {
  chunks: string[] = [];
  constructor(
    public isTTY: boolean,
    public columns?: number,
  ) {}
  write(s: string): boolean {
    this.chunks.push(s);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

function fakeClock(startMs = 1_000_000) {
  const c = { t: startMs, now: () => c.t };
  return c;
}

test('formatDuration and formatField', () => {
  assert.equal(formatDuration(0), '0.0s');
  assert.equal(formatDuration(4.25), '4.3s');
  assert.equal(formatDuration(42.9), '42s');
  assert.equal(formatDuration(192), '3m12s');
  assert.equal(formatDuration(59 * 60 + 59.6), '1h00m');
  assert.equal(formatDuration(3 * 3600 + 5 * 60 + 10), '3h05m');
  assert.equal(formatDuration(Infinity), '?');
  assert.equal(formatDuration(NaN), '?');
  assert.equal(formatField(1.23449), '1.234');
  assert.equal(formatField(12), '12');
  assert.equal(formatField(0.0003), '3.00e-4');
  assert.equal(formatField('abc'), 'abc');
});

test('Progress line: bar, count, percent, fields, rate, ETA', () => {
  const clock = fakeClock();
  const s = new FakeStream(false);
  const bar = new Progress({ total: 450, label: 'train', stream: s, now: clock.now, unit: 'img', barWidth: 10 });
  clock.t += 3200;
  bar.tick(120, { loss: 1.2341, acc: 0.5121 });
  // 120 / 3.2 s = 37.5 img/s; 330 left -> 8.8 s
  assert.equal(bar.line(false), 'train [##........] 120/450 27% loss 1.234 acc 0.512 37.5 img/s ETA 8.8s');
  // plain mode: 120/450 crossed 10% and 20% -> one line
  assert.equal(s.text, 'train [##........] 120/450 27% loss 1.234 acc 0.512 37.5 img/s ETA 8.8s\n');
});

test('Progress on a non-TTY prints a plain line every 10% and a final line with the elapsed time', () => {
  const clock = fakeClock();
  const s = new FakeStream(false);
  const bar = new Progress({ total: 100, label: 'ep1', stream: s, now: clock.now, unit: 'img', barWidth: 10 });
  for (let i = 0; i < 100; i++) {
    clock.t += 100;
    bar.tick(1, { loss: 2 - i / 100 });
  }
  bar.done();
  const lines = s.text.split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, 10); // 10%..90% plus done
  assert.ok(!s.text.includes('\r'));
  assert.equal(lines[0], 'ep1 [#.........] 10/100 10% loss 1.910 10.0 img/s ETA 9.0s');
  assert.equal(lines[8], 'ep1 [#########.] 90/100 90% loss 1.110 10.0 img/s ETA 1.0s');
  assert.equal(lines[9], 'ep1 [##########] 100/100 100% loss 1.010 10.0 img/s done in 10s');
  bar.done();
  bar.tick(5);
  assert.equal(s.chunks.length, 10, 'nothing after done()');
});

test('Progress on a non-TTY also prints after 30 s without a line', () => {
  const clock = fakeClock();
  const s = new FakeStream(false);
  const bar = new Progress({ total: 1000, stream: s, now: clock.now });
  for (let i = 0; i < 9; i++) {
    clock.t += 10_000;
    bar.tick(1);
  }
  // ticks at 10..90 s, 1 item each: no 10% milestone, a line at 30, 60 and 90 s
  assert.equal(s.chunks.length, 3);
  assert.match(s.chunks[0], /^\[\.+\] 3\/1000 0% 0\.10 it\/s ETA 2h46m\n$/);
});

test('Progress on a TTY redraws in place, at most every 200 ms', () => {
  const clock = fakeClock();
  const s = new FakeStream(true);
  const bar = new Progress({ total: 20, label: 'x', stream: s, now: clock.now, barWidth: 4 });
  for (let i = 0; i < 20; i++) {
    clock.t += 50;
    bar.tick(1);
  }
  // draws at 50 ms (first), 250, 450, 650, 850, and 1000 ms (complete)
  assert.equal(s.chunks.length, 6);
  for (const c of s.chunks) {
    assert.ok(c.startsWith('\r') && c.endsWith('\x1b[K'), JSON.stringify(c));
    assert.ok(!c.includes('\n'));
  }
  assert.equal(s.chunks[1], '\rx [#...] 5/20 25% 20.0 it/s ETA 0.8s\x1b[K');
  bar.done({ acc: 0.75 });
  assert.equal(s.chunks.at(-1), '\rx [####] 20/20 100% acc 0.750 20.0 it/s done in 1.0s\x1b[K\n');
});

test('Progress truncates to the terminal width and handles an unknown total', () => {
  const clock = fakeClock();
  const s = new FakeStream(true, 20);
  const bar = new Progress({ total: 0, label: 'decode', stream: s, now: clock.now, unit: 'img' });
  clock.t += 2000;
  bar.tick(50, { file: 'a-very-long-file-name.png' });
  assert.equal(s.chunks[0], '\r' + 'decode 50 file a-ve' + '\x1b[K');
  assert.equal(bar.line(false), 'decode 50 file a-very-long-file-name.png 25.0 img/s elapsed 2.0s');
});

test('formatMs: one format for the timing tables of poi predict --timing and bench:webcam', async () => {
  const { formatMs } = await import('../src/infer/timing.js');
  assert.deepEqual([0.04, 7, 99.94, 100, 1306.4].map(formatMs), ['0.0', '7.0', '99.9', '100', '1306']);
  const { timingReport } = await import('../src/cli/predict.js');
  const text = timingReport({ decode: 7.2, detect: 250, landmarks: 0, align: 0.3, trn: 12, explain: 0 }, 1, 1, 300, 50);
  assert.match(text, /start-up 50\.0 ms, then 300 ms \(300 ms per image\)/);
  assert.match(text, /^ {2}decode +7\.2 +7\.2$/m);
  assert.match(text, /^ {2}detect +250 +250$/m);
  const { formatWebcamBench } = await import('../bench/webcam-bench.js');
  const md = formatWebcamBench({
    rows: [{
      backend: 'wasm', detector: 'tiny', detectEvery: 5, label: 'wasm (SIMD, 1 thread)', threads: 1, isolated: true, ok: true, fps: 3.5, rounds: [3.5], fpsPerCpuSecond: 4.4,
      ms: { wait: 2, grab: 3, decode: 1, detect: 274.2, track: 7.2, recognise: 60, align: 1, trn: 40, draw: 0.4, total: 0, detectFrame: 360, trackFrame: 233 },
      faces: 2, facesMin: 2, facesMax: 2, facesMean: 2, frames: 30,
    }],
    clip: 'clip', chromium: '1', cores: 2, load: [],
  });
  assert.match(md, /\| 2 \| 2\.0 \| 4\.0 \| 274 \| 7\.2 \| 60\.0 \(40\.0\) \| 0\.4 \| 360 \| 233 \|$/m);
});
