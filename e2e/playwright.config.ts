/**
 * The e2e suite: Playwright Test in Debian's Chromium (the flags of
 * packages/sdk/browser-test/support/chromium.ts: software WebGPU through SwiftShader,
 * nothing phoning home), one test at a time (each opens several training tabs, and
 * the machine this runs on has two cores), a real coordinator per test
 * (support/fixtures.ts) whose phases the phase driver ends once the tabs are done with
 * them (support/phase-driver.ts). Projects: `memory` (every test but the restart one) and
 * `redis` (the Redis store; the restart test).
 *
 * No test races the clock: tests wait on the coordinator and the tabs, so they take as long
 * as the machine needs (`CI_STRESS=1 .ci/run` runs them beside two busy loops). The test
 * timeout is a backstop against a hang, above the waits on rounds (ROUNDS_BACKSTOP_MS).
 *
 *   npx playwright test -c e2e/playwright.config.ts
 */

import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './support/chromium.ts';
import type { WorkerFixtures } from './support/fixtures.ts';

export default defineConfig<object, WorkerFixtures>({
  testDir: './tests',
  outputDir: './results/test-output',
  globalSetup: './global-setup.ts',
  workers: 1,
  fullyParallel: false,
  forbidOnly: Boolean(process.env['CI']),
  retries: 0,
  timeout: 15 * 60_000,
  expect: { timeout: 60_000 },
  reporter: [['list'], ['json', { outputFile: './results/report.json' }]],
  use: {
    launchOptions: {
      executablePath: CHROMIUM_PATH,
      args: [...CHROMIUM_ARGS],
    },
    trace: 'off',
  },
  projects: [
    { name: 'memory', testIgnore: /restart\.spec\.ts/, use: { storeKind: 'memory' } },
    { name: 'redis', testMatch: /restart\.spec\.ts/, use: { storeKind: 'redis' } },
  ],
});
