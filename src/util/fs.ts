/**
 * Crash-safe file helpers (Node only). Checkpoints, run configs and reports are written atomically, so
 * a kill at any moment leaves either the old file or the new one, never a torn one; logs are JSON
 * lines, appended one record per write, and read back tolerating a torn last line.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { appendFile, mkdir, open, readdir, readFile, rename, truncate, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { crashPoint } from './crash.js';

export type FileData = string | Uint8Array;

/** mkdir -p. */
export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

/** The temporary name used next to `path`: `<path>.tmp-<pid>-<random hex>`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

const TEMP_RE = /\.tmp-(\d+)-[0-9a-f]{12}$/;

/** Whether a process with this id exists (on this machine). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove temporary files left in `dir` by writers that were killed mid-write (names from tempPathFor
 * whose process no longer exists); temp files of live processes, this one included, are kept.
 * Returns the names removed.
 */
export async function removeStaleTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir)) {
    const m = TEMP_RE.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      await unlink(join(dir, name));
      removed.push(name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return removed;
}

/** fsync a directory so a rename inside it is durable; not possible on every platform (Windows). */
async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // EISDIR / EPERM / EINVAL on platforms that cannot fsync directories: the rename is still atomic
  } finally {
    await fh?.close().catch(() => {});
  }
}

/**
 * An fs error with the file named: Node's messages for write/fsync/close ("ENOSPC: no space left on
 * device, write") do not say which file. The code (ENOSPC, EACCES, ...) is kept.
 */
export function withPath(e: unknown, path: string): Error {
  const err = e as NodeJS.ErrnoException;
  if (!(err instanceof Error) || err.message.includes(path)) return err;
  const out = new Error(`${path}: ${err.message}`, { cause: err }) as NodeJS.ErrnoException;
  if (err.code) out.code = err.code;
  return out;
}

export interface AtomicWriteOptions {
  /** Name for the test hook src/util/crash.ts: `<name>:before-rename` and `<name>:after-rename`. */
  crashPoint?: string;
}

/**
 * Write `data` to `path` atomically: write a temporary file in the same directory, fsync it, rename
 * it over `path`, fsync the directory. The temporary file is removed if anything fails. The parent
 * directory must exist.
 */
export async function writeFileAtomic(path: string, data: FileData, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathFor(path);
  let ok = false;
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (opts.crashPoint) crashPoint(`${opts.crashPoint}:before-rename`);
    await rename(tmp, path);
    ok = true;
    if (opts.crashPoint) crashPoint(`${opts.crashPoint}:after-rename`);
  } catch (e) {
    throw withPath(e, path);
  } finally {
    if (!ok) await unlink(tmp).catch(() => {});
  }
  await syncDir(dirname(path));
}

/** Synchronous writeFileAtomic, for exit handlers and other places that cannot await. */
export function writeFileAtomicSync(path: string, data: FileData): void {
  const tmp = tempPathFor(path);
  let ok = false;
  try {
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    ok = true;
  } finally {
    if (!ok) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    }
  }
}

/** JSON.stringify replacer: typed arrays become plain arrays (instead of {"0": ..., "1": ...}). */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number>);
  }
  return value;
}

/** Write `obj` as indented JSON (typed arrays as arrays, NaN as null), atomically, with a final newline. */
export async function writeJsonAtomic(path: string, obj: unknown, indent = 2, opts: AtomicWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(obj, jsonReplacer, indent) + '\n', opts);
}

/** Read and parse a JSON file; invalid JSON throws an Error that names the file. */
export async function readJson<T = unknown>(path: string): Promise<T> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`, { cause: e });
  }
}

export interface JsonlOptions {
  /** Where warnings go (default console.warn). */
  onWarning?: (message: string) => void;
}

/**
 * Append one record as a JSON line. If the file ends in a torn line (no final newline, left by a
 * crash mid-write), that fragment is cut off first (with a warning) so the new record starts on its
 * own line; a final line that is complete JSON but lacks its newline is kept and terminated instead.
 */
export async function appendJsonl(path: string, obj: unknown, opts: JsonlOptions = {}): Promise<void> {
  const line = JSON.stringify(obj, jsonReplacer);
  if (line === undefined) throw new TypeError(`appendJsonl ${path}: value is not JSON-serialisable`);
  let prefix = '';
  let text: string | null = null;
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) text = await fh.readFile('utf8');
      }
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== null) {
    const cut = text.lastIndexOf('\n') + 1;
    const tail = text.slice(cut);
    if (isJson(tail)) {
      prefix = '\n';
    } else {
      (opts.onWarning ?? console.warn)(
        `${path}: dropping a truncated last line (${tail.length} chars) before appending`,
      );
      await truncate(path, Buffer.byteLength(text.slice(0, cut), 'utf8'));
    }
  }
  try {
    await appendFile(path, prefix + line + '\n');
  } catch (e) {
    throw withPath(e, path);
  }
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * Read a JSON-lines file. Blank lines are ignored. A last line without its newline that does not
 * parse (a crash mid-append) is skipped with a warning; any other invalid line throws an Error naming
 * the file and line number.
 */
export async function readJsonl<T = unknown>(path: string, opts: JsonlOptions = {}): Promise<T[]> {
  const text = await readFile(path, 'utf8');
  const lines = text.split('\n');
  const out: T[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.trim() === '') continue;
    try {
      out.push(JSON.parse(l) as T);
    } catch (e) {
      const unterminated = i === lines.length - 1; // text did not end with '\n'
      if (unterminated) {
        (opts.onWarning ?? console.warn)(`${path}:${i + 1}: skipping a truncated last line (${l.length} chars)`);
        continue;
      }
      throw new Error(`${path}:${i + 1}: invalid JSON line: ${(e as Error).message}`, { cause: e });
    }
  }
  return out;
}
