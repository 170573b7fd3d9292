/**
 * Real Chromium for the browser tests: Debian's package (or the executable
 * `PETFL_CHROMIUM` names), driven by playwright-core.
 *
 * `describeWithChromium` runs a suite when Chromium is there. When it is not:
 * in CI (`CI` set) the suite FAILS (a CI machine must have it); elsewhere it
 * is skipped with the reason printed.
 */

import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { describe, it } from 'vitest';

export const CHROMIUM_PATH = process.env['PETFL_CHROMIUM'] ?? '/usr/bin/chromium';

/**
 * Headless Chromium gets a (software, SwiftShader) WebGPU adapter on a localhost page with the
 * two "unsafe" switches; the others keep it from phoning home during the tests.
 */
const ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS });
}

export function describeWithChromium(name: string, suite: () => void): void {
  if (existsSync(CHROMIUM_PATH)) {
    describe(name, suite);
    return;
  }
  const reason = `Chromium not found at ${CHROMIUM_PATH} (set PETFL_CHROMIUM to its path)`;
  if (process.env['CI']) {
    describe(name, () => {
      it('has Chromium to run on', () => {
        throw new Error(`${reason}: the browser tests cannot run`);
      });
    });
    return;
  }
  console.warn(`[browser-test] skipping "${name}": ${reason}`);
  describe.skip(name, suite);
}
