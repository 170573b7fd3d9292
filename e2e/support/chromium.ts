/**
 * Debian's Chromium for the e2e suite, the simulate script, the e2e benchmark and scripts/screenshots.ts
 * (`PETFL_CHROMIUM` names another), with the switches that give headless Chromium a
 * software (SwiftShader) WebGPU adapter on a localhost page and keep it from phoning home.
 */

import { existsSync } from 'node:fs';

export const CHROMIUM_PATH = process.env['PETFL_CHROMIUM'] ?? '/usr/bin/chromium';

/**
 * Why the suite cannot run here, or null: without Chromium a test is skipped with this
 * reason — except in CI (`CI` set), where it must fail (the browser launch fails it).
 */
export const CHROMIUM_SKIP_REASON =
  existsSync(CHROMIUM_PATH) || process.env['CI']
    ? null
    : `Chromium not found at ${CHROMIUM_PATH} (apt-get install chromium, or set PETFL_CHROMIUM)`;

export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
];
