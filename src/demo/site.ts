/**
 * The browser demo's files: where the page's sources and its build live, and building it with Vite
 * (a dev dependency) when the sources changed since the last build.
 *
 * The build is stamped with a hash of everything it is made from (web/ and the src/ tree the page imports),
 * so `poi demo` rebuilds after an edit or a checkout and reuses the build otherwise. A build goes to a
 * temporary folder that is swapped in, so an interrupted build never leaves a broken page behind.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The poi package root (this file is dist/src/demo/site.js once compiled). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface SitePaths {
  /** The page's sources (index.html, src/*.ts, vite.config.ts). */
  webDir: string;
  /** poi's own sources the page imports (model, face alignment, ui). */
  srcDir: string;
  /** The built page. */
  outDir: string;
}

export function defaultSitePaths(root = PACKAGE_ROOT): SitePaths {
  return { webDir: join(root, 'web'), srcDir: join(root, 'src'), outDir: join(root, 'dist-web') };
}

const STAMP = '.poi-build.json';
const SOURCE_EXT = /\.(ts|html|css|json)$/;

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (SOURCE_EXT.test(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** Hash of the sources the page is built from (paths and contents) and of the Vite version. */
export async function sourceHash(paths: SitePaths = defaultSitePaths()): Promise<string> {
  const h = createHash('sha256');
  for (const dir of [paths.webDir, paths.srcDir]) {
    for (const f of await listFiles(dir)) {
      h.update(relative(dir, f)).update('\0').update(await readFile(f)).update('\0');
    }
  }
  h.update(viteVersion() ?? 'no-vite');
  return h.digest('hex').slice(0, 16);
}

function viteVersion(): string | null {
  try {
    const require = createRequire(import.meta.url);
    return JSON.parse(readFileSync(require.resolve('vite/package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

export type BuildStatus = 'fresh' | 'built' | 'stale-no-vite' | 'prebuilt';

/**
 * Make sure the page is built: returns 'fresh' when the existing build matches the sources, 'built' after
 * building, 'prebuilt' when there are no sources to check against (an install that ships dist-web only),
 * 'stale-no-vite' when the sources changed but Vite is not installed (the old build is served).
 * `force` rebuilds regardless.
 */
export async function ensureBuilt(opts: { paths?: SitePaths; force?: boolean; log?: (line: string) => void } = {}): Promise<BuildStatus> {
  const paths = opts.paths ?? defaultSitePaths();
  const log = opts.log ?? (() => {});
  const built = existsSync(join(paths.outDir, 'index.html'));
  if (!existsSync(join(paths.webDir, 'index.html'))) {
    if (built) return 'prebuilt';
    throw new Error(`${paths.webDir}: the demo page's sources are missing and there is no build in ${paths.outDir}`);
  }
  const hash = await sourceHash(paths);
  const stampFile = join(paths.outDir, STAMP);
  if (!opts.force && built && existsSync(stampFile)) {
    try {
      if (JSON.parse(readFileSync(stampFile, 'utf8')).hash === hash) return 'fresh';
    } catch {
      // unreadable stamp: rebuild
    }
  }
  if (!viteVersion()) {
    if (built) {
      log('poi demo: the page sources changed but vite (a dev dependency) is not installed; serving the previous build');
      return 'stale-no-vite';
    }
    throw new Error(`the demo page is not built (${paths.outDir}) and vite is not installed: run \`npm install\` (with dev dependencies) in ${dirname(paths.webDir)}`);
  }
  const t0 = Date.now();
  log('poi demo: building the page with vite…');
  const { build } = await import('vite');
  const tmp = `${paths.outDir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    await build({
      configFile: join(paths.webDir, 'vite.config.ts'),
      root: paths.webDir,
      logLevel: 'warn',
      build: { outDir: tmp, emptyOutDir: true },
    });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw new Error(`building the demo page failed: ${(e as Error).message}`);
  }
  await writeFile(join(tmp, STAMP), JSON.stringify({ hash, builtAt: new Date().toISOString() }) + '\n');
  const old = `${paths.outDir}.old-${process.pid}`;
  if (existsSync(paths.outDir)) await rename(paths.outDir, old);
  await rename(tmp, paths.outDir);
  await rm(old, { recursive: true, force: true });
  log(`poi demo: built ${paths.outDir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return 'built';
}
