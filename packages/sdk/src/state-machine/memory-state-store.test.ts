import { describe, expect, it } from 'vitest';
import { stateStoreConformance } from '../../test-support/state-store.conformance.ts';
import { MemoryStateStore } from './memory-state-store.ts';

describe('MemoryStateStore', () => {
  it('stores structured clones: neither the saved nor the loaded value is shared', async () => {
    const store = new MemoryStateStore();
    const value = { v: 1, key: Uint8Array.of(1, 2, 3), nested: { n: 1 } };
    await store.set('k', value);
    value.key[0] = 9;
    const loaded = (await store.get('k')) as typeof value;
    expect(loaded).toStrictEqual({ v: 1, key: Uint8Array.of(1, 2, 3), nested: { n: 1 } });
    loaded.nested.n = 2;
    expect(await store.get('k')).toStrictEqual({ v: 1, key: Uint8Array.of(1, 2, 3), nested: { n: 1 } });
  });

  it('answers undefined for a missing or deleted key', async () => {
    const store = new MemoryStateStore();
    expect(await store.get('k')).toBeUndefined();
    await store.set('k', 1);
    await store.del('k');
    expect(await store.get('k')).toBeUndefined();
  });

  it('refuses what cannot be structured-cloned, as IndexedDB would', async () => {
    await expect(new MemoryStateStore().set('k', { f: () => 1 })).rejects.toThrow();
  });
});

stateStoreConformance('MemoryStateStore', () => new MemoryStateStore());
