/**
 * Node module-customisation hooks (registered by gradients.ts through module.register) that let
 * Node load tfjs-core's ES-module build (dist/**.js, extensionless relative imports, in a package
 * without "type": "module"). Only URLs inside @tensorflow/tfjs-core/dist are touched, and never its
 * CommonJS bundles (tf-core.node.js and friends, miniprogram/).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIST = '/@tensorflow/tfjs-core/dist/';

function isCoreEsm(url: string): boolean {
  const i = url.indexOf(DIST);
  if (i < 0 || !url.startsWith('file:') || !url.endsWith('.js')) return false;
  const rest = url.slice(i + DIST.length);
  return !rest.startsWith('tf-core.') && !rest.startsWith('miniprogram/');
}

interface ResolveResult { url: string; format?: string | null; shortCircuit?: boolean }
interface LoadResult { format: string; source?: string | ArrayBuffer | Uint8Array | null; shortCircuit?: boolean }
type NextResolve = (specifier: string, context: { parentURL?: string }) => Promise<ResolveResult>;
type NextLoad = (url: string, context: { format?: string | null }) => Promise<LoadResult>;

export async function resolve(specifier: string, context: { parentURL?: string }, next: NextResolve): Promise<ResolveResult> {
  const parent = context.parentURL;
  if (parent != null && isCoreEsm(parent) && (specifier.startsWith('./') || specifier.startsWith('../')) && !specifier.endsWith('.js')) {
    for (const cand of [`${specifier}.js`, `${specifier}/index.js`]) {
      const u = new URL(cand, parent);
      if (existsSync(fileURLToPath(u))) return { url: u.href, format: 'module', shortCircuit: true };
    }
  }
  return next(specifier, context);
}

export async function load(url: string, context: { format?: string | null }, next: NextLoad): Promise<LoadResult> {
  if (isCoreEsm(url)) return next(url, { ...context, format: 'module' });
  return next(url, context);
}
