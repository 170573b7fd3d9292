/**
 * An in-memory `StateStore`: for tests, servers and apps that persist the
 * state themselves. Values are copied on the way in and out, as a real store
 * (IndexedDB) would, so no caller shares buffers with the store: a byte array
 * (a sending phase's payload, state-saver.ts) by one copy of its bytes, anything
 * else by `structuredClone`. Without `structuredClone` (Hermes) values are copied
 * through the plain-data codec instead, which holds the same kinds of values a
 * saved state does.
 *
 * The byte-array path matters at real model sizes: `structuredClone` serializes
 * into a buffer it grows as it goes and then deserializes, where this makes one
 * copy; for a 1,000,000-weight update's 6.4 MB payload, the time in `store.set` went
 * from 34–45 ms to 16–23 ms (README.md, "A participant's state during a 10⁶-weight
 * update"; bench/results/participant-state.json).
 */

import { decodePlainData, encodePlainData } from '../plain-data.ts';
import type { StateStore } from './io.ts';

const platformClone = (globalThis as unknown as { structuredClone?: <T>(value: T) => T }).structuredClone;

/**
 * A copy with a buffer of its own: a plain Uint8Array of the same bytes for a Uint8Array (a
 * Node Buffer too, whose `slice` would share its memory; structuredClone also gives a plain
 * Uint8Array), else structuredClone (or the plain-data codec where the platform has none).
 */
function copy<T>(value: T): T {
  if (value instanceof Uint8Array) return new Uint8Array(value) as T;
  return platformClone === undefined ? (decodePlainData(encodePlainData(value)) as T) : platformClone(value);
}

export class MemoryStateStore implements StateStore {
  private readonly values = new Map<string, unknown>();

  async get(key: string): Promise<unknown> {
    return this.values.has(key) ? copy(this.values.get(key)) : undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    this.values.set(key, copy(value));
  }

  async del(key: string): Promise<void> {
    this.values.delete(key);
  }
}
