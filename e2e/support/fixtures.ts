/**
 * The e2e fixtures: `coordinator` (a real one per test, its store from the project's
 * `storeKind` option, its phases from `phases`, a training run from `run`), `tabs` (participant
 * tabs, each in a browser context of its own, closed after the test; their problems and
 * snapshots are attached when a test fails), `nodeParticipants` (the demo's headless Node
 * participants on the test's coordinator, stopped after the test), `driver` (automatic: the phase
 * driver of support/phase-driver.ts, which ends each phase once the tabs and Node participants
 * are done with it, so no test depends on how fast the machine is) and `webOrigin` (the static
 * server of global-setup.ts).
 */

import { test as base, type Page } from '@playwright/test';
import { CHROMIUM_SKIP_REASON } from './chromium.ts';
import {
  ADMIN_TOKEN,
  type CoordinatorConfig,
  DEFAULT_PHASES,
  type E2ECoordinator,
  REDIS_URL,
  type RunConfig,
  redisReachable,
  type StoreKind,
  startCoordinator,
} from './coordinator.ts';
import { type NodeParticipants, startNodeParticipants } from './node-participants.ts';
import { type DrivenParticipant, PhaseDriver } from './phase-driver.ts';
import { participantUrl, Tab, type TabOptions } from './tab.ts';
import { webModelLength } from './web-model.ts';

export interface Tabs {
  /** Opens a participant tab and waits until it has joined. */
  open(options: TabOptions): Promise<Tab>;
  /** Opens `count` tabs (shards 0…count−1 of `count`), a few at a time. */
  openMany(count: number, options?: Partial<TabOptions>): Promise<Tab[]>;
  /** Every tab opened in this test. */
  readonly all: readonly Tab[];
  /** Whether a tab is being opened now. */
  readonly opening: boolean;
}

export interface NodeParticipantsFixture {
  /**
   * Starts `count` headless Node participants on shards first…first+count−1 of `shards`
   * (support/node-participants.ts) and resolves once they have joined; the phase driver waits on
   * them as on the tabs.
   */
  start(shards: { readonly first: number; readonly count: number; readonly shards: number }): Promise<NodeParticipants>;
  /** Every Node participant started in this test, as the driver reads them. */
  readonly all: readonly DrivenParticipant[];
  /** Whether some are being started now. */
  readonly starting: boolean;
}

export interface Fixtures {
  readonly phases: Partial<Omit<CoordinatorConfig, 'modelLength' | 'store' | 'run'>>;
  /** A training run on the test's coordinator (support/coordinator.ts); none by default. */
  readonly run: RunConfig | undefined;
  readonly coordinator: E2ECoordinator;
  readonly tabs: Tabs;
  readonly nodeParticipants: NodeParticipantsFixture;
  readonly webOrigin: string;
  /** Opens the dashboard page on the test's coordinator. */
  readonly openDashboard: () => Promise<Page>;
  /** Ends the coordinator's phases once the tabs are done with them (support/phase-driver.ts). */
  readonly driver: PhaseDriver;
}

export interface WorkerFixtures {
  readonly storeKind: StoreKind;
  readonly modelLength: number;
}

export const test = base.extend<Fixtures & { readonly chromiumPresent: undefined }, WorkerFixtures>({
  // First, before any fixture launches the browser: skip with the reason where Chromium is missing (never in CI).
  chromiumPresent: [
    // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern
    async ({}, use, testInfo) => {
      testInfo.skip(CHROMIUM_SKIP_REASON !== null, CHROMIUM_SKIP_REASON ?? '');
      await use(undefined);
    },
    { auto: true },
  ],
  storeKind: ['memory', { option: true, scope: 'worker' }],
  // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern
  modelLength: [async ({}, use) => use(webModelLength()), { scope: 'worker' }],
  phases: [{}, { option: true }],
  run: [undefined, { option: true }],
  // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern
  webOrigin: async ({}, use) => {
    const origin = process.env['PETFL_E2E_WEB_ORIGIN'];
    if (origin === undefined) throw new Error('PETFL_E2E_WEB_ORIGIN is not set: run through e2e/playwright.config.ts');
    await use(origin);
  },
  coordinator: async ({ storeKind, modelLength, phases, run }, use, testInfo) => {
    // Redis is required in CI (and with REDIS_REQUIRED=1); elsewhere its tests skip with the reason.
    const redisOptional = !process.env['CI'] && process.env['REDIS_REQUIRED'] !== '1';
    if (storeKind === 'redis' && redisOptional && !(await redisReachable())) {
      const reason = `Redis not reachable at ${REDIS_URL} (start redis-server, or set REDIS_URL)`;
      console.warn(`e2e: ${testInfo.title} skipped: ${reason}`);
      testInfo.skip(true, reason);
    }
    const coordinator = await startCoordinator({
      ...DEFAULT_PHASES,
      ...phases,
      modelLength,
      store: storeKind,
      ...(run === undefined ? {} : { run }),
    });
    // Time stands still from the start: the phase driver (the `driver` fixture) runs it.
    coordinator.clock.drive();
    try {
      await use(coordinator);
    } finally {
      await coordinator.close();
    }
  },
  tabs: async ({ browser, coordinator, webOrigin }, use, testInfo) => {
    const all: Tab[] = [];
    let opening = 0;
    const whileOpening = async <T>(run: () => Promise<T>): Promise<T> => {
      opening++;
      try {
        return await run();
      } finally {
        opening--;
      }
    };
    const open = (options: TabOptions) =>
      whileOpening(async () => {
        const url = participantUrl(webOrigin, coordinator.url, options);
        const tab = await Tab.open(browser, url, `tab-${options.shard}`);
        all.push(tab);
        return tab;
      });
    const tabs: Tabs = {
      all,
      open,
      get opening() {
        return opening > 0;
      },
      openMany: (count, options = {}) =>
        whileOpening(async () => {
          const opened: Tab[] = [];
          // Two at a time: each page loads TensorFlow.js and MNIST; more at once only queue on 2 cores.
          for (let i = 0; i < count; i += 2) {
            const shards = [i, i + 1].filter((s) => s < count);
            opened.push(...(await Promise.all(shards.map((shard) => open({ shards: count, ...options, shard })))));
          }
          return opened;
        }),
    };
    try {
      await use(tabs);
    } finally {
      if (testInfo.status !== testInfo.expectedStatus) {
        const report: string[] = [];
        for (const tab of all) {
          const snapshot = tab.closed ? 'closed' : await tab.snapshot().catch((e: unknown) => String(e));
          report.push(`${tab.name}: ${JSON.stringify(snapshot)}\n  ${tab.problems.join('\n  ')}`);
        }
        report.push(`coordinator: ${JSON.stringify(coordinator.status())}`);
        report.push(`history: ${JSON.stringify(await coordinator.history())}`);
        await testInfo.attach('tabs', { body: report.join('\n'), contentType: 'text/plain' });
      }
      await Promise.all(all.map((tab) => tab.close().catch(() => {})));
    }
  },
  nodeParticipants: async ({ coordinator }, use, testInfo) => {
    const started: NodeParticipants[] = [];
    const all: DrivenParticipant[] = [];
    let starting = 0;
    const fixture: NodeParticipantsFixture = {
      all,
      get starting() {
        return starting > 0;
      },
      async start(shards) {
        starting++;
        try {
          const nodes = await startNodeParticipants(coordinator.url, shards);
          started.push(nodes);
          let closed = false;
          const stop = nodes.stop;
          for (let k = 0; k < shards.count; k++) {
            all.push({
              get closed() {
                return closed;
              },
              snapshot: async () => nodes.snapshots.get(k) ?? null,
            });
          }
          return {
            ...nodes,
            stop: async () => {
              closed = true;
              await stop();
            },
          };
        } finally {
          starting--;
        }
      },
    };
    try {
      await use(fixture);
    } finally {
      if (testInfo.status !== testInfo.expectedStatus && started.length > 0) {
        const body = started.map((n) => [...n.snapshots].map(([k, s]) => `node-${k}: ${JSON.stringify(s)}`).join('\n'));
        const output = started.map((n) => n.output.join('\n'));
        await testInfo.attach('node participants', {
          body: [...body, ...output].join('\n'),
          contentType: 'text/plain',
        });
      }
      await Promise.all(started.map((n) => n.stop().catch(() => {})));
    }
  },
  driver: [
    async ({ coordinator, tabs, nodeParticipants }, use, testInfo) => {
      const driver = new PhaseDriver(coordinator, {
        tabs: () => [...tabs.all, ...nodeParticipants.all],
        opening: () => tabs.opening || nodeParticipants.starting,
      });
      try {
        await use(driver);
      } finally {
        await driver.stop();
        for (const forced of driver.forced) {
          testInfo.annotations.push({ type: 'phase ended by the driver backstop', description: forced });
        }
        if (testInfo.status !== testInfo.expectedStatus) {
          await testInfo.attach('phases', { body: driver.ended.join('\n'), contentType: 'text/plain' });
        }
      }
      if (driver.errors.length > 0) throw new Error(`phase driver: ${driver.errors.join('; ')}`);
    },
    { auto: true },
  ],
  openDashboard: async ({ browser, coordinator, webOrigin }, use) => {
    const contexts: { close(): Promise<void> }[] = [];
    await use(async () => {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      // The admin token is typed into the page, never put in its URL.
      await page.goto(`${webOrigin}/dashboard.html?${new URLSearchParams({ coordinator: coordinator.url })}`);
      await page.getByTestId('token-input').fill(ADMIN_TOKEN);
      await page.getByTestId('token-submit').click();
      return page;
    });
    await Promise.all(contexts.map((c) => c.close().catch(() => {})));
  },
});

export { expect } from '@playwright/test';
