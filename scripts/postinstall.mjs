#!/usr/bin/env node
// poi-fer's postinstall, in this repository and where poi-fer is installed as a dependency (where
// npm runs no `prepare`). Never fails the install: anything that goes wrong prints one line and
// poi runs on its slower paths.
//
//  1. Applies patches/ (tfjs-backend-wasm: threads under Node worker_threads) with patch-package to
//     the copy of @tensorflow/tfjs-backend-wasm that poi itself loads, wherever npm put it: this
//     repository's node_modules, or a consumer's node_modules where npm hoisted it (running
//     patch-package in poi-fer's own folder would look for it in poi-fer/node_modules).
//  2. Installed as a dependency only: builds the native oneDNN training kernels when oneDNN's
//     headers and a compiler are already there (a dependency never runs apt-get); here `prepare`
//     builds them (scripts/build-native.mjs). POI_NATIVE=0 skips.
//
// Run it again by hand with `node node_modules/poi-fer/scripts/postinstall.mjs` (or
// `npm rebuild poi-fer`), e.g. where the consumer's npm did not run install scripts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const asDependency = basename(dirname(root)) === 'node_modules';

function patchWasm() {
  const target = '@tensorflow/tfjs-backend-wasm';
  let pkgDir;
  try {
    pkgDir = dirname(require.resolve(`${target}/package.json`));
  } catch {
    return `${target} not found`;
  }
  // the folder holding node_modules/@tensorflow/tfjs-backend-wasm: patch-package's "app root"
  const appRoot = resolve(pkgDir, '..', '..', '..');
  if (relative(appRoot, pkgDir) !== join('node_modules', target)) return `unexpected layout: ${pkgDir}`;
  if (!existsSync(join(appRoot, 'package.json'))) return `no package.json next to ${join(appRoot, 'node_modules')}`;
  let bin;
  try {
    bin = require.resolve('patch-package/index.js');
  } catch {
    return 'patch-package is not installed';
  }
  // patch-package checks for itself whether the patch is applied already
  const r = spawnSync(process.execPath, [bin, '--patch-dir', relative(appRoot, join(root, 'patches')), '--error-on-fail'], {
    cwd: appRoot,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  if (r.status !== 0) {
    const line = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => /error/i.test(l)) ?? `patch-package exited with ${r.status}`;
    return line.trim().slice(0, 200);
  }
  return null;
}

const why = patchWasm();
console.log(
  why == null
    ? 'poi: tfjs-backend-wasm patched for threads under Node'
    : `poi: tfjs-backend-wasm not patched (${why}); the wasm backend will run single-threaded`,
);

if (asDependency) {
  // build-native.mjs prints its own line and always exits 0
  spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], {
    stdio: 'inherit',
    env: { ...process.env, POI_NO_APT: '1' },
  });
}
