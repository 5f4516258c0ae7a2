// whet studio in tests: the CLI spawned as a child process (so SIGKILL is real), headless Chromium, and screenshots
// checked against a blank page of the same size.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumSkip: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install -y chromium): studio browser test skipped`;

export interface Studio {
  proc: ChildProcess;
  url: string;
  stderr: () => string;
}

/** Starts `whet studio ARGS --port 0` and resolves with its URL once it listens. */
export function startStudio(args: string[]): Promise<Studio> {
  const proc = spawn(process.execPath, ['bin/whet.js', 'studio', ...args, '--port', '0'], { env: { ...process.env, WHET_NO_PROGRESS: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /whet studio: (http:\/\/\S+?)\/? /.exec(err);
      if (m !== null) resolve({ proc, url: m[1]!, stderr: () => err });
    });
    proc.on('exit', (code) => reject(new Error(`whet studio exited (${code}) before listening: ${err}`)));
  });
}

/** Kills the studio with `signal` and waits for it to be gone. */
export async function stopStudio(s: Studio, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const gone = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill(signal);
  await gone;
}

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Page errors, console errors and any request that leaves the studio's origin (nothing may come from a CDN). */
export function watchProblems(page: Page, origin: string): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) problems.push(`request outside the studio: ${r.url()}`);
  });
  return problems;
}

export const SIZES = [{ name: 'desktop', width: 1280, height: 800 }, { name: 'phone', width: 390, height: 844 }] as const;

/**
 * Screenshots the page at 1280×800 and 390×844 into dir and checks each is not blank: its PNG is several times the
 * size of a screenshot of an empty page of the same size (flat colour compresses to almost nothing).
 */
export async function screenshots(page: Page, dir: string, name: string): Promise<string[]> {
  const paths: string[] = [];
  for (const size of SIZES) {
    await page.setViewportSize({ width: size.width, height: size.height });
    await page.waitForTimeout(300); // charts follow their box's new width
    const path = join(dir, `${name}-${size.width}x${size.height}.png`);
    await page.screenshot({ path });
    const blank = await page.context().browser()!.newPage();
    await blank.setViewportSize({ width: size.width, height: size.height });
    await blank.setContent('<html><body style="background:#fff"></body></html>');
    const empty = (await blank.screenshot()).length;
    await blank.close();
    const bytes = readFileSync(path).length;
    assert.ok(bytes > 4 * empty, `${path} is not blank: ${bytes} bytes against ${empty} for an empty page`);
    paths.push(path);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  return paths;
}
