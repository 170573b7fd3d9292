/**
 * The IndexedDB store wraps the state at rest (`@petfl/sdk/idb`, the default
 * store in a browser): after a Worker-mode participant saved its state, the
 * raw IndexedDB values, read by the page itself, hold neither its identity
 * secret key nor its public key in the clear (the state is ciphertext), and
 * the wrapping key stored beside it is a non-extractable AES-GCM CryptoKey.
 */

import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithChromium } from './support/chromium.ts';
import { startCoordinator, type TestCoordinator } from './support/coordinator.ts';
import { type BrowserHarness, startBrowserHarness } from './support/harness.ts';
import { openPage, type TestPage } from './support/page.ts';
import type { StartConfig } from './support/page-api.ts';
import { waitUntil } from './support/wait.ts';

const STORE_KEY = 'petfl/at-rest-test';

/** Whether `needle` occurs in `haystack` as a contiguous run. */
function contains(haystack: readonly number[], needle: readonly number[]): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

describeWithChromium('browser: the IndexedDB store at rest', () => {
  let harness: BrowserHarness;
  let coordinator: TestCoordinator;
  let page: TestPage;

  beforeAll(async () => {
    harness = await startBrowserHarness();
    coordinator = await startCoordinator({
      modelLength: 16,
      sumProbability: 0.5,
      update: { min: 3, max: 3, minMs: 0, maxMs: 60_000 },
    });
    page = await openPage(harness.browser, harness.server, 'participant');
  });

  afterAll(async () => {
    await page?.close();
    await coordinator?.close();
    await harness?.close();
  });

  it('holds ciphertext only, under a non-extractable AES-GCM key', async () => {
    const config: StartConfig = {
      coordinatorUrl: coordinator.url,
      mode: 'worker',
      kind: 'async',
      modelLength: 16,
      store: 'default',
      storeKey: STORE_KEY,
    };
    await page.page.evaluate((c) => window.petflTest.start(c), config);
    // A completed step (the task of the first round is chosen) is saved.
    await waitUntil('a saved step', async () => {
      const s = await page.page.evaluate(() => window.petflTest.snapshot());
      return s !== null && s.roundId !== null && s.phase !== 'new-round';
    });
    const { publicKey, secretKey } = await page.page.evaluate(() => window.petflTest.stop());
    expect(secretKey).toHaveLength(64);

    const values = await page.page.evaluate(() => window.petflTest.readIdb('petfl'));
    const state = values.find((v) => v.key === STORE_KEY);
    expect(state).toBeDefined();
    const stored = values.flatMap((v) => v.bytes);
    expect(stored.reduce((n, b) => n + b.length, 0)).toBeGreaterThan(100); // the encrypted state is there
    for (const bytes of stored) {
      expect(contains(bytes, secretKey.slice(0, 32))).toBe(false); // the Ed25519 seed half
      expect(contains(bytes, secretKey.slice(32))).toBe(false);
      expect(contains(bytes, publicKey)).toBe(false); // not even the public key: not the plaintext
    }

    const keys = values.flatMap((v) => v.cryptoKeys);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toEqual({
      extractable: false,
      algorithm: 'AES-GCM',
      usages: expect.arrayContaining(['encrypt', 'decrypt']),
      exportRejected: true,
    });
    expect(page.problems).toEqual([]);
  });
});
