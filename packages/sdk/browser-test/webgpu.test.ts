/**
 * §4d: `selectBackend` of `@petfl/tfjs`, bundled for the page, picks WebGPU
 * in Chromium started with --enable-unsafe-webgpu (headless Chromium gets a
 * software SwiftShader adapter on a localhost page), and a tiny dense model
 * trains on it: the loss falls.
 */

import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithChromium } from './support/chromium.ts';
import { type BrowserHarness, startBrowserHarness } from './support/harness.ts';
import { openPage, type TestPage } from './support/page.ts';

const TFJS_ENTRY = new URL('../../tfjs/src/index.ts', import.meta.url);

describeWithChromium('browser: TensorFlow.js on WebGPU', () => {
  let harness: BrowserHarness;
  let page: TestPage;

  beforeAll(async () => {
    harness = await startBrowserHarness();
    page = await openPage(harness.browser, harness.server, 'tfjs');
  });

  afterAll(async () => {
    await page?.close();
    await harness?.close();
  });

  it('selectBackend offered only webgpu takes the (software) adapter, and a dense model trains on it', async () => {
    expect(existsSync(TFJS_ENTRY)).toBe(true);
    const result = await page.page.evaluate((steps) => window.petflTfjs.train(steps), 8);
    console.warn(
      `[browser-test] selectBackend: ${result.backend} (adapter: ${result.adapter}; skipped: ${result.skipped.join('; ') || 'none'}); losses ${result.losses.map((l) => l.toFixed(4)).join(' → ')}`,
    );
    expect(result.adapter).toBe(true);
    expect(result.backend).toBe('webgpu');
    expect(result.trainedOn).toBe('webgpu');
    expect(result.losses).toHaveLength(8);
    expect(result.losses.every(Number.isFinite)).toBe(true);
    expect(result.losses.at(-1)).toBeLessThan((result.losses[0] ?? 0) * 0.9);
    expect(page.problems).toEqual([]);
  });
});
