/**
 * `@petfl/sdk` for React Native (the package's `react-native` export
 * condition). Re-exports only (CONVENTIONS §14): the public API, the
 * protocol engine and a state store over AsyncStorage; nothing that needs a
 * browser (the Web Worker entry is not here). None of these modules touches `window`, `document`, `Worker`,
 * `indexedDB` or `WebAssembly` when it loads; hermes-test/ checks that by
 * loading every one of them under Hermes.
 *
 * The app installs the globals Hermes lacks before this is imported
 * (`crypto.getRandomValues`, `TextDecoder`) and passes a `store`, e.g.
 * `asyncStorageStateStore(AsyncStorage)`: see REACT-NATIVE.md.
 */

export * from '../engine.ts';
export * from '../index.ts';
export { type AsyncStorageLike, asyncStorageStateStore } from './async-storage-state-store.ts';
