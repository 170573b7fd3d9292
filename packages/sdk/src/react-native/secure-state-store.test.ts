/**
 * secureStateStore against in-memory fakes of AsyncStorage, expo-secure-store and
 * react-native-keychain, each keeping to its library's documented contract: expo-secure-store's
 * getItemAsync/setItemAsync (keys of [A-Za-z0-9._-], values up to 2048 bytes — the fake throws
 * beyond, as the docs say a future SDK may), react-native-keychain's
 * getGenericPassword({service}) → false | {username, password, service, storage} and
 * setGenericPassword(username, password, {service}).
 */

import { initCrypto } from '@petfl/core';
import { describe, expect, it } from 'vitest';
import { stateStoreConformance } from '../../test-support/state-store.conformance.ts';
import { ParticipantInitError, ParticipantRestoreError } from '../errors.ts';
import { createInitialState } from '../state-machine/state.ts';
import { type AsyncStorageLike, asyncStorageStateStore } from './async-storage-state-store.ts';
import {
  DEFAULT_KEY_NAME,
  type ExpoSecureStoreLike,
  expoSecureStoreKeySlot,
  type ReactNativeKeychainLike,
  reactNativeKeychainKeySlot,
  secureStateStore,
} from './secure-state-store.ts';

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

class FakeExpoSecureStore implements ExpoSecureStoreLike {
  readonly items = new Map<string, string>();
  readonly calls: { method: string; key: string; options: unknown }[] = [];
  async getItemAsync(key: string, options?: object): Promise<string | null> {
    this.calls.push({ method: 'getItemAsync', key, options });
    this.checkKey(key);
    return this.items.get(key) ?? null;
  }
  async setItemAsync(key: string, value: string, options?: object): Promise<void> {
    this.calls.push({ method: 'setItemAsync', key, options });
    this.checkKey(key);
    if (new TextEncoder().encode(value).length > 2048) throw new Error('value over 2048 bytes');
    this.items.set(key, value);
  }
  private checkKey(key: string): void {
    if (!/^[\w.-]+$/.test(key)) throw new Error(`Invalid key provided to SecureStore: ${key}`);
  }
}

class FakeKeychain implements ReactNativeKeychainLike {
  readonly entries = new Map<string, { username: string; password: string }>();
  readonly options: unknown[] = [];
  refuse = false;
  async getGenericPassword(options?: { service?: string }) {
    this.options.push(options);
    const service = options?.service ?? 'bundle-id';
    const entry = this.entries.get(service);
    return entry === undefined ? false : { ...entry, service, storage: 'keychain' };
  }
  async setGenericPassword(username: string, password: string, options?: { service?: string }) {
    this.options.push(options);
    if (this.refuse) return false as const;
    const service = options?.service ?? 'bundle-id';
    this.entries.set(service, { username, password });
    return { service, storage: 'keychain' };
  }
}

stateStoreConformance('secureStateStore (expo-secure-store)', () =>
  secureStateStore({ storage: new MemoryAsyncStorage(), keySlot: expoSecureStoreKeySlot(new FakeExpoSecureStore()) }),
);
stateStoreConformance('secureStateStore (react-native-keychain)', () =>
  secureStateStore({ storage: new MemoryAsyncStorage(), keySlot: reactNativeKeychainKeySlot(new FakeKeychain()) }),
);

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('secureStateStore', () => {
  it('AsyncStorage holds the state sealed, the keychain one 32-byte key, whatever the state’s size', async () => {
    const crypto = await initCrypto();
    const storage = new MemoryAsyncStorage();
    const secureStore = new FakeExpoSecureStore();
    const store = secureStateStore({ storage, keySlot: expoSecureStoreKeySlot(secureStore), crypto });
    const state = createInitialState(crypto, { scalar: 1 });
    const big = { state, sealedUpdate: crypto.randomBytes(20_000) };
    await store.set('petfl/participant-state', big);

    const item = storage.items.get('petfl/participant-state') as string;
    expect(item.startsWith('petfl-sealed.1.')).toBe(true);
    const itemBytes = Buffer.from(item.slice('petfl-sealed.1.'.length), 'base64url');
    // neither the identity secret key nor its public key appears in what AsyncStorage keeps
    expect(hex(itemBytes)).not.toContain(hex(state.identity.secretKey.subarray(0, 32)));
    expect(item).not.toContain(Buffer.from(state.identity.secretKey).toString('base64url').slice(0, 20));
    expect([...secureStore.items.keys()]).toEqual([DEFAULT_KEY_NAME]);
    expect(secureStore.items.get(DEFAULT_KEY_NAME)).toMatch(/^[\w-]{43}$/);
    expect(await store.get('petfl/participant-state')).toStrictEqual(big);
  });

  it('a new store over the same AsyncStorage and keychain (the app restarted) opens the state', async () => {
    const storage = new MemoryAsyncStorage();
    const keychain = new FakeKeychain();
    await secureStateStore({ storage, keySlot: reactNativeKeychainKeySlot(keychain) }).set('k', { v: 7 });
    const reopened = secureStateStore({ storage, keySlot: reactNativeKeychainKeySlot(keychain) });
    expect(await reopened.get('k')).toStrictEqual({ v: 7 });
    expect([...keychain.entries.keys()]).toEqual([DEFAULT_KEY_NAME]);
  });

  it('a lost or changed keychain key, an altered item, a moved item or a plain one is a ParticipantRestoreError', async () => {
    const storage = new MemoryAsyncStorage();
    const keychain = new FakeKeychain();
    await secureStateStore({ storage, keySlot: reactNativeKeychainKeySlot(keychain) }).set('k', { v: 1 });
    const sealed = storage.items.get('k') as string;

    const lost = secureStateStore({ storage, keySlot: reactNativeKeychainKeySlot(new FakeKeychain()) });
    await expect(lost.get('k')).rejects.toThrow(
      new ParticipantRestoreError('AsyncStorage item k: the keychain holds no key for it, the state cannot be opened'),
    );

    const otherKeychain = new FakeKeychain();
    await secureStateStore({
      storage: new MemoryAsyncStorage(),
      keySlot: reactNativeKeychainKeySlot(otherKeychain),
    }).set('x', {});
    const changed = secureStateStore({ storage, keySlot: reactNativeKeychainKeySlot(otherKeychain) });
    await expect(changed.get('k')).rejects.toThrow(/the state does not open/);

    const store = secureStateStore({ storage, keySlot: reactNativeKeychainKeySlot(keychain) });
    const flipped = `${sealed.slice(0, -3)}${sealed.endsWith('AAA') ? 'BAA' : 'AAA'}`;
    storage.items.set('k', flipped);
    await expect(store.get('k')).rejects.toThrow(ParticipantRestoreError);

    storage.items.set('moved', sealed);
    await expect(store.get('moved')).rejects.toThrow(
      'AsyncStorage item moved: the sealed state belongs to another key',
    );

    await asyncStorageStateStore(storage).set('plain', { v: 1 });
    await expect(store.get('plain')).rejects.toThrow(/not a sealed petfl state/);

    keychain.entries.set(DEFAULT_KEY_NAME, { username: 'petfl', password: 'not a key' });
    const foreign = secureStateStore({ storage, keySlot: reactNativeKeychainKeySlot(keychain) });
    storage.items.set('k', sealed);
    await expect(foreign.get('k')).rejects.toThrow('the keychain entry of the state key is not a petfl key');
  });

  it('reading creates no key; concurrent first writes create exactly one', async () => {
    const secureStore = new FakeExpoSecureStore();
    const storage = new MemoryAsyncStorage();
    const store = secureStateStore({ storage, keySlot: expoSecureStoreKeySlot(secureStore) });
    expect(await store.get('nothing')).toBeUndefined();
    expect(secureStore.items.size).toBe(0);
    await Promise.all([store.set('a', { n: 1 }), store.set('b', { n: 2 }), store.set('c', { n: 3 })]);
    expect(secureStore.calls.filter((c) => c.method === 'setItemAsync')).toHaveLength(1);
    expect(await store.get('a')).toStrictEqual({ n: 1 });
    expect(await store.get('c')).toStrictEqual({ n: 3 });
  });

  it('a keychain that fails is tried again on the next call', async () => {
    const keychain = new FakeKeychain();
    keychain.refuse = true;
    const store = secureStateStore({
      storage: new MemoryAsyncStorage(),
      keySlot: reactNativeKeychainKeySlot(keychain),
    });
    await expect(store.set('k', { v: 1 })).rejects.toThrow(`did not store the entry of service '${DEFAULT_KEY_NAME}'`);
    keychain.refuse = false;
    await store.set('k', { v: 1 });
    expect(await store.get('k')).toStrictEqual({ v: 1 });
  });

  it('passes the key name, service and options to the library', async () => {
    const secureStore = new FakeExpoSecureStore();
    const options = { keychainAccessible: 3 };
    await secureStateStore({
      storage: new MemoryAsyncStorage(),
      keySlot: expoSecureStoreKeySlot(secureStore, { key: 'my-app.petfl', options }),
    }).set('k', {});
    expect(secureStore.calls).toEqual([
      { method: 'getItemAsync', key: 'my-app.petfl', options },
      { method: 'setItemAsync', key: 'my-app.petfl', options },
    ]);

    const keychain = new FakeKeychain();
    await secureStateStore({
      storage: new MemoryAsyncStorage(),
      keySlot: reactNativeKeychainKeySlot(keychain, { service: 'my-app', options: { accessible: 'AfterFirstUnlock' } }),
    }).set('k', {});
    expect(keychain.options).toEqual(Array(2).fill({ accessible: 'AfterFirstUnlock', service: 'my-app' }));
    expect(keychain.entries.get('my-app')?.username).toBe('petfl');
  });

  it('checks what it is given', () => {
    const storage = new MemoryAsyncStorage();
    const keySlot = expoSecureStoreKeySlot(new FakeExpoSecureStore());
    expect(() => secureStateStore({ storage: {} as AsyncStorageLike, keySlot })).toThrow(
      new ParticipantInitError('secureStateStore: storage.getItem: expected a function, got undefined'),
    );
    expect(() => secureStateStore({ storage, keySlot: { get: async () => null } as never })).toThrow(
      'secureStateStore: keySlot.set: expected a function, got undefined',
    );
    expect(() => expoSecureStoreKeySlot(new FakeExpoSecureStore(), { key: 'petfl/state' })).toThrow(
      ParticipantInitError,
    );
    expect(() => reactNativeKeychainKeySlot({} as ReactNativeKeychainLike)).toThrow(
      'reactNativeKeychainKeySlot: keychain.getGenericPassword: expected a function, got undefined',
    );
  });
});
