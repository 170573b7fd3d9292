/**
 * `@petfl/sdk/idb` — the IndexedDB state store (encrypted at rest). Re-exports only.
 */

export { type IdbStateStoreOptions, idbStateStore } from './idb-state-store.ts';
