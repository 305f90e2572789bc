/**
 * Vite config of the browser demo (`poi demo` builds with it through Vite's JS API; `npx vite build web`
 * does the same by hand). The page imports poi's own model code from ../src, so the browser and Node share
 * the model, the format and the preprocessing. Models and the wasm binaries are not bundled: the demo
 * server serves them next to the page (models/poi/, models/face-api/, wasm/), so nothing comes from a CDN.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

/** The two headers that make the page cross-origin isolated, which tfjs's threaded wasm build needs (src/demo/server.ts sends the same). */
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/**
 * Two fixes to tfjs-backend-wasm's threaded build, so the page gets wasm threads (with the isolation headers):
 *
 * - Its pthread workers are started from a Blob of `'var WasmBackendModuleThreadedSimd = ' + factory.toString()`:
 *   the factory's own source, re-run in each worker. Bundled and minified, that function refers to names
 *   outside itself (the minifier's renamed helpers) and every worker dies with "e is not defined". The Blob
 *   gets the emscripten glue's file (wasm-out/tfjs-backend-wasm-threaded-simd.js, which defines that same
 *   global) instead, as a string the minifier leaves alone.
 * - Its thread pool is capped at half of navigator.hardwareConcurrency (1 thread on a 2-core machine,
 *   whatever setThreadsCount asks): the glue reports twice the logical cores, so the cap becomes all of them
 *   and setThreadsCount decides, as under Node (patches/@tensorflow+tfjs-backend-wasm+4.22.0.patch does the same).
 *
 * The build fails if the code either fix replaces is not found (a tfjs upgrade).
 */
const CORES = 'function _emscripten_num_logical_cores(){if(ENVIRONMENT_IS_NODE)return require("os").cpus().length;return navigator["hardwareConcurrency"]}';
const CORES_FIXED = 'function _emscripten_num_logical_cores(){if(ENVIRONMENT_IS_NODE)return require("os").cpus().length;return 2*navigator["hardwareConcurrency"]/* poi: lift the half-the-cores cap */}';

function threadedGlue(file: string, code: string, fail: (m: string) => never): string {
  if (!code.includes(CORES)) fail(`${file}: _emscripten_num_logical_cores not found; the thread-count fix needs updating for this tfjs-backend-wasm`);
  return code.replace(CORES, () => CORES_FIXED);
}

function tfjsWasmThreads(): Plugin {
  return {
    name: 'poi-tfjs-wasm-threads',
    enforce: 'pre',
    transform(code, id) {
      const file = id.split('?')[0].replace(/\\/g, '/');
      const fail = (m: string): never => this.error(m);
      if (file.endsWith('/@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js')) {
        return { code: threadedGlue(file, code, fail), map: null };
      }
      if (!file.endsWith('/@tensorflow/tfjs-backend-wasm/dist/backend_wasm.js')) return null;
      const needle = /`var WasmBackendModuleThreadedSimd = ` \+\s*wasmFactoryThreadedSimd\.toString\(\)/;
      if (!needle.test(code)) fail(`${file}: the threaded factory's toString() was not found; the worker fix needs updating for this tfjs-backend-wasm`);
      const glueFile = join(dirname(file), '..', 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
      const glue = threadedGlue(glueFile, readFileSync(glueFile, 'utf8'), fail);
      return { code: code.replace(needle, () => JSON.stringify(glue)), map: null };
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  // relative asset URLs: the built page works under any path prefix
  base: './',
  logLevel: 'warn',
  plugins: [tfjsWasmThreads()],
  server: { headers: isolation },
  preview: { headers: isolation },
  build: {
    outDir: '../dist-web',
    emptyOutDir: true,
    target: 'es2022',
    // tfjs alone is ~1.5 MB minified; one chunk is what we want for an offline demo
    chunkSizeWarningLimit: 4096,
    sourcemap: false,
  },
});
