/**
 * The StateStore conformance suite (architecture.md §7.7): one set of tests, run
 * against every implementation — memory, IndexedDB, file. What the runtime
 * relies on: a participant state (Uint8Arrays, undefined fields, nesting)
 * comes back equal and unshared; a missing or deleted key is undefined; keys
 * are independent; the latest write wins.
 */

import { initCrypto } from '@petfl/core';
import { describe, expect, it } from 'vitest';
import type { StateStore } from '../src/state-machine/io.ts';
import { createInitialState } from '../src/state-machine/state.ts';

export function stateStoreConformance(name: string, makeStore: () => Promise<StateStore> | StateStore): void {
  describe(`StateStore conformance: ${name}`, () => {
    it('a participant state comes back equal, undefined fields included, sharing no buffers', async () => {
      const store = await makeStore();
      const state = createInitialState(await initCrypto(), { scalar: 3 });
      await store.set('petfl/participant-state', state);
      const loaded = (await store.get('petfl/participant-state')) as typeof state;
      expect(loaded).toStrictEqual(state);
      expect(Object.hasOwn(loaded, 'round')).toBe(true);
      loaded.identity.secretKey.fill(0);
      expect(await store.get('petfl/participant-state')).toStrictEqual(state);
    });

    it('a missing or deleted key is undefined; deleting a missing key is fine', async () => {
      const store = await makeStore();
      expect(await store.get('nothing/here')).toBeUndefined();
      await store.del('nothing/here');
      await store.set('k', { v: 1, data: Uint8Array.of(1, 2) });
      await store.del('k');
      expect(await store.get('k')).toBeUndefined();
    });

    it('keys are independent and the latest write wins', async () => {
      const store = await makeStore();
      await store.set('a', { n: 1 });
      await store.set('b', { n: 2 });
      await store.set('a', { n: 3, list: ['x', null, true] });
      expect(await store.get('a')).toStrictEqual({ n: 3, list: ['x', null, true] });
      expect(await store.get('b')).toStrictEqual({ n: 2 });
    });

    it('the value stored is a copy: changing it afterwards changes nothing', async () => {
      const store = await makeStore();
      const value = { key: Uint8Array.of(1, 2, 3) };
      await store.set('k', value);
      value.key[0] = 9;
      expect(await store.get('k')).toStrictEqual({ key: Uint8Array.of(1, 2, 3) });
    });
  });
}
