/**
 * `@petfl/sdk/node` — Node-only parts of the SDK. Re-exports only.
 */

export { nodeHttpFetch } from '../client/node-http-fetch.ts';
export { type FileStateStoreOptions, fileStateStore } from './file-state-store.ts';
