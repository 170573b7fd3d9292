/**
 * A `StateStore` (architecture.md §7.2) over React Native's AsyncStorage, which
 * keeps strings only: each key's value is framed plain data (plain-data.ts:
 * magic 'PFLV', format, length, CRC-32 — the file store's format) written as
 * base64url text. Nothing needs `structuredClone`, which Hermes lacks.
 *
 * SECURITY: the saved participant state holds the identity secret key (and,
 * during a sum task, the ephemeral secret key) in the clear, and AsyncStorage
 * is not encrypted. An app that needs more passes a storage of the same shape
 * backed by an encrypted store (REACT-NATIVE.md).
 */

import { fromBase64Url, toBase64Url } from '@petfl/core';
import { ParticipantInitError, ParticipantRestoreError } from '../errors.ts';
import { decodeFramed, encodeFramed } from '../plain-data.ts';
import type { StateStore } from '../state-machine/io.ts';

const VALUE_MAGIC = 'PFLV';

/** The part of AsyncStorage the store uses; `@react-native-async-storage/async-storage`'s default export fits. */
export interface AsyncStorageLike {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

export function asyncStorageStateStore(storage: AsyncStorageLike): StateStore {
  for (const method of ['getItem', 'setItem', 'removeItem'] as const) {
    if (typeof storage?.[method] !== 'function') {
      throw new ParticipantInitError(
        `asyncStorageStateStore: storage.${method}: expected a function (an AsyncStorage), got ${typeof storage?.[method]}`,
      );
    }
  }
  return new AsyncStorageStateStore(storage);
}

class AsyncStorageStateStore implements StateStore {
  private readonly storage: AsyncStorageLike;

  constructor(storage: AsyncStorageLike) {
    this.storage = storage;
  }

  async get(key: string): Promise<unknown> {
    const text = await this.storage.getItem(key);
    if (text === null) return undefined;
    const what = `AsyncStorage item ${key}`;
    try {
      return decodeFramed(VALUE_MAGIC, fromBase64Url(text, what), what);
    } catch (cause) {
      if (cause instanceof ParticipantRestoreError) throw cause;
      throw new ParticipantRestoreError(`${what}: ${cause instanceof Error ? cause.message : String(cause)}`, {
        cause,
      });
    }
  }

  async set(key: string, value: unknown): Promise<void> {
    await this.storage.setItem(key, toBase64Url(encodeFramed(VALUE_MAGIC, value)));
  }

  async del(key: string): Promise<void> {
    await this.storage.removeItem(key);
  }
}
