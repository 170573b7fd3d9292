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

  it('copies a byte array (a payload) into a buffer of its own, both ways: only the bytes of a view', async () => {
    const store = new MemoryStateStore();
    const whole = Uint8Array.from({ length: 16 }, (_, i) => i);
    const view = whole.subarray(4, 12);
    await store.set('payload', view);
    view.fill(0xff);
    const loaded = (await store.get('payload')) as Uint8Array;
    expect(loaded).toBeInstanceOf(Uint8Array);
    expect(loaded).toStrictEqual(Uint8Array.of(4, 5, 6, 7, 8, 9, 10, 11));
    expect(loaded.buffer.byteLength).toBe(8);
    loaded.fill(0);
    expect(await store.get('payload')).toStrictEqual(Uint8Array.of(4, 5, 6, 7, 8, 9, 10, 11));
  });

  it('copies a Node Buffer too (its slice would share memory), as a plain Uint8Array like structuredClone', async () => {
    const store = new MemoryStateStore();
    const buffer = Buffer.from([1, 2, 3]);
    await store.set('payload', buffer);
    buffer[0] = 9;
    const loaded = (await store.get('payload')) as Uint8Array;
    expect(Buffer.isBuffer(loaded)).toBe(false);
    expect(loaded).toStrictEqual(Uint8Array.of(1, 2, 3));
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
