/**
 * §4c: Worker mode keeps masking off the page's main thread. A 1,000,000-
 * weight model (coordinator model length 1,000,000; the update goes out in
 * 1 MiB chunks) is masked, sealed and sent by an update participant in
 * Worker mode while a PerformanceObserver watches the page's long tasks
 * (> 50 ms on the main thread): none may happen from `setLocalModel` until
 * the update is sent. For comparison the same update in direct mode, on the
 * main thread: its longest task is measured and reported, not asserted.
 *
 * A long task's duration is wall time: on a 2-core machine where the page's
 * Worker, the coordinator and two Node participants all want a core, the
 * main thread can be descheduled in the middle of a 10 ms task and be seen
 * at 50+ ms (one CI run: 82 ms). So Worker mode gets up to three updates and
 * one must stay within the budget; the masking back on the main thread
 * (160–600 ms tasks in direct mode) fails all three. Each measurement is
 * printed with the long animation frames that overlap it (script
 * attribution), so a failure says what ran.
 */

import { expect, it } from 'vitest';
import { describeWithChromium } from './support/chromium.ts';
import { useFederatedPage } from './support/federated-page.ts';
import { heldUpdateRound } from './support/held-round.ts';
import { faults, type LongFrame, type LongTask, type StartConfig } from './support/page-api.ts';
import { waitUntil } from './support/wait.ts';

const LENGTH = 1_000_000;
const LONG_TASK_BUDGET_MS = 50;
const WORKER_ATTEMPTS = 3;

interface Measured {
  readonly roundId: number;
  readonly windowMs: number;
  readonly longTasks: LongTask[];
  readonly longFrames: LongFrame[];
  readonly longest: number;
  /** How long `setLocalModel` itself took on the main thread. */
  readonly setMs: number;
  /** Request bytes the page sent for this update (its chunks). */
  readonly bytesSent: number;
}

describeWithChromium('browser: long tasks while a 1,000,000-weight update is masked and sent', () => {
  const env = useFederatedPage(
    {
      modelLength: LENGTH,
      sumProbability: 0.3,
      update: { min: 3, max: 3, minMs: 0, maxMs: 25_000 },
      sumMaxMs: 5000,
      sum2MaxMs: 15_000,
    },
    { count: 8, mode: 'held' },
  );

  async function diagnosis(roundId: number): Promise<string> {
    const status = env.coordinator.running.coordinator.status();
    const history = await env.coordinator.running.coordinator.history(5);
    const page = await env.page.page.evaluate(() => ({ s: window.petflTest.snapshot(), e: window.petflTest.errors() }));
    const nodes = env.federation.participants.map((p) => p.getSnapshot());
    return JSON.stringify({ roundId, status: { ...status, settings: undefined }, history, page, nodes }, null, 1);
  }

  /** Starts a participant on the page, waits for a held round it updates in, and measures that update. */
  async function measure(mode: StartConfig['mode'], attempt = 0): Promise<Measured> {
    const config: StartConfig = {
      coordinatorUrl: env.coordinator.url,
      mode,
      kind: 'async',
      modelLength: LENGTH,
      store: 'default',
      storeKey: `petfl/long-tasks-${mode}-${attempt}`,
      ...(mode === 'worker' ? { workerUrl: '/build/worker-entry.js' } : {}),
    };
    await env.page.page.evaluate((c) => window.petflTest.start(c), config);
    const held = await heldUpdateRound({
      coordinator: env.coordinator,
      federation: env.federation,
      pageSnapshot: () => env.page.page.evaluate(() => window.petflTest.snapshot()),
      othersNeeded: 2,
      updatesNeeded: 3,
    });
    const { start, setMs } = await env.page.page.evaluate((length) => {
      const t0 = window.petflTest.now();
      return { start: t0, setMs: window.petflTest.setLocalModel(length, 0.5) };
    }, LENGTH);
    env.federation.release(held.roundId, 2);
    const sent = await waitUntil('the page’s update to be sent', async () => {
      const s = await env.page.page.evaluate(() => window.petflTest.snapshot());
      return s !== null && s.roundId === held.roundId && s.phase === 'awaiting' ? s : undefined;
    });
    const end = await env.page.page.evaluate(() => window.petflTest.now());
    // Stopped before the round is over, so it cannot become a sum participant of the next one and leave it hanging.
    await env.page.page.evaluate(() => window.petflTest.stop());
    const global = await waitUntil(
      'the round’s global model',
      async () => {
        const model = await env.coordinator.latestModel();
        return model?.roundId === held.roundId ? model : undefined;
      },
      90_000,
      () => diagnosis(held.roundId),
    );
    expect(global.weights[0]).toBeCloseTo(0.5 / 3, 5); // the page's 0.5s and two Node participants' zeros
    const inWindow = (t: LongTask) => t.startTime + t.duration >= start && t.startTime <= end;
    const longTasks = (await env.page.page.evaluate(() => window.petflTest.longTasks())).filter(inWindow);
    const longFrames = (await env.page.page.evaluate(() => window.petflTest.longFrames())).filter(inWindow);
    return {
      roundId: held.roundId,
      windowMs: end - start,
      longTasks,
      longFrames,
      setMs,
      longest: Math.max(0, ...longTasks.map((t) => t.duration)),
      bytesSent: sent.bytesSent - held.snapshot.bytesSent,
    };
  }

  it('Worker mode: no main-thread task over 50 ms; direct mode measured for comparison', async () => {
    const show = (m: Measured) => {
      const frames = m.longFrames.map((f) => `${Math.round(f.duration)} ms [${f.scripts.join('; ') || 'no script'}]`);
      return `setLocalModel ${m.setMs.toFixed(1)} ms, longest long task ${m.longest.toFixed(0)} ms (${m.longTasks.length} over 50 ms) in a ${m.windowMs.toFixed(0)} ms window, ${(m.bytesSent / 2 ** 20).toFixed(1)} MiB sent (round ${m.roundId})${frames.length > 0 ? `; long frames: ${frames.join(', ')}` : ''}`;
    };
    const workers: Measured[] = [];
    for (let attempt = 0; attempt < WORKER_ATTEMPTS; attempt++) {
      const worker = await measure('worker', attempt);
      workers.push(worker);
      console.warn(`[browser-test] 1,000,000-weight update, Worker mode (${attempt + 1}): ${show(worker)}`);
      expect(worker.bytesSent).toBeGreaterThan(4 * LENGTH); // the masked model went out (in chunks)
      if (worker.longest <= LONG_TASK_BUDGET_MS) break;
    }
    const direct = await measure('direct');
    console.warn(`[browser-test] 1,000,000-weight update, direct mode: ${show(direct)}`);

    expect(Math.min(...workers.map((w) => w.longest))).toBeLessThanOrEqual(LONG_TASK_BUDGET_MS);
    expect(faults(await env.page.page.evaluate(() => window.petflTest.errors()))).toEqual([]);
    expect(env.page.problems).toEqual([]);
  });
});
