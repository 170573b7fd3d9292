/**
 * `@petfl/sdk` for React Native (the package's `react-native` export
 * condition). Re-exports only (architecture.md §7.2): the public API, the
 * protocol engine and the state stores over AsyncStorage — plain, and sealed
 * under a key in the Keychain/Keystore; nothing that needs a browser (the Web
 * Worker entry is not here). None of these modules touches `window`,
 * `document`, `Worker`, `indexedDB` or `WebAssembly` when it loads;
 * e2e/consumers/react-native.test.ts checks that, loading every one of them from a Metro bundle under Hermes.
 *
 * The app installs the globals Hermes lacks before this is imported
 * (`crypto.getRandomValues`, `TextDecoder`) and passes a `store`, e.g.
 * `secureStateStore({ storage: AsyncStorage, keySlot: expoSecureStoreKeySlot(SecureStore) })`:
 * see REACT-NATIVE.md.
 */

export * from '../engine.ts';
export * from '../index.ts';
export { type AsyncStorageLike, asyncStorageStateStore } from './async-storage-state-store.ts';
export {
  DEFAULT_KEY_NAME,
  type ExpoSecureStoreLike,
  expoSecureStoreKeySlot,
  type KeySlot,
  type ReactNativeKeychainLike,
  reactNativeKeychainKeySlot,
  type SecureStateStoreOptions,
  secureStateStore,
} from './secure-state-store.ts';
