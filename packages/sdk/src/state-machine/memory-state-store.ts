/**
 * An in-memory `StateStore`: for tests, servers and apps that persist the
 * state themselves. Values are structured-cloned on the way in and out, as a
 * real store (IndexedDB) would, so no caller shares buffers with the store.
 * Without `structuredClone` (Hermes) values are copied through the plain-data
 * codec instead, which holds the same kinds of values a saved state does.
 */

import { decodePlainData, encodePlainData } from '../plain-data.ts';
import type { StateStore } from './io.ts';

const platformClone = (globalThis as unknown as { structuredClone?: <T>(value: T) => T }).structuredClone;

/** structuredClone where the platform has it; Hermes (React Native) has not: copy through the plain-data codec. */
const structuredClone = <T>(value: T): T =>
  platformClone === undefined ? (decodePlainData(encodePlainData(value)) as T) : platformClone(value);

export class MemoryStateStore implements StateStore {
  private readonly values = new Map<string, unknown>();

  async get(key: string): Promise<unknown> {
    return this.values.has(key) ? structuredClone(this.values.get(key)) : undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    this.values.set(key, structuredClone(value));
  }

  async del(key: string): Promise<void> {
    this.values.delete(key);
  }
}
