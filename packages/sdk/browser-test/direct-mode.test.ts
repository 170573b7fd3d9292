/**
 * §4a: a page with the SDK from its built bundle joins rounds in direct mode
 * (the protocol on the page's main thread) with six Node participants, and
 * a round completes with the page's update in it: the page trains ones, the
 * others send zeros, so a global model above zero holds the page's update.
 */

import { expect, it } from 'vitest';
import { describeWithChromium } from './support/chromium.ts';
import { useFederatedPage } from './support/federated-page.ts';
import { waitUntil } from './support/wait.ts';

const LENGTH = 16;

describeWithChromium('browser: direct mode', () => {
  const env = useFederatedPage(
    {
      modelLength: LENGTH,
      sumProbability: 0.25,
      // Every update that comes within 0.5 s of the phase start is in.
      update: { min: 3, max: 100, minMs: 500, maxMs: 10_000 },
    },
    { count: 6, mode: 'auto' },
  );

  it('a ParticipantABC on the page takes part until a round completes with its update', async () => {
    const started = await env.page.page.evaluate((config) => window.petflTest.start(config), {
      coordinatorUrl: env.coordinator.url,
      mode: 'direct',
      kind: 'abc',
      abcValue: 1,
      modelLength: LENGTH,
      store: 'memory',
    } as const);
    expect(started.participantPk).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const global = await waitUntil('a global model with the page’s update in it', async () => {
      const model = await env.coordinator.latestModel();
      return model !== undefined && (model.weights[0] ?? 0) > 0 ? model : undefined;
    });
    // The page's ones averaged with the zeros of the Node updaters in that round.
    const value = global.weights[0] ?? 0;
    expect(value).toBeGreaterThan(0);
    expect(value).toBeLessThanOrEqual(1 / 3 + 1e-6); // at least 3 updates
    expect(Array.from(global.weights).every((w) => Math.abs(w - value) < 1e-6)).toBe(true);

    const snapshot = await env.page.page.evaluate(() => window.petflTest.snapshot());
    expect(snapshot?.bytesSent).toBeGreaterThan(0);
    expect(snapshot?.participantPk).toBe(started.participantPk);
    expect(env.page.problems).toEqual([]);
  });
});
