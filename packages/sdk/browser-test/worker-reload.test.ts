/**
 * §4b: reloading the page in the middle of the update phase. The page's
 * participant runs in Worker mode with the IndexedDB store (in the Worker)
 * under a fixed storeKey; it is an update participant of a round the test
 * holds open (no update comes in until the test releases one). The page
 * reloads; the new page spawns the participant again, which resumes from
 * IndexedDB with the same identity, in the same round and phase; then it
 * gets its local model and the round completes with its update in it.
 */

import { expect, it } from 'vitest';
import { describeWithChromium } from './support/chromium.ts';
import { useFederatedPage } from './support/federated-page.ts';
import { heldUpdateRound } from './support/held-round.ts';
import { faults, type StartConfig } from './support/page-api.ts';
import { waitUntil } from './support/wait.ts';

const LENGTH = 16;

describeWithChromium('browser: Worker mode survives a reload', () => {
  const env = useFederatedPage(
    {
      modelLength: LENGTH,
      sumProbability: 0.3,
      // Exactly three updates end the phase; until then it stays open (20 s at most).
      update: { min: 3, max: 3, minMs: 0, maxMs: 20_000 },
    },
    { count: 8, mode: 'held' },
  );

  it('resumes from IndexedDB with the same participant key and the round completes', async () => {
    const config: StartConfig = {
      coordinatorUrl: env.coordinator.url,
      mode: 'worker',
      kind: 'async',
      modelLength: LENGTH,
      store: 'default',
      storeKey: 'petfl/reload-test',
    };
    await env.page.page.evaluate((c) => window.petflTest.start(c), config);

    const held = await heldUpdateRound({
      coordinator: env.coordinator,
      federation: env.federation,
      pageSnapshot: () => env.page.page.evaluate(() => window.petflTest.snapshot()),
      othersNeeded: 2,
      updatesNeeded: 3,
    });
    expect(held.snapshot).toMatchObject({ phase: 'update', task: 'update', roundId: held.roundId });

    await env.page.reload();
    const resumed = await env.page.page.evaluate((c) => window.petflTest.start(c), config);
    expect(resumed.participantPk).toBe(held.snapshot.participantPk);
    expect(resumed).toMatchObject({ roundId: held.roundId, phase: 'update', task: 'update' });
    expect(env.coordinator.phase()).toMatchObject({ roundId: held.roundId, phase: 'update' });

    await env.page.page.evaluate((length) => window.petflTest.setLocalModel(length, 1), LENGTH);
    expect(env.federation.release(held.roundId, 2)).toBe(2);

    const global = await waitUntil('the held round’s global model', async () => {
      const model = await env.coordinator.latestModel();
      return model !== undefined && model.roundId === held.roundId ? model : undefined;
    });
    // Three updates: the page's ones and two Node participants' zeros.
    expect(global.weights[0]).toBeCloseTo(1 / 3, 5);
    const after = await env.page.page.evaluate(() => window.petflTest.snapshot());
    expect(after?.participantPk).toBe(held.snapshot.participantPk);
    expect(faults(await env.page.page.evaluate(() => window.petflTest.errors()))).toEqual([]);
    expect(env.page.problems).toEqual([]);
  });
});
