/**
 * The e2e suite: Playwright Test in Debian's Chromium (the flags of
 * packages/sdk/browser-test/support/chromium.ts: software WebGPU through SwiftShader,
 * nothing phoning home), one test at a time (each opens several training tabs, and
 * the machine this runs on has two cores), a real coordinator per test
 * (support/fixtures.ts). Projects: `memory` (every test but the restart one) and
 * `redis` (the Redis store; the restart test).
 *
 *   npx playwright test -c e2e/playwright.config.ts
 */

import { defineConfig } from '@playwright/test';
import type { WorkerFixtures } from './support/fixtures.ts';

const CHROMIUM = process.env['PETFL_CHROMIUM'] ?? '/usr/bin/chromium';

export default defineConfig<object, WorkerFixtures>({
  testDir: './tests',
  outputDir: './results/test-output',
  globalSetup: './global-setup.ts',
  workers: 1,
  fullyParallel: false,
  forbidOnly: Boolean(process.env['CI']),
  retries: 0,
  timeout: 150_000,
  expect: { timeout: 60_000 },
  reporter: [['list'], ['json', { outputFile: './results/report.json' }]],
  use: {
    launchOptions: {
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--enable-unsafe-webgpu',
        '--enable-unsafe-swiftshader',
      ],
    },
    trace: 'off',
  },
  projects: [
    { name: 'memory', testIgnore: /restart\.spec\.ts/, use: { storeKind: 'memory' } },
    { name: 'redis', testMatch: /restart\.spec\.ts/, use: { storeKind: 'redis' } },
  ],
});
