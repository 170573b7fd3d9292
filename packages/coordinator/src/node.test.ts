/**
 * `listen()` over real HTTP: closing answers the long polls first, so a participant waiting
 * on `GET /phase` hears `….shutdown` instead of having its connection cut.
 */

import { expect, it } from 'vitest';
import { listen } from './node.ts';
import { MemoryModelStore } from './store/memory-model-store.ts';
import { testSettings } from './test-support/harness.ts';

it('close() answers a waiting GET /phase with the shutdown token', async () => {
  const running = await listen(testSettings({ PETFL_API_PORT: '0' }), { models: new MemoryModelStore() });
  const current = running.coordinator.phaseToken();
  expect(current).toBe('1.sum');
  const waiting = fetch(`${running.url}/phase?after=${current}&wait_ms=30000`).then(async (res) => ({
    status: res.status,
    body: (await res.json()) as { token: string },
  }));
  await expect.poll(() => running.coordinator.phaseWaiters(), { interval: 5 }).toBe(1);
  await running.close();
  expect(await waiting).toEqual({ status: 200, body: { token: '1.shutdown' } });
  expect(running.coordinator.phaseWaiters()).toBe(0);
});
