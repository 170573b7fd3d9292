/**
 * The default store where the platform has no IndexedDB (Node, React Native): none. The state
 * lives in the participant only — no copy of it, nor of a sending phase's payload, is made for a
 * store nobody would read — and `stop()` still returns it.
 */

import { afterEach, describe, expect, it, vi } from 'vitest';
import { startCoordinator, type TestCoordinator, waitFor } from '../test-support/coordinator.ts';
import { spawnAsyncParticipant } from './async-participant.ts';
import { deserializeState } from './state-codec.ts';
import { MemoryStateStore } from './state-machine/memory-state-store.ts';

const running: TestCoordinator[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of running.splice(0)) await c.close();
});

describe('the default state store without IndexedDB', () => {
  it('is none: nothing is saved anywhere, and stop() returns the state', async () => {
    expect((globalThis as { indexedDB?: unknown }).indexedDB).toBeUndefined();
    const saved = vi.spyOn(MemoryStateStore.prototype, 'set');
    const c = await startCoordinator();
    running.push(c);
    const { participant } = await spawnAsyncParticipant(c.url, { fetch: c.fetch, pollMs: 10, logLevel: 'silent' });
    await waitFor(() => participant.getSnapshot().phase === 'update');
    const { participantPk } = participant.getSnapshot();
    const state = deserializeState(await participant.stop());
    expect(saved).not.toHaveBeenCalled();
    expect(state.round?.roundId).toBe(1);
    expect(state.phase.kind).toBe('update');
    expect(participant.getSnapshot().participantPk).toBe(participantPk);
    // a participant spawned again without a store or a state starts afresh: nothing was kept
    const again = await spawnAsyncParticipant(c.url, { fetch: c.fetch, pollMs: 10, logLevel: 'silent' });
    expect(again.participant.getSnapshot().participantPk).not.toBe(participantPk);
    await again.participant.stop();
  });
});
