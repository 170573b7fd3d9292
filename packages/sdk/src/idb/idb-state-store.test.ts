/**
 * The IndexedDB store in Node: fake-indexeddb for IndexedDB and Node's WebCrypto
 * (globalThis.crypto.subtle) for the wrapping key — the same code paths a browser runs.
 */

import 'fake-indexeddb/auto';
import { createStore, del, get, set } from 'idb-keyval';
import { describe, expect, it } from 'vitest';
import { stateStoreConformance } from '../../test-support/state-store.conformance.ts';
import { ParticipantInitError, ParticipantRestoreError } from '../errors.ts';
import { idbStateStore, WRAPPING_KEY_ENTRY } from './idb-state-store.ts';

let databases = 0;
const freshName = (): string => `petfl-test-${++databases}`;

stateStoreConformance('idbStateStore', () => idbStateStore({ dbName: freshName() }));

describe('idbStateStore: encrypted at rest', () => {
  it('stores only ciphertext, under a non-extractable AES-GCM key kept in the database', async () => {
    const dbName = freshName();
    const store = idbStateStore({ dbName });
    const secret = Uint8Array.from({ length: 64 }, (_, i) => i + 100);
    await store.set('k', { secretKey: secret });
    const raw = await get('k', createStore(dbName, 'state'));
    expect(raw).toMatchObject({ v: 1, iv: expect.any(Uint8Array), data: expect.any(Uint8Array) });
    const data = (raw as { data: Uint8Array }).data;
    const hasSecret = data.some((_, i) => secret.every((b, k) => data[i + k] === b));
    expect(hasSecret).toBe(false);
    const key = (await get(WRAPPING_KEY_ENTRY, createStore(dbName, 'state'))) as {
      extractable: boolean;
      algorithm: unknown;
    };
    expect(key.extractable).toBe(false);
    expect(key.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
    // a second store on the same database reuses the key
    expect(await idbStateStore({ dbName }).get('k')).toStrictEqual({ secretKey: secret });
  });

  it('a missing or replaced wrapping key, or an altered ciphertext, is a ParticipantRestoreError', async () => {
    const dbName = freshName();
    const raw = createStore(dbName, 'state');
    const store = idbStateStore({ dbName });
    await store.set('k', { n: 1 });
    const record = (await get('k', raw)) as { v: 1; iv: Uint8Array; data: Uint8Array };

    const altered = { ...record, data: record.data.slice() };
    (altered.data[0] as number) ^= 1;
    await set('k', altered, raw);
    await expect(store.get('k')).rejects.toThrow(ParticipantRestoreError);
    await expect(store.get('k')).rejects.toThrow('does not decrypt');

    await set('k', record, raw);
    expect(await store.get('k')).toStrictEqual({ n: 1 });
    await set('moved', record, raw); // the store key is the additional data
    await expect(store.get('moved')).rejects.toThrow('does not decrypt');

    const key = await get(WRAPPING_KEY_ENTRY, raw);
    await del(WRAPPING_KEY_ENTRY, raw);
    await expect(store.get('k')).rejects.toThrow('the wrapping key is missing');
    const other = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    await set(WRAPPING_KEY_ENTRY, other, raw);
    await expect(store.get('k')).rejects.toThrow(ParticipantRestoreError);
    await set(WRAPPING_KEY_ENTRY, key, raw);
    expect(await store.get('k')).toStrictEqual({ n: 1 });

    await set('plain', { identity: 'in the clear' }, raw);
    await expect(store.get('plain')).rejects.toThrow('not an encrypted petfl state record');
  });

  it('concurrent first writes agree on one wrapping key', async () => {
    const dbName = freshName();
    const a = idbStateStore({ dbName });
    const b = idbStateStore({ dbName });
    await Promise.all([a.set('a', 1), b.set('b', 2), a.set('c', 3)]);
    expect([await b.get('a'), await a.get('b'), await b.get('c')]).toEqual([1, 2, 3]);
  });

  it('refuses the reserved key and an empty database name', async () => {
    const store = idbStateStore({ dbName: freshName() });
    await expect(store.set(WRAPPING_KEY_ENTRY, 1)).rejects.toThrow(TypeError);
    expect(() => idbStateStore({ dbName: '' })).toThrow(ParticipantInitError);
  });
});
