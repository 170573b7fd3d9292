/**
 * `GET /phase` holds at most `api.max_phase_waiters` long polls; beyond it a poll is answered
 * at once with the current token, and `petfl_phase_waiters` shows how many are held.
 */

import { afterEach, expect, it } from 'vitest';
import { type Harness, settle, startHarness, testSettings } from '../../test-support/harness.ts';
import { ManualClock } from '../../test-support/manual-clock.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const gauge = async (harness: Harness) => {
  const text = await (await harness.fetch('/metrics')).text();
  return Number(/^petfl_phase_waiters (\d+)$/m.exec(text)?.[1]);
};

it('holds at most max_phase_waiters polls and answers the rest at once', async () => {
  const cap = 5;
  const extra = 3;
  h = await startHarness(testSettings({ PETFL_API_MAX_PHASE_WAITERS: String(cap) }), { clock: new ManualClock() });
  const harness = h;
  const answered: string[] = [];
  const polls = Array.from({ length: cap + extra }, () =>
    harness.fetch('/phase?after=1.sum&wait_ms=30000').then(async (res) => {
      expect(res.status).toBe(200);
      const { token } = (await res.json()) as { token: string };
      answered.push(token);
      return token;
    }),
  );
  await settle(() => answered.length === extra && h?.coordinator.phaseWaiters() === cap);
  // The ones beyond the cap were answered at once, with the unchanged token.
  expect(answered).toEqual(Array(extra).fill('1.sum'));
  expect(h.coordinator.phaseWaiters()).toBe(cap);
  expect(await gauge(h)).toBe(cap);

  // Held ones are still answered when the phase changes (here: shutting down).
  await h.coordinator.shutdown();
  const tokens = await Promise.all(polls);
  expect(tokens.filter((t) => t === '1.shutdown')).toHaveLength(cap);
  expect(tokens.filter((t) => t === '1.sum')).toHaveLength(extra);
  expect(await gauge(h)).toBe(0);
});

it('polls with until=round, held through a round, count against the same cap', async () => {
  // A throwaway client gains no more held requests by asking to wait through the round.
  const cap = 4;
  h = await startHarness(testSettings({ PETFL_API_MAX_PHASE_WAITERS: String(cap) }), { clock: new ManualClock() });
  const harness = h;
  const answered: string[] = [];
  const polls = Array.from({ length: cap + 2 }, (_, i) =>
    harness.fetch(`/phase?after=1.sum&wait_ms=30000${i % 2 === 0 ? '&until=round' : ''}`).then(async (res) => {
      expect(res.status).toBe(200);
      const { token } = (await res.json()) as { token: string };
      answered.push(token);
      return token;
    }),
  );
  await settle(() => answered.length === 2 && h?.coordinator.phaseWaiters() === cap);
  expect(answered).toEqual(['1.sum', '1.sum']);
  expect(h.coordinator.phaseWaiters()).toBe(cap);
  await h.coordinator.shutdown();
  expect((await Promise.all(polls)).filter((t) => t === '1.shutdown')).toHaveLength(cap);
});
