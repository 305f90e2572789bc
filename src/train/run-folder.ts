/**
 * The run folder's guards: one `poi train` at a time per folder (train.lock), no run record replaced
 * unless asked (--overwrite), and the leftovers of a killed run (temp files, half-swapped best/) cleaned
 * up before anything new is written.
 */
import { readFileSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { processAlive, removeStaleTempFiles, tempPathFor, withPath } from '../util/fs.js';
import { recoverModelSwap } from '../model/io.js';

/** What a run writes (src/train/trainer.ts); any of them marks a folder as holding a run. */
export const RUN_FILES = ['config.json', 'log.jsonl', 'checkpoint.bin', 'best', 'summary.json', 'noise.csv'] as const;

export const LOCK_FILE = 'train.lock';

interface LockRecord {
  pid: number;
  host: string;
  /** The holder's start time as the kernel counts it (Linux), so a reused pid is not taken for the holder. */
  procStart: string | null;
  since: string;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null off Linux. */
function procStart(pid: number): string | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the process that wrote `r` still runs: same host, pid alive and, where known, the same start time. */
function holderAlive(r: LockRecord): boolean {
  if (!processAlive(r.pid)) return false;
  if (r.procStart == null) return true;
  const now = procStart(r.pid);
  return now == null || now === r.procStart;
}

function parseLock(text: string): LockRecord | null {
  try {
    const r = JSON.parse(text) as LockRecord;
    return typeof r.pid === 'number' && typeof r.host === 'string' ? r : null;
  } catch {
    return null;
  }
}

/**
 * Throw what acquireRunLock would throw for a live holder, without taking the lock: for a command to
 * refuse before it spends minutes loading data. The real check is acquireRunLock's.
 */
export async function checkRunLock(dir: string): Promise<void> {
  const r = parseLock(await readFile(join(dir, LOCK_FILE), 'utf8').catch(() => ''));
  if (r && (r.host !== hostname() || holderAlive(r))) throw new Error(inUse(dir, r));
}

function inUse(dir: string, r: LockRecord): string {
  if (r.host !== hostname()) {
    return `${dir} is in use by poi train on ${r.host} (pid ${r.pid}, since ${r.since}); if that run has ended, delete ${join(dir, LOCK_FILE)} and try again`;
  }
  return `${dir} is in use by another poi train (pid ${r.pid}${r.pid === process.pid ? ', this process' : ''}, since ${r.since}); wait for it to finish or choose another --out`;
}

export interface RunLock {
  release(): Promise<void>;
}

/**
 * Take `dir`/train.lock, or throw naming the run that holds it. A lock whose holder no longer runs (a
 * killed run) is removed with a message; one from another host cannot be checked and is refused with
 * what to do. The lock is made complete first and linked into place, so no one ever reads half of one.
 */
export async function acquireRunLock(dir: string, log: (m: string) => void = () => {}): Promise<RunLock> {
  const file = join(dir, LOCK_FILE);
  const mine: LockRecord = { pid: process.pid, host: hostname(), procStart: procStart(process.pid), since: new Date().toISOString() };
  const text = JSON.stringify(mine) + '\n';
  const tmp = tempPathFor(file);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(text);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw withPath(e, file);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw withPath(e, file);
      }
      let held: string;
      try {
        held = await readFile(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw withPath(e, file);
      }
      const r = parseLock(held);
      if (r && (r.host !== mine.host || holderAlive(r))) throw new Error(inUse(dir, r));
      // stale: move it aside under a name of our own, and only delete it if it is still the stale one
      // (another starter may have replaced it in between)
      const aside = tempPathFor(`${file}.stale`);
      try {
        await rename(file, aside);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw withPath(e, file);
      }
      const moved = await readFile(aside, 'utf8');
      if (moved === held) {
        await unlink(aside);
        log(`${file}: removed a stale lock (${r ? `pid ${r.pid} no longer runs` : 'unreadable'})`);
      } else {
        await link(aside, file).catch(() => {});
        await unlink(aside);
      }
    }
  } finally {
    await unlink(tmp).catch(() => {});
  }
  return {
    async release() {
      // only our own lock: never one a later run took after ours was judged stale
      const now = await readFile(file, 'utf8').catch(() => null);
      if (now === text) await unlink(file).catch(() => {});
    },
  };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** The run files present in `dir` (log.jsonl counts only when it holds a line). */
export async function runFilesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of RUN_FILES) {
    if (f === 'log.jsonl') {
      const text = await readFile(join(dir, f), 'utf8').catch(() => '');
      if (text.trim() !== '') out.push(`log.jsonl (${text.trim().split('\n').length} lines)`);
    } else if (await exists(join(dir, f))) out.push(f === 'best' ? 'best/' : f);
  }
  return out;
}

/** Remove the run files (for --overwrite). Leaves anything else in the folder alone. */
export async function removeRunFiles(dir: string): Promise<void> {
  for (const f of RUN_FILES) await rm(join(dir, f), { recursive: true, force: true });
}

/**
 * Decide what a new `poi train` may do with `dir` (the caller holds its lock): start, resume, or refuse
 * because a run record would be replaced. Returns whether to resume from checkpoint.bin.
 */
export async function checkRunFolder(
  dir: string,
  opts: { resume: boolean; overwrite: boolean; /** only throw what a real call would throw: change nothing, log nothing */ dryRun?: boolean },
  log: (m: string) => void,
): Promise<{ resume: boolean }> {
  if (opts.dryRun) log = () => {};
  const hasCkpt = await exists(join(dir, 'checkpoint.bin'));
  if (opts.resume && opts.overwrite) throw new Error('--resume continues the run in the folder and --overwrite replaces it: pass one of them');
  if (opts.resume && hasCkpt) return { resume: true };
  const present = await runFilesIn(dir);
  // A run killed before its first checkpoint leaves config.json, noise.csv and perhaps best/ of its first
  // epoch, all of which its restart writes again; a logged epoch or a summary is a record it would lose.
  const record = present.filter((f) => f.startsWith('log.jsonl') || f === 'summary.json');
  if (opts.overwrite) {
    if (present.length > 0 && !opts.dryRun) {
      log(`${dir}: --overwrite: replacing the run there (${present.join(', ')})`);
      await removeRunFiles(dir);
    }
    return { resume: false };
  }
  if (opts.resume) {
    if (record.length > 0) {
      throw new Error(
        `${dir} holds a run record (${record.join(', ')}) but no checkpoint.bin to resume from; ` +
          `pass --overwrite to replace it, or choose another --out`,
      );
    }
    log(`no checkpoint in ${dir}; starting from the beginning`);
    return { resume: false };
  }
  if (present.length > 0) {
    throw new Error(
      `${dir} already holds a run (${present.join(', ')}); pass --resume to continue it, ` +
        `--overwrite to replace it, or choose another --out`,
    );
  }
  return { resume: false };
}

/**
 * Clean up what a killed run left in `dir`: temp files of atomic writes (a checkpoint's can be as big as
 * the checkpoint) and a half-done swap of best/. Returns the names, for the log.
 */
export async function cleanRunFolder(dir: string): Promise<string[]> {
  const done = (await removeStaleTempFiles(dir)).map((f) => `${f} removed`);
  done.push(...(await recoverModelSwap(join(dir, 'best'))));
  if (await exists(join(dir, 'best'))) done.push(...(await removeStaleTempFiles(join(dir, 'best'))).map((f) => `best/${f} removed`));
  return done;
}

const WHY: Record<string, string> = {
  EROFS: 'the filesystem is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'it exists and is not a folder',
};

/** mkdir -p for the run folder, with an error that says what is wrong (read-only, permissions). */
export async function makeRunFolder(dir: string): Promise<void> {
  let err: NodeJS.ErrnoException;
  try {
    await mkdir(dir, { recursive: true });
    return;
  } catch (e) {
    err = e as NodeJS.ErrnoException;
  }
  // Node's recursive mkdir reports ENOENT when a folder cannot be made on a read-only filesystem: make
  // the first missing one alone to learn the real reason
  if (err.code === 'ENOENT') {
    let p = resolve(dir);
    while (!(await exists(dirname(p))) && dirname(p) !== p) p = dirname(p);
    try {
      await mkdir(p);
      await mkdir(dir, { recursive: true });
      return;
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
  }
  const st = await stat(dir).catch(() => null);
  const why = st && !st.isDirectory() ? WHY.EEXIST : (WHY[err.code ?? ''] ?? err.message);
  throw new Error(`cannot create the run folder ${dir}: ${why}`, { cause: err });
}
