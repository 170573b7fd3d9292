/**
 * One browser-test file's setup: the bundles (rebuilt only when a source is
 * newer than the last build, so the files of one run share it), the static
 * server for the pages, and Chromium.
 */

import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { BROWSER_BUILD_DIR, type BrowserBuild, buildBrowserBundles, describeBuild } from '../build.ts';
import { launchChromium } from './chromium.ts';
import { type StaticServer, startStaticServer } from './static-server.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../../..');
const SOURCES = ['packages/core/src', 'packages/sdk/src', 'packages/tfjs/src', 'packages/sdk/browser-test'].map((d) =>
  join(repoRoot, d),
);
const STAMP = join(BROWSER_BUILD_DIR, 'build-stamp.json');

export interface BrowserHarness {
  readonly browser: Browser;
  readonly server: StaticServer;
  readonly built: BrowserBuild;
  close(): Promise<void>;
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** The pages build, reused while no source changed since it was made. */
export async function browserBuild(): Promise<BrowserBuild> {
  const newest = Math.max(...SOURCES.filter(existsSync).map(newestSource));
  if (existsSync(STAMP) && statSync(STAMP).mtimeMs > newest) {
    return describeBuild();
  }
  const built = await buildBrowserBundles();
  writeFileSync(STAMP, JSON.stringify({ builtAt: new Date().toISOString() }));
  return built;
}

export async function startBrowserHarness(): Promise<BrowserHarness> {
  const built = await browserBuild();
  const server = await startStaticServer(built);
  let browser: Browser;
  try {
    browser = await launchChromium();
  } catch (error) {
    await server.close();
    throw error;
  }
  return {
    browser,
    server,
    built,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
