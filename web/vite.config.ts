/**
 * Vite config of the browser demo (`poi demo` builds with it through Vite's JS API; `npx vite build web`
 * does the same by hand). The page imports poi's own model code from ../src, so the browser and Node share
 * the model, the format and the preprocessing. Models and the wasm binaries are not bundled: the demo
 * server serves them next to the page (models/poi/, models/face-api/, wasm/), so nothing comes from a CDN.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  // relative asset URLs: the built page works under any path prefix
  base: './',
  logLevel: 'warn',
  build: {
    outDir: '../dist-web',
    emptyOutDir: true,
    target: 'es2022',
    // tfjs alone is ~1.5 MB minified; one chunk is what we want for an offline demo
    chunkSizeWarningLimit: 4096,
    sourcemap: false,
  },
});
