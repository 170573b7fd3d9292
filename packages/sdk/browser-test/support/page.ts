/**
 * Opening a test page (support/static-server.ts) in a fresh browser context
 * and waiting until its script is ready; the page's console errors and
 * uncaught exceptions are collected for the test to show or assert on.
 */

import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { StaticServer } from './static-server.ts';

export interface TestPage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors (but the coordinator's 4xx refusals) and uncaught exceptions of the page. */
  readonly problems: string[];
  /** Reloads and waits until the page script is ready again. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export async function openPage(browser: Browser, server: StaticServer, name: string): Promise<TestPage> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    // A 4xx from the coordinator is the protocol refusing a late or ineligible message, not a fault.
    const refusal = /^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text());
    if (message.type() === 'error' && !refusal) problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  const ready = () => page.waitForFunction(() => window.petflReady === true);
  await page.goto(server.pageUrl(name));
  await ready();
  return {
    context,
    page,
    problems,
    async reload() {
      await page.reload();
      await ready();
    },
    close: () => context.close(),
  };
}
