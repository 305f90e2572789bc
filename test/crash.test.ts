/**
 * Crash consistency: a tiny run (test/crash-child.ts) is killed with SIGKILL at named points around
 * every rename of an epoch's checkpoint and best/ swap and around the log line (POI_CRASH_AT, see
 * src/util/crash.ts), then resumed; the folder must end as an uninterrupted run of the same seed leaves
 * it: the same log, checkpoint, best/ and summary, and no temp files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../src/model/io.js';
import { tempDir } from './helpers.js';

const CHILD = new URL('./crash-child.js', import.meta.url).pathname;

function run(dir: string, resume: boolean, crashAt?: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, POI_THREADS: '1' };
  delete env.POI_CRASH_AT;
  if (crashAt) env.POI_CRASH_AT = crashAt;
  const r = spawnSync(process.execPath, [CHILD, dir, ...(resume ? ['resume'] : [])], { encoding: 'utf8', env, timeout: 120_000 });
  return { status: r.status, signal: r.signal, err: r.stderr };
}

const TIMING = new Set(['imagesPerSec', 'epochSeconds', 'wallSeconds', 'savedAt', 'createdAt']);
/** JSON without the fields that measure time. */
function untimed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(untimed);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([k]) => !TIMING.has(k)).map(([k, x]) => [k, untimed(x)]));
  }
  return v;
}

/** Everything a run folder says, with time measurements left out. */
async function state(dir: string) {
  const ckpt = await readCheckpoint<Record<string, unknown>>(join(dir, 'checkpoint.bin'));
  const tensors = Object.fromEntries([...ckpt.tensors].map(([k, t]) => [k, Buffer.from(t.values.buffer).toString('base64')]));
  const best = JSON.parse(readFileSync(join(dir, 'best', 'model.json'), 'utf8'));
  return {
    files: readdirSync(dir).sort(),
    bestFiles: readdirSync(join(dir, 'best')).sort(),
    log: untimed(readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))),
    header: untimed({ ...ckpt.header, tensors: undefined }),
    tensors,
    bestWeights: readFileSync(join(dir, 'best', 'weights.bin')).toString('base64'),
    bestManifest: untimed(best),
    summary: untimed(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'))),
  };
}

// Each point with the epoch (occurrence) it is hit in. Epoch 1's kills come before any checkpoint
// exists; epoch 2's after one, and the last ones leave only the summary to write.
const POINTS = [
  'model:before-swap#1', // best/ of epoch 1 complete in best.tmp-<pid>, not yet in place
  'checkpoint:before-rename#1', // best/ in place, the first checkpoint only in its temp file
  'log:before-append#1', // epoch 1 checkpointed, its log line not written
  'log:after-append#1',
  'model:mid-swap#2', // the old best/ moved aside, the new one not yet in place: no best/ at all
  'model:after-swap#2', // new best/ in place, old one not yet removed
  'checkpoint:before-rename#2',
  'checkpoint:after-rename#2', // the last checkpoint written, its log line and the summary not
  'summary:before-write',
];

test('killed at any write of an epoch end, a resumed run ends as an uninterrupted one', { timeout: 600_000 }, async () => {
  const ref = tempDir('poi-crash-ref-');
  const r = run(ref, false);
  assert.equal(r.status, 0, r.err);
  const want = await state(ref);
  assert.deepEqual(want.files, ['best', 'checkpoint.bin', 'config.json', 'log.jsonl', 'summary.json']);
  assert.deepEqual((want.log as { epoch: number }[]).map((e) => e.epoch), [1, 2]);
  assert.equal((want.bestManifest as { metrics: { epoch: number } }).metrics.epoch, 2, 'epoch 2 must improve on epoch 1 so both epochs swap best/');

  for (const point of POINTS) {
    const dir = tempDir('poi-crash-');
    const killed = run(dir, false, point);
    assert.equal(killed.signal, 'SIGKILL', `${point}: the run was not killed there (status ${killed.status}):\n${killed.err}`);
    const resumed = run(dir, true);
    assert.equal(resumed.status, 0, `${point}: resume failed:\n${resumed.err}`);
    const got = await state(dir);
    for (const k of Object.keys(want) as (keyof typeof want)[]) {
      assert.deepEqual(got[k], want[k], `${point}: ${k} differs from the uninterrupted run`);
    }
  }
});
