/**
 * What the chromium tests (web.test.ts, webcam.test.ts) share: `poi demo` on a free port, Debian's
 * chromium through playwright-core, and a page that collects its errors and loads the demo until it is
 * ready.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const POI = join(ROOT, 'bin', 'poi.js');
export const CHROMIUM = '/usr/bin/chromium';
/** A skip reason where chromium is not installed, else false. */
export const NO_CHROMIUM = !existsSync(CHROMIUM) && `${CHROMIUM} is missing (apt-get install chromium)`;

/** A face card as the demo page shows it (its data attributes, read back by the browser tests). */
export interface PageCard {
  box: { x: number; y: number; width: number; height: number };
  emotions: Record<string, number>;
  emotion: string;
  confidence: number;
}

export interface Demo {
  proc: ChildProcess;
  /** The page's address, with its trailing slash. */
  url: string;
  /** What poi demo printed so far. */
  log: () => string;
}

/** Start `poi demo --port 0` and resolve with its address once it prints it. */
export function startDemo(timeoutMs = 120_000): Promise<Demo> {
  const proc = spawn(process.execPath, [POI, 'demo', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`poi demo printed no address in ${timeoutMs / 1000} s:\n${out}`)), timeoutMs);
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok({ proc, url: m[1], log: () => out });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`poi demo exited with ${code}:\n${out}`));
    });
  });
}

/** Flags every test launches chromium with: headless as root, no first-run or background traffic. */
const BASE_ARGS = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface BrowserPage {
  browser: Browser;
  page: Page;
  /** The page's uncaught errors, as they happen. */
  errors: string[];
}

/**
 * Launch headless chromium (the base flags and `args`) and open one page, 1280x900, that collects its
 * errors. Close `browser` when done.
 */
export async function openPage(opts: { args?: string[]; permissions?: string[] } = {}): Promise<BrowserPage> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...BASE_ARGS, ...(opts.args ?? [])] });
  try {
    const ctx = await browser.newContext({ permissions: opts.permissions, viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    return { browser, page, errors };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

/** Go to the demo at `url` and wait until it is ready (models loaded); fails with the page's status otherwise. */
export async function loadDemoPage(page: Page, url: string, timeoutMs = 120_000): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('#status[data-state="ready"], #status[data-state="done"], #status[data-state="error"]', { timeout: timeoutMs });
  assert.equal(await page.getAttribute('#status', 'data-state'), 'ready', `${url}: page failed to load: ${await page.textContent('#status')}`);
}
