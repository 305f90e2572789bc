#!/usr/bin/env node
// `npm run build:native`: builds poi's optional native training kernels (native/, N-API + oneDNN)
// with node-gyp against this Node's own headers (no download). Never fails the install: when the
// platform, a compiler or oneDNN (Debian/Ubuntu: apt-get install libdnnl-dev) is missing, or the
// build fails, it prints one line and exits 0; poi then runs on the pure wasm path.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const skip = (why) => {
  console.log(`poi: native kernels not built (${why}); using the wasm backend alone`);
  process.exit(0);
};

if (process.env.POI_NATIVE === '0') skip('POI_NATIVE=0');
if (process.platform !== 'linux') skip(`${process.platform} is not supported yet`);
const findHeader = () => ['/usr/include/dnnl.hpp', '/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/dnnl.hpp'].find((p) => existsSync(p));
let header = findHeader();
// Where apt exists and we may use it (root, as in containers and CI), install oneDNN ourselves so the
// README's one install command gives the fast path; POI_NO_APT=1 opts out.
if (!header && process.env.POI_NO_APT !== '1' && process.getuid?.() === 0 && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0) {
  console.log('poi: installing oneDNN (apt-get install libdnnl-dev) for the native training kernels; POI_NO_APT=1 skips this');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', 'libdnnl-dev'], { stdio: 'ignore', env }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
    install();
  }
  header = findHeader();
}
if (!header) skip('oneDNN headers not found: apt-get install libdnnl-dev');
const cxx = spawnSync(process.env.CXX ?? 'g++', ['--version'], { stdio: 'ignore' });
if (cxx.status !== 0) skip('no C++ compiler (g++)');
// node-gyp needs the Node headers; use the ones next to this node binary instead of downloading them.
const nodedir = resolve(dirname(process.execPath), '..');
if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) skip(`no Node headers under ${nodedir}/include/node`);
let gyp;
try {
  gyp = createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
} catch {
  // npm sets this to its own bundled node-gyp while it runs package scripts; run by hand, look for
  // the node-gyp of the npm installed next to this node
  gyp = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')]
    .find((p) => p && existsSync(p));
  if (!gyp) skip('node-gyp is not installed');
}
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--jobs=max'], {
  cwd: nativeDir,
  stdio: process.env.POI_NATIVE_VERBOSE ? 'inherit' : 'pipe',
  encoding: 'utf8',
});
if (r.status !== 0) {
  const err = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => /error/i.test(l)) ?? `node-gyp exited with ${r.status}`;
  skip(`build failed: ${err.trim().slice(0, 200)}; POI_NATIVE_VERBOSE=1 npm run build:native shows the log`);
}
// Load it once: a missing libdnnl.so at run time shows up here rather than in the first training step.
try {
  createRequire(import.meta.url)(join(nativeDir, 'build', 'Release', 'poi_native.node'));
} catch (e) {
  skip(`built but does not load: ${String(e.message).split('\n')[0]}`);
}
console.log(`poi: native kernels built (oneDNN, ${header})`);
