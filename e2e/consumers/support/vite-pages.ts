/**
 * Browser side of the Vite fixture's test: the fixture's participant page
 * (e2e/consumers/vite/src/main.ts: `#status`, `window.petflFixture`) and the demo's participant
 * page (apps/web, an e2e build) for the join-time comparison, each in a browser context of its own.
 */

import type { Browser, BrowserContext, Page } from 'playwright-core';

/** What the fixture's page exposes as `window.petflFixture` (vite/src/main.ts). */
export interface FixtureState {
  readonly spawnMs: number | null;
  readonly joinedMs: number | null;
  readonly backend: string | null;
  readonly weightCount: number | null;
  readonly participantPk: string | null;
  readonly roundId: number | null;
  readonly phase: string | null;
  readonly lastError: string | null;
  readonly received: readonly { readonly seenInRound: number | null; readonly weights: readonly number[] }[];
}

/** The page's globals this file reads (cast, not declared: e2e/support/tab.ts declares `__petfl`). */
interface PageGlobals {
  readonly petflFixture?: FixtureState;
  readonly __petfl?: { readonly timings: { readonly joinedMs: number | null } };
}

/** A page in a browser context of its own (its own IndexedDB: its own participant identity). */
export class OpenPage {
  /** Uncaught exceptions and console errors, but the coordinator's 4xx refusals. */
  readonly problems: string[] = [];
  readonly context: BrowserContext;
  readonly page: Page;

  private constructor(context: BrowserContext, page: Page) {
    this.context = context;
    this.page = page;
    page.on('pageerror', (error) => this.problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/status of 4\d\d/.test(message.text())) {
        this.problems.push(`console: ${message.text()}`);
      }
    });
  }

  static async open(browser: Browser): Promise<OpenPage> {
    const context = await browser.newContext();
    return new OpenPage(context, await context.newPage());
  }

  async status(): Promise<string> {
    return ((await this.page.locator('#status').textContent()) ?? '').trim();
  }

  state(): Promise<FixtureState | null> {
    return this.page.evaluate(() => (window as unknown as PageGlobals).petflFixture ?? null);
  }

  /** Waits until `#status` leaves 'starting'; fails with the page's own words on 'error: …'. */
  async waitJoined(timeout = 120_000): Promise<FixtureState> {
    await this.page.waitForFunction(() => document.querySelector('#status')?.textContent !== 'starting', null, {
      timeout,
      polling: 50,
    });
    const status = await this.status();
    if (status.startsWith('error')) throw new Error(`the fixture page failed: ${status} (${this.problems.join('; ')})`);
    const state = await this.state();
    if (state === null || state.joinedMs === null) throw new Error(`the fixture page says ${status} but never joined`);
    return state;
  }

  /**
   * Waits until the page has received a global model with a weight that is not 0: one with a
   * page's update in it (the Node participants beside the pages send zeros).
   */
  async waitPagesModel(timeout: number): Promise<FixtureState> {
    await this.page.waitForFunction(
      () =>
        (window as unknown as PageGlobals).petflFixture?.received.some((m) => m.weights.some((w) => w !== 0)) ?? false,
      null,
      { timeout, polling: 250 },
    );
    const state = await this.state();
    if (state === null) throw new Error('the fixture page lost window.petflFixture');
    return state;
  }

  close(): Promise<void> {
    return this.context.close();
  }
}

export interface JoinSample {
  /** `performance.now()` in the page when the participant had joined: ms since navigation start. */
  readonly pageMs: number;
  /** From `page.goto` until the test saw the page joined (includes the test's polling). */
  readonly wallMs: number;
  /** From the call of `spawnAsyncParticipant` to its result (the fixture's page only). */
  readonly spawnToJoinedMs?: number;
}

/** Opens the fixture's page on `url`, waits for 'joined', closes it. */
export async function timeFixtureJoin(browser: Browser, url: string): Promise<JoinSample> {
  const tab = await OpenPage.open(browser);
  try {
    const started = Date.now();
    await tab.page.goto(url);
    const state = await tab.waitJoined();
    const wallMs = Date.now() - started;
    const pageMs = state.joinedMs ?? Number.NaN;
    return { pageMs, wallMs, spawnToJoinedMs: pageMs - (state.spawnMs ?? Number.NaN) };
  } finally {
    await tab.close();
  }
}

/** Opens the demo's participant page (an e2e build: `window.__petfl`) on `url`, waits for `ready`, closes it. */
export async function timeDemoJoin(browser: Browser, url: string): Promise<JoinSample> {
  const tab = await OpenPage.open(browser);
  try {
    const started = Date.now();
    await tab.page.goto(url);
    await tab.page.locator('[data-testid="ready"]').waitFor({ state: 'attached', timeout: 120_000 });
    const wallMs = Date.now() - started;
    const pageMs = await tab.page.evaluate(() => (window as unknown as PageGlobals).__petfl?.timings.joinedMs ?? null);
    if (pageMs === null) throw new Error('the demo page has no window.__petfl timings: not an e2e build?');
    return { pageMs, wallMs };
  } finally {
    await tab.close();
  }
}

/** The demo's participant page URL, as e2e/support/tab.ts builds it (Worker mode, wasm first). */
export function demoParticipantUrl(origin: string, coordinatorUrl: string, storeKey: string): string {
  const params = new URLSearchParams({
    coordinator: coordinatorUrl,
    shard: '0',
    shards: '8',
    split: 'iid',
    mode: 'worker',
    backends: 'wasm,cpu',
    storeKey,
    epochs: '1',
  });
  return `${origin}/participant.html?${params}`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
