/**
 * §4c: Worker mode keeps masking off the page's main thread. A 1,000,000-
 * weight model (coordinator model length 1,000,000; the update goes out in
 * 1 MiB chunks) is masked, sealed and sent by an update participant in
 * Worker mode while a PerformanceObserver watches the page's long tasks
 * (> 50 ms on the main thread): none may happen from `setLocalModel` until
 * the update is sent. For comparison the same update in direct mode, on the
 * main thread: its longest task is measured and reported, not asserted.
 */

import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithChromium } from './support/chromium.ts';
import { startCoordinator, type TestCoordinator } from './support/coordinator.ts';
import { type Federation, startFederation } from './support/federation.ts';
import { type BrowserHarness, startBrowserHarness } from './support/harness.ts';
import { heldUpdateRound } from './support/held-round.ts';
import { openPage, type TestPage } from './support/page.ts';
import { faults, type LongTask, type StartConfig } from './support/page-api.ts';
import { waitUntil } from './support/wait.ts';

const LENGTH = 1_000_000;
const LONG_TASK_BUDGET_MS = 50;

interface Measured {
  readonly roundId: number;
  readonly windowMs: number;
  readonly longTasks: LongTask[];
  readonly longest: number;
  /** Request bytes the page sent for this update (its chunks). */
  readonly bytesSent: number;
}

describeWithChromium('browser: long tasks while a 1,000,000-weight update is masked and sent', () => {
  let harness: BrowserHarness;
  let coordinator: TestCoordinator;
  let federation: Federation;
  let page: TestPage;

  beforeAll(async () => {
    harness = await startBrowserHarness();
    coordinator = await startCoordinator({
      modelLength: LENGTH,
      sumProbability: 0.3,
      update: { min: 3, max: 3, minMs: 0, maxMs: 25_000 },
      sumMaxMs: 5000,
      sum2MaxMs: 15_000,
    });
    federation = await startFederation(coordinator.url, { count: 8, modelLength: LENGTH, mode: 'held' });
    page = await openPage(harness.browser, harness.server, 'participant');
  });

  afterAll(async () => {
    await page?.close();
    await federation?.stop();
    await coordinator?.close();
    await harness?.close();
  });

  async function diagnosis(roundId: number): Promise<string> {
    const status = coordinator.running.coordinator.status();
    const history = await coordinator.running.coordinator.history(5);
    const page = await pageOf().page.evaluate(() => ({ s: window.petflTest.snapshot(), e: window.petflTest.errors() }));
    const nodes = federation.participants.map((p) => p.getSnapshot());
    return JSON.stringify({ roundId, status: { ...status, settings: undefined }, history, page, nodes }, null, 1);
  }
  const pageOf = () => page;

  /** Starts a participant on the page, waits for a held round it updates in, and measures that update. */
  async function measure(mode: StartConfig['mode']): Promise<Measured> {
    const config: StartConfig = {
      coordinatorUrl: coordinator.url,
      mode,
      kind: 'async',
      modelLength: LENGTH,
      store: 'default',
      storeKey: `petfl/long-tasks-${mode}`,
      ...(mode === 'worker' ? { workerUrl: '/build/worker-entry.js' } : {}),
    };
    await page.page.evaluate((c) => window.petflTest.start(c), config);
    const held = await heldUpdateRound({
      coordinator,
      federation,
      pageSnapshot: () => page.page.evaluate(() => window.petflTest.snapshot()),
      othersNeeded: 2,
      updatesNeeded: 3,
    });
    const start = await page.page.evaluate((length) => {
      const t0 = window.petflTest.now();
      window.petflTest.setLocalModel(length, 0.5);
      return t0;
    }, LENGTH);
    federation.release(held.roundId, 2);
    const sent = await waitUntil('the page’s update to be sent', async () => {
      const s = await page.page.evaluate(() => window.petflTest.snapshot());
      return s !== null && s.roundId === held.roundId && s.phase === 'awaiting' ? s : undefined;
    });
    const end = await page.page.evaluate(() => window.petflTest.now());
    // Stopped before the round is over, so it cannot become a sum participant of the next one and leave it hanging.
    await page.page.evaluate(() => window.petflTest.stop());
    const global = await waitUntil(
      'the round’s global model',
      async () => {
        const model = await coordinator.latestModel();
        return model?.roundId === held.roundId ? model : undefined;
      },
      90_000,
      () => diagnosis(held.roundId),
    );
    expect(global.weights[0]).toBeCloseTo(0.5 / 3, 5); // the page's 0.5s and two Node participants' zeros
    const all = await page.page.evaluate(() => window.petflTest.longTasks());
    const longTasks = all.filter((t) => t.startTime + t.duration >= start && t.startTime <= end);
    return {
      roundId: held.roundId,
      windowMs: end - start,
      longTasks,
      longest: Math.max(0, ...longTasks.map((t) => t.duration)),
      bytesSent: sent.bytesSent - held.snapshot.bytesSent,
    };
  }

  it('Worker mode: no main-thread task over 50 ms; direct mode measured for comparison', async () => {
    const worker = await measure('worker');
    const direct = await measure('direct');
    const show = (m: Measured) =>
      `longest long task ${m.longest.toFixed(0)} ms (${m.longTasks.length} over 50 ms) in a ${m.windowMs.toFixed(0)} ms window, ${(m.bytesSent / 2 ** 20).toFixed(1)} MiB sent (round ${m.roundId})`;
    console.warn(`[browser-test] 1,000,000-weight update, Worker mode: ${show(worker)}`);
    console.warn(`[browser-test] 1,000,000-weight update, direct mode: ${show(direct)}`);

    expect(worker.bytesSent).toBeGreaterThan(4 * LENGTH); // the masked model went out (in chunks)
    expect(worker.longest).toBeLessThanOrEqual(LONG_TASK_BUDGET_MS);
    expect(faults(await page.page.evaluate(() => window.petflTest.errors()))).toEqual([]);
    expect(page.problems).toEqual([]);
  });
});
