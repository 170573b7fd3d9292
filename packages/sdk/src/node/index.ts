/**
 * `@petfl/sdk/node` — Node-only parts of the SDK. Re-exports only.
 */

export { type FileStateStoreOptions, fileStateStore } from './file-state-store.ts';
