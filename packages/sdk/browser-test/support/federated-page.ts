/**
 * The setup the federation browser tests share: Chromium over the built pages, a
 * coordinator, Node participants (federation.ts) and one participant page — started
 * before the suite's tests and closed after them. Call it inside the suite; read the
 * fields in the tests (they are set once `beforeAll` has run).
 */

import { afterAll, beforeAll } from 'vitest';
import { type CoordinatorOptions, startCoordinator, type TestCoordinator } from './coordinator.ts';
import { type Federation, startFederation } from './federation.ts';
import { type BrowserHarness, startBrowserHarness } from './harness.ts';
import { openPage, type TestPage } from './page.ts';

export interface FederatedPage {
  readonly coordinator: TestCoordinator;
  readonly federation: Federation;
  readonly page: TestPage;
}

export function useFederatedPage(
  coordinatorOptions: CoordinatorOptions,
  federationOptions: { readonly count: number; readonly mode: 'auto' | 'held' },
): FederatedPage {
  let harness: BrowserHarness | undefined;
  const env: Partial<{ -readonly [K in keyof FederatedPage]: FederatedPage[K] }> = {};
  beforeAll(async () => {
    harness = await startBrowserHarness();
    env.coordinator = await startCoordinator(coordinatorOptions);
    env.federation = await startFederation(env.coordinator.url, {
      ...federationOptions,
      modelLength: coordinatorOptions.modelLength,
    });
    env.page = await openPage(harness.browser, harness.server, 'participant');
  });
  afterAll(async () => {
    await env.page?.close();
    await env.federation?.stop();
    await env.coordinator?.close();
    await harness?.close();
  });
  return env as FederatedPage;
}
