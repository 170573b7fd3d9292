/**
 * `@petfl/sdk/idb` — the IndexedDB `StateStore`, the browser default
 * (architecture.md §5.3), via idb-keyval.
 *
 * SECURITY: the participant state holds private keys, so it is not stored in the clear. Every
 * value is encrypted with AES-256-GCM under a wrapping key that is generated once per database as
 * a non-extractable WebCrypto key and kept in the same database (IndexedDB stores CryptoKey
 * objects without exposing their bytes). The store key is the additional data, so a value
 * moved to another key does not decrypt. This protects the keys at rest — in a copied profile,
 * a disk image, a backup, an extension reading IndexedDB's files — but not from script running
 * in the page's origin, which can use the wrapping key as the SDK does.
 *
 * A value whose wrapping key is missing or changed (the database was partly cleared) or whose
 * ciphertext was altered fails to decrypt: a ParticipantRestoreError, never a half-loaded state.
 * The platform shapes are declared structurally, so this module type-checks without DOM types.
 */

import { createStore, del, get, set, type UseStore, update } from 'idb-keyval';
import { ParticipantInitError, ParticipantRestoreError } from '../errors.ts';
import { decodePlainData, encodePlainData } from '../plain-data.ts';
import type { StateStore } from '../state-machine/io.ts';

export interface IdbStateStoreOptions {
  /** The IndexedDB database (default 'petfl'); it holds one object store, 'state'. */
  readonly dbName?: string;
}

/** The entry holding the wrapping key; not usable as a store key. */
export const WRAPPING_KEY_ENTRY = 'petfl/idb-state-store/wrapping-key';
const RECORD_VERSION = 1;
const IV_BYTES = 12;

/** What is stored per key: plain data, structured-clonable (architecture.md §7.4). */
interface EncryptedRecord {
  readonly v: typeof RECORD_VERSION;
  /** The 96-bit AES-GCM nonce, fresh for every write. */
  readonly iv: Uint8Array;
  /** AES-GCM ciphertext ‖ 16-byte tag of the value's plain-data encoding (plain-data.ts). */
  readonly data: Uint8Array;
}

interface AesGcmParams {
  readonly name: 'AES-GCM';
  readonly iv: Uint8Array;
  readonly additionalData: Uint8Array;
}

/** The part of WebCrypto's SubtleCrypto used here. */
interface SubtleLike {
  generateKey(
    algorithm: { readonly name: 'AES-GCM'; readonly length: 256 },
    extractable: false,
    usages: readonly ['encrypt', 'decrypt'],
  ): Promise<unknown>;
  encrypt(algorithm: AesGcmParams, key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
  decrypt(algorithm: AesGcmParams, key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
}

interface WebCryptoLike {
  readonly subtle: SubtleLike;
  getRandomValues<T extends Uint8Array>(array: T): T;
}

/** An encrypted-at-rest IndexedDB StateStore (see the module comment). */
export function idbStateStore(options: IdbStateStoreOptions = {}): StateStore {
  const platform = globalThis as { indexedDB?: unknown; crypto?: Partial<WebCryptoLike> };
  const webCrypto = platform.crypto;
  if (platform.indexedDB === undefined || webCrypto?.subtle === undefined || webCrypto.getRandomValues === undefined) {
    throw new ParticipantInitError('idbStateStore: this platform has no IndexedDB or no WebCrypto (crypto.subtle)');
  }
  const dbName = options.dbName ?? 'petfl';
  if (typeof dbName !== 'string' || dbName === '') {
    throw new ParticipantInitError(`idbStateStore: dbName: expected a non-empty string, got ${String(dbName)}`);
  }
  return new IdbStateStore(createStore(dbName, 'state'), webCrypto as WebCryptoLike);
}

class IdbStateStore implements StateStore {
  private readonly db: UseStore;
  private readonly webCrypto: WebCryptoLike;

  constructor(db: UseStore, webCrypto: WebCryptoLike) {
    this.db = db;
    this.webCrypto = webCrypto;
  }

  async get(key: string): Promise<unknown> {
    checkKey(key);
    const record: unknown = await get(key, this.db);
    if (record === undefined) return undefined;
    if (!isEncryptedRecord(record)) {
      throw new ParticipantRestoreError(`IndexedDB '${key}': not an encrypted petfl state record`);
    }
    const wrappingKey: unknown = await get(WRAPPING_KEY_ENTRY, this.db);
    if (wrappingKey === undefined) {
      throw new ParticipantRestoreError(
        `IndexedDB '${key}': the wrapping key is missing, the state cannot be decrypted`,
      );
    }
    let plain: ArrayBuffer;
    try {
      plain = await this.webCrypto.subtle.decrypt(params(record.iv, key), wrappingKey, record.data);
    } catch (cause) {
      throw new ParticipantRestoreError(
        `IndexedDB '${key}': the state does not decrypt (the wrapping key changed or the data was altered)`,
        { cause },
      );
    }
    return decodePlainData(new Uint8Array(plain), `IndexedDB '${key}'`);
  }

  async set(key: string, value: unknown): Promise<void> {
    checkKey(key);
    const plain = encodePlainData(value);
    const wrappingKey = await this.wrappingKey();
    const iv = this.webCrypto.getRandomValues(new Uint8Array(IV_BYTES));
    // SECURITY: `plain` holds the state's secret keys in the clear; it is zeroed once encrypted.
    try {
      const data = new Uint8Array(await this.webCrypto.subtle.encrypt(params(iv, key), wrappingKey, plain));
      const record: EncryptedRecord = { v: RECORD_VERSION, iv, data };
      await set(key, record, this.db);
    } finally {
      plain.fill(0);
    }
  }

  async del(key: string): Promise<void> {
    checkKey(key);
    await del(key, this.db);
  }

  /**
   * The database's wrapping key, created on first use. Two tabs may race to create it: each
   * proposes a fresh key and `update` (one readwrite transaction) keeps whichever came first.
   */
  private async wrappingKey(): Promise<unknown> {
    const existing: unknown = await get(WRAPPING_KEY_ENTRY, this.db);
    if (existing !== undefined) return existing;
    // SECURITY: non-extractable: its bytes never leave WebCrypto; IndexedDB stores the key object.
    const fresh = await this.webCrypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ]);
    await update(WRAPPING_KEY_ENTRY, (current: unknown) => current ?? fresh, this.db);
    return get(WRAPPING_KEY_ENTRY, this.db);
  }
}

function params(iv: Uint8Array, key: string): AesGcmParams {
  return { name: 'AES-GCM', iv, additionalData: encodePlainData(key) };
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '' || key === WRAPPING_KEY_ENTRY) {
    throw new TypeError(`idbStateStore: key: expected a non-empty string other than '${WRAPPING_KEY_ENTRY}'`);
  }
}

function isEncryptedRecord(value: unknown): value is EncryptedRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    record['v'] === RECORD_VERSION &&
    record['iv'] instanceof Uint8Array &&
    record['iv'].length === IV_BYTES &&
    record['data'] instanceof Uint8Array
  );
}
