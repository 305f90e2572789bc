/** The lock file is complete (so `npm ci` accepts it on a clean clone) and CI installs with `npm ci`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path/posix';

interface LockEntry {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** Where npm would find `dep` required from the package at `from` (a lock key like node_modules/a/node_modules/b). */
function resolves(packages: Record<string, LockEntry>, from: string, dep: string): boolean {
  for (let dir = from; ; dir = dirname(dirname(dir))) {
    const key = dir === '' || dir === '.' ? `node_modules/${dep}` : `${dir}/node_modules/${dep}`;
    if (packages[key]) return true;
    if (dir === '' || dir === '.' || !dir.includes('node_modules')) return false;
  }
}

test('package-lock.json holds every dependency, optional ones for other platforms included', () => {
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { lockfileVersion: number; packages: Record<string, LockEntry> };
  assert.ok(lock.lockfileVersion >= 2, 'a lock file with a packages section');
  const missing: string[] = [];
  for (const [at, entry] of Object.entries(lock.packages)) {
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      if (!resolves(lock.packages, at, dep)) missing.push(`${dep} (needed by ${at || 'the root'})`);
    }
  }
  assert.deepEqual(missing, [], 'run `npm install` and commit package-lock.json');
});

test('CI installs with npm ci, which refuses a lock file that does not match package.json', () => {
  const ci = readFileSync('.ci/run', 'utf8');
  assert.match(ci, /^npm ci\b/m);
  assert.doesNotMatch(ci, /^npm install\b/m);
});
