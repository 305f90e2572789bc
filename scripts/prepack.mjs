#!/usr/bin/env node
// `npm pack` / `npm publish` (after tsc): makes what the tarball ships from dist/ and dist-web/.
//  1. Removes compiled files under dist/src/ whose source is gone (tsc never deletes outputs, so a
//     moved or deleted module would otherwise ship as a stale copy).
//  2. Builds the browser page into dist-web/ (Vite, a dev dependency) when its sources changed:
//     the package ships the built page, since a consumer has no Vite to build it with.
// Fails (exit 1) when either cannot be done: a tarball without them would be broken.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist', 'src');
const src = join(root, 'src');
if (!existsSync(join(dist, 'index.js'))) {
  console.error('poi prepack: dist/src/index.js missing: run tsc first');
  process.exit(1);
}

let removed = 0;
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      walk(p);
      if (readdirSync(p).length === 0) rmSync(p, { recursive: true });
      continue;
    }
    const m = /^(.*?)(\.d\.ts|\.js\.map|\.js)$/.exec(e.name);
    if (!m) continue;
    const rel = join(relative(dist, dir), m[1]);
    if (!existsSync(join(src, `${rel}.ts`))) {
      rmSync(p);
      removed++;
    }
  }
};
walk(dist);
if (removed) console.log(`poi prepack: removed ${removed} stale file(s) under dist/src`);

try {
  const { ensureBuilt } = await import(pathToFileURL(join(dist, 'demo', 'site.js')).href);
  const status = await ensureBuilt({ log: (l) => console.log(l) });
  if (status === 'stale-no-vite') throw new Error('the browser page is out of date and vite is not installed');
  console.log(`poi prepack: browser page ${status} (dist-web/)`);
} catch (e) {
  console.error(`poi prepack: ${e.message}`);
  process.exit(1);
}
