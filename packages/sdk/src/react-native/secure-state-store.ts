/**
 * A `StateStore` for React Native that keeps the participant state
 * encrypted at rest, under a key held by the platform's secure storage —
 * the iOS Keychain, or the Android Keystore — through `react-native-keychain`
 * or Expo's `expo-secure-store`. Neither is a dependency: the app passes the
 * module it has, and the SDK reaches it through a small `KeySlot`.
 *
 * Why not put the state itself in the keychain: the libraries limit a value
 * (expo-secure-store: 2048 bytes) and the state outgrows that — the payload of
 * an update being sent is saved beside it. So the keychain holds one 32-byte
 * seed, and the state goes to AsyncStorage sealed (libsodium's
 * `crypto_box_seal`, X25519 + XSalsa20-Poly1305, docs/protocol.md §5) to the
 * X25519 key pair derived from that seed. The public key is never stored,
 * so nobody without the keychain entry can open or forge a value; the store
 * key is sealed with the value and checked, so a value copied to another
 * key does not load.
 *
 * An item that does not open (the keychain entry is gone or changed — an app
 * reinstall can clear one but not the other — or the item was altered) is a
 * ParticipantRestoreError, never a half-loaded state.
 *
 * SECURITY: the seed is the key to every saved state; it lives in the
 * keychain, and its key pair in this store's memory for the store's life.
 */

import { type EncryptKeyPair, fromBase64Url, initCrypto, type PetCrypto, toBase64Url } from '@petfl/core';
import { ParticipantInitError, ParticipantRestoreError } from '../errors.ts';
import { decodePlainData, encodePlainData } from '../plain-data.ts';
import type { StateStore } from '../state-machine/io.ts';
import type { AsyncStorageLike } from './async-storage-state-store.ts';

/** One secret string in the platform's secure storage: the adapters below make one of a library. */
export interface KeySlot {
  /** The stored secret, or null when there is none. */
  get(): Promise<string | null>;
  set(secret: string): Promise<void>;
}

/** The part of `expo-secure-store` used here (`import * as SecureStore from 'expo-secure-store'`). */
export interface ExpoSecureStoreLike {
  getItemAsync(key: string, options?: object): Promise<string | null>;
  setItemAsync(key: string, value: string, options?: object): Promise<void>;
}

/** The part of `react-native-keychain` used here (`import * as Keychain from 'react-native-keychain'`). */
export interface ReactNativeKeychainLike {
  getGenericPassword(options?: object): Promise<false | { readonly password: string }>;
  setGenericPassword(username: string, password: string, options?: object): Promise<unknown>;
}

/** The keychain entry's default name; expo-secure-store allows only [A-Za-z0-9._-] in keys. */
export const DEFAULT_KEY_NAME = 'petfl.state-key';

/**
 * A KeySlot in expo-secure-store under `key`. `options` go to every call as they are, e.g.
 * `{ keychainAccessible: SecureStore.AFTER_FIRST_UNLOCK_THIS_DEVICE_ONLY }`.
 */
export function expoSecureStoreKeySlot(
  secureStore: ExpoSecureStoreLike,
  settings: { readonly key?: string; readonly options?: object } = {},
): KeySlot {
  requireMethods('expoSecureStoreKeySlot', 'secureStore', secureStore, ['getItemAsync', 'setItemAsync']);
  const key = settings.key ?? DEFAULT_KEY_NAME;
  if (typeof key !== 'string' || !/^[A-Za-z0-9._-]+$/.test(key)) {
    throw new ParticipantInitError(
      `expoSecureStoreKeySlot: key: expected a non-empty string of [A-Za-z0-9._-], got ${JSON.stringify(key)}`,
    );
  }
  const options = settings.options ?? {};
  return {
    get: () => secureStore.getItemAsync(key, options),
    set: (secret) => secureStore.setItemAsync(key, secret, options),
  };
}

/**
 * A KeySlot in react-native-keychain: the generic password of `service`. `options` go to every
 * call beside `service`, e.g. `{ accessible: Keychain.ACCESSIBLE.AFTER_FIRST_UNLOCK_THIS_DEVICE_ONLY }`.
 */
export function reactNativeKeychainKeySlot(
  keychain: ReactNativeKeychainLike,
  settings: { readonly service?: string; readonly options?: object } = {},
): KeySlot {
  requireMethods('reactNativeKeychainKeySlot', 'keychain', keychain, ['getGenericPassword', 'setGenericPassword']);
  const service = settings.service ?? DEFAULT_KEY_NAME;
  if (typeof service !== 'string' || service === '') {
    throw new ParticipantInitError(`reactNativeKeychainKeySlot: service: expected a non-empty string`);
  }
  const options = { ...settings.options, service };
  return {
    async get() {
      const entry = await keychain.getGenericPassword(options);
      return entry === false ? null : entry.password;
    },
    async set(secret) {
      const done = await keychain.setGenericPassword('petfl', secret, options);
      // react-native-keychain resolves `false` when it could not store the entry.
      if (done === false) throw new Error(`react-native-keychain did not store the entry of service '${service}'`);
    },
  };
}

export interface SecureStateStoreOptions {
  /** Where the sealed states go: AsyncStorage (`@react-native-async-storage/async-storage`). */
  readonly storage: AsyncStorageLike;
  /** Where the key goes: `expoSecureStoreKeySlot(SecureStore)` or `reactNativeKeychainKeySlot(Keychain)`. */
  readonly keySlot: KeySlot;
  /** The crypto gate (default: `initCrypto()` of @petfl/core, when first needed). */
  readonly crypto?: PetCrypto;
}

interface Keys {
  readonly crypto: PetCrypto;
  readonly pair: EncryptKeyPair;
}

/** The format of an item: this prefix, then base64url of the sealed box. */
const ITEM_PREFIX = 'petfl-sealed.1.';
const SEED_BYTES = 32;

export function secureStateStore(options: SecureStateStoreOptions): StateStore {
  if (typeof options !== 'object' || options === null) {
    throw new ParticipantInitError('secureStateStore: expected {storage, keySlot}');
  }
  requireMethods('secureStateStore', 'storage', options.storage, ['getItem', 'setItem', 'removeItem']);
  requireMethods('secureStateStore', 'keySlot', options.keySlot, ['get', 'set']);
  return new SecureStateStore(options.storage, options.keySlot, options.crypto);
}

class SecureStateStore implements StateStore {
  // SECURITY: the state key pair, once read from (or created in) the keychain; kept for the store's life.
  private keys: Keys | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private readonly storage: AsyncStorageLike;
  private readonly slot: KeySlot;
  private readonly crypto: PetCrypto | undefined;

  constructor(storage: AsyncStorageLike, slot: KeySlot, crypto: PetCrypto | undefined) {
    this.storage = storage;
    this.slot = slot;
    this.crypto = crypto;
  }

  async get(key: string): Promise<unknown> {
    checkKey(key);
    const text = await this.storage.getItem(key);
    if (text === null) return undefined;
    const what = `AsyncStorage item ${key}`;
    if (typeof text !== 'string' || !text.startsWith(ITEM_PREFIX)) {
      throw new ParticipantRestoreError(`${what}: not a sealed petfl state (written by another store?)`);
    }
    const keys = await this.keyPair(false);
    if (keys === undefined) {
      throw new ParticipantRestoreError(`${what}: the keychain holds no key for it, the state cannot be opened`);
    }
    let plain: Uint8Array;
    try {
      const sealed = fromBase64Url(text.slice(ITEM_PREFIX.length), what);
      plain = keys.crypto.openSealed(sealed, keys.pair, what);
    } catch (cause) {
      throw new ParticipantRestoreError(
        `${what}: the state does not open (the keychain key changed or the item was altered)`,
        { cause },
      );
    }
    // SECURITY: `plain` holds the state's secret keys in the clear; decoding copies them out,
    // and it is zeroed right after.
    try {
      const record = decodePlainData(plain, what) as { k?: unknown; v?: unknown } | null;
      if (typeof record !== 'object' || record === null || record.k !== key || !('v' in record)) {
        throw new ParticipantRestoreError(`${what}: the sealed state belongs to another key`);
      }
      return record.v;
    } catch (cause) {
      if (cause instanceof ParticipantRestoreError) throw cause;
      throw new ParticipantRestoreError(`${what}: ${cause instanceof Error ? cause.message : String(cause)}`, {
        cause,
      });
    } finally {
      plain.fill(0);
    }
  }

  async set(key: string, value: unknown): Promise<void> {
    checkKey(key);
    const plain = encodePlainData({ k: key, v: value });
    // SECURITY: `plain` holds the state's secret keys in the clear; zeroed once sealed.
    try {
      const keys = (await this.keyPair(true)) as Keys;
      const sealed = keys.crypto.seal(plain, keys.pair.publicKey, 'state key');
      await this.storage.setItem(key, ITEM_PREFIX + toBase64Url(sealed));
    } finally {
      plain.fill(0);
    }
  }

  async del(key: string): Promise<void> {
    checkKey(key);
    await this.storage.removeItem(key);
  }

  /**
   * The key pair from the keychain's seed. Without an entry: undefined for a read, a fresh seed
   * stored for a write. Lookups run one after another, so concurrent writes cannot make two seeds.
   */
  private keyPair(create: boolean): Promise<Keys | undefined> {
    if (this.keys !== undefined) return Promise.resolve(this.keys);
    const next = this.queue.then(async () => {
      this.keys ??= await this.loadKeyPair(create);
      return this.keys;
    });
    this.queue = next.catch(() => {}); // a failed lookup (keychain locked) is tried again next time
    return next;
  }

  private async loadKeyPair(create: boolean): Promise<Keys | undefined> {
    const crypto = this.crypto ?? (await initCrypto());
    const stored = await this.slot.get();
    let seed: Uint8Array;
    if (stored === null || stored === undefined) {
      if (!create) return undefined;
      // SECURITY: the seed of the state key: from the CSPRNG straight into the keychain.
      seed = crypto.randomBytes(SEED_BYTES);
      await this.slot.set(toBase64Url(seed));
    } else {
      try {
        seed = fromBase64Url(stored, 'keychain entry');
        if (seed.length !== SEED_BYTES) throw new Error(`expected ${SEED_BYTES} bytes, got ${seed.length}`);
      } catch (cause) {
        throw new ParticipantRestoreError('the keychain entry of the state key is not a petfl key', { cause });
      }
    }
    try {
      return { crypto, pair: crypto.encryptKeyPair(seed) };
    } finally {
      crypto.wipe(seed);
    }
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new TypeError('secureStateStore: key: expected a non-empty string');
}

function requireMethods(where: string, field: string, value: unknown, methods: readonly string[]): void {
  for (const method of methods) {
    const found = (value as Record<string, unknown> | null | undefined)?.[method];
    if (typeof found !== 'function') {
      throw new ParticipantInitError(`${where}: ${field}.${method}: expected a function, got ${typeof found}`);
    }
  }
}
