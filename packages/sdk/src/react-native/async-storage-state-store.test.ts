import { describe, expect, it } from 'vitest';
import { stateStoreConformance } from '../../test-support/state-store.conformance.ts';
import { ParticipantInitError, ParticipantRestoreError } from '../errors.ts';
import { type AsyncStorageLike, asyncStorageStateStore } from './async-storage-state-store.ts';

/** AsyncStorage's contract: strings in, strings (or null) out. */
class MemoryAsyncStorage implements AsyncStorageLike {
  readonly items = new Map<string, string>();
  async getItem(key: string): Promise<string | null> {
    return this.items.get(key) ?? null;
  }
  async setItem(key: string, value: string): Promise<void> {
    if (typeof value !== 'string') throw new TypeError('AsyncStorage keeps strings only');
    this.items.set(key, value);
  }
  async removeItem(key: string): Promise<void> {
    this.items.delete(key);
  }
}

stateStoreConformance('asyncStorageStateStore', () => asyncStorageStateStore(new MemoryAsyncStorage()));

describe('asyncStorageStateStore', () => {
  it('keeps each value as base64url text under its own key', async () => {
    const storage = new MemoryAsyncStorage();
    await asyncStorageStateStore(storage).set('petfl/participant-state', { v: 1, key: Uint8Array.of(1, 2) });
    expect([...storage.items.keys()]).toEqual(['petfl/participant-state']);
    expect(storage.items.get('petfl/participant-state')).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('refuses an item it did not write, or one that was damaged, with ParticipantRestoreError', async () => {
    const storage = new MemoryAsyncStorage();
    const store = asyncStorageStateStore(storage);
    storage.items.set('a', 'not base64url!');
    await expect(store.get('a')).rejects.toThrow(ParticipantRestoreError);
    storage.items.set('b', 'AAAAAAAAAAAAAAAAAAAAAA');
    await expect(store.get('b')).rejects.toThrow(/AsyncStorage item b: not a petfl/);
    await store.set('c', { v: 1 });
    const text = storage.items.get('c') as string;
    storage.items.set('c', `${text.slice(0, -2)}${text.endsWith('AA') ? 'BA' : 'AA'}`);
    await expect(store.get('c')).rejects.toThrow(ParticipantRestoreError);
  });

  it('refuses what is not plain data, naming the field', async () => {
    await expect(asyncStorageStateStore(new MemoryAsyncStorage()).set('k', { when: new Date() })).rejects.toThrow(
      'value.when',
    );
  });

  it('needs an AsyncStorage-shaped storage', () => {
    expect(() => asyncStorageStateStore({} as AsyncStorageLike)).toThrow(ParticipantInitError);
    expect(() => asyncStorageStateStore(undefined as unknown as AsyncStorageLike)).toThrow(
      'storage.getItem: expected a function',
    );
  });
});
