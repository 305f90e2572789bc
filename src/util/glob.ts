/**
 * Expanding command-line inputs to image files: files as given, folders recursively, and glob
 * patterns (quoted so the shell leaves them alone): `*` and `?` within a path segment, `**` across
 * segments, `[abc]` classes and `{a,b}` alternatives. Node 20 has no fs.glob, hence this.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/**
 * Largest image file poi reads by default, in MB (10^6 bytes): more than any camera's photo, including
 * uncompressed TIFFs of 50 megapixels. Raise it with `--max-file-mb` or the `maxFileMb` option.
 */
export const DEFAULT_MAX_FILE_MB = 200;

/** Extensions read from folders (lower case, no dot). */
export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'tif', 'tiff', 'bmp'];

export function isImagePath(p: string): boolean {
  const m = /\.([^./\\]+)$/.exec(p);
  return m != null && IMAGE_EXTENSIONS.includes(m[1].toLowerCase());
}

export function hasGlob(p: string): boolean {
  return /[*?[{]/.test(p);
}

/** A glob pattern (with '/' separators) as a regular expression over '/'-separated relative paths. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  let i = 0;
  let braces = 0;
  while (i < pattern.length) {
    const ch = pattern[i];
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        // '**/' matches zero or more whole segments; a trailing '**' matches anything
        if (pattern[i + 2] === '/') {
          re += '(?:[^/]*/)*';
          i += 3;
        } else {
          re += '.*';
          i += 2;
        }
        continue;
      }
      re += '[^/]*';
    } else if (ch === '?') {
      re += '[^/]';
    } else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) {
        re += '\\[';
      } else {
        let cls = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (cls.startsWith('!')) cls = '^' + cls.slice(1);
        re += `[${cls}]`;
        i = end;
      }
    } else if (ch === '{') {
      braces++;
      re += '(?:';
    } else if (ch === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (ch === ',' && braces > 0) {
      re += '|';
    } else {
      re += ch.replace(/[.+^$()|\\]/g, '\\$&');
    }
    i++;
  }
  return new RegExp(`^${re}$`);
}

/** Why a path cannot be used, from an fs error code. */
function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'no such file or folder (a part of the path is a file)';
  if (code === 'ELOOP') return 'too many levels of symbolic links';
  return (e as Error).message;
}

/**
 * Every non-folder entry under `dir` (files, links, and FIFOs or devices, which the reader then
 * refuses by name instead of them vanishing from the batch); folders that cannot be read go to `errors`.
 */
function walk(dir: string, out: string[], errors: Expanded['missing'], depth = Infinity): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    errors.push({ input: dir, error: `${dir}: cannot read this folder (${why(e)})` });
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (depth > 1) walk(p, out, errors, depth - 1);
    } else out.push(p);
  }
}

export interface Expanded {
  /** Files to process, in order, without duplicates. */
  files: string[];
  /** Inputs that matched nothing, with why. */
  missing: { input: string; error: string }[];
}

/** Files for each input: a file as is (whatever its extension), a folder's images recursively, a glob's matching images. */
export function expandInputs(inputs: string[]): Expanded {
  const files: string[] = [];
  const seen = new Set<string>();
  const missing: Expanded['missing'] = [];
  const add = (f: string) => {
    if (!seen.has(f)) {
      seen.add(f);
      files.push(f);
    }
  };
  for (const input of inputs) {
    let st;
    let statError: unknown = null;
    try {
      st = statSync(input);
    } catch (e) {
      st = null;
      statError = e;
    }
    if (st?.isDirectory()) {
      const all: string[] = [];
      const errors: Expanded['missing'] = [];
      walk(input, all, errors);
      const imgs = all.filter(isImagePath);
      missing.push(...errors);
      if (imgs.length === 0 && !errors.some((e) => e.input === input)) {
        missing.push({ input, error: `${input}: no images in this folder (${IMAGE_EXTENSIONS.join(', ')})${errors.length ? ' that could be read' : ''}` });
      }
      imgs.forEach(add);
      continue;
    }
    if (st) {
      // a file as is; a FIFO or a device too, for the reader to refuse by name
      add(input);
      continue;
    }
    if (!hasGlob(input)) {
      missing.push({ input, error: `${input}: ${why(statError)}` });
      continue;
    }
    // the longest leading run of segments without glob characters is where the walk starts
    const norm = input.split(sep).join('/');
    const segs = norm.split('/');
    const first = segs.findIndex(hasGlob);
    const baseSegs = segs.slice(0, first);
    const base = baseSegs.length === 0 ? '.' : baseSegs.join('/') || '/';
    const rest = segs.slice(first);
    const re = globToRegExp(rest.join('/'));
    const all: string[] = [];
    const errors: Expanded['missing'] = [];
    // without '**' a pattern of k segments cannot match deeper than k levels: do not walk further
    walk(base, all, errors, rest.some((r) => r.includes('**')) ? Infinity : rest.length);
    missing.push(...errors);
    const matched = all.filter((f) => re.test(relative(base, f).split(sep).join('/')) && isImagePath(f));
    if (matched.length === 0) missing.push({ input, error: `${input}: no image matches this pattern` });
    matched.forEach(add);
  }
  return { files, missing };
}
