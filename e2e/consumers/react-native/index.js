/**
 * The app's entry file. An app puts its polyfills first (REACT-NATIVE.md, "Globals the app must
 * provide") and then registers its root component; this one has no UI and no React Native
 * runtime to register with. The test copies into scenario/, before bundling: the globals
 * (polyfills.ts, standing in for the polyfill packages and React Native's setup), the protocol
 * scenario and its entry (main.ts, which prints the report), all from packages/sdk/hermes-test/,
 * and the engine tests' in-memory coordinator (packages/sdk/test-support/fake-coordinator.ts),
 * their imports of the SDK's sources pointed at `@petfl/sdk`.
 */
import './scenario/polyfills.ts';
import './scenario/main.ts';
