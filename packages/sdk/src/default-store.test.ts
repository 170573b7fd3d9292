/**
 * The default store: where `globalThis.indexedDB` (and WebCrypto) exist — a
 * browser; here fake-indexeddb — a participant spawned without `store`
 * persists to IndexedDB, encrypted, and a later spawn resumes from it.
 */

import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinator, type TestCoordinator, waitFor } from '../test-support/coordinator.ts';
import { spawnAsyncParticipant } from './async-participant.ts';
import { idbStateStore } from './idb/idb-state-store.ts';
import { deserializeState } from './state-codec.ts';

const running: TestCoordinator[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.close();
});

describe('the default state store', () => {
  it('is IndexedDB where the platform has it: the state is saved there and resumed from there', async () => {
    const c = await startCoordinator();
    running.push(c);
    const options = { fetch: c.fetch, pollMs: 10, logLevel: 'silent', storeKey: 'tab-1' } as const;
    const { participant } = await spawnAsyncParticipant(c.url, options);
    await waitFor(() => participant.getSnapshot().phase === 'update');
    const { participantPk } = participant.getSnapshot();
    const state = deserializeState(await participant.stop());

    expect(await idbStateStore().get('tab-1')).toStrictEqual(state); // database 'petfl'
    const resumed = await spawnAsyncParticipant(c.url, options);
    expect(resumed.participant.getSnapshot()).toMatchObject({ participantPk, roundId: 1, phase: 'update' });
    await resumed.participant.stop();
  });
});
