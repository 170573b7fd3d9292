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

export {
  type CoordinatorClient,
  CoordinatorRejectedError,
  CoordinatorUnavailableError,
} from '../client/coordinator-client.ts';
export {
  type FetchLike,
  HttpCoordinatorClient,
  type HttpCoordinatorClientOptions,
  type RequestInitLike,
  type ResponseLike,
} from '../client/http-client.ts';
export * from '../index.ts';
export {
  type AbortSignalLike,
  type Clock,
  DEFAULT_MAX_CHUNK_DATA,
  type StateStore,
  type StepIo,
} from '../state-machine/io.ts';
export { DEFAULT_STORE_KEY, type RunParticipantOptions, runParticipant } from '../state-machine/run.ts';
export {
  type AwaitingPhase,
  assertNever,
  createInitialState,
  type InitialStateOptions,
  type NewRoundPhase,
  type ParticipantError,
  type ParticipantState,
  type Phase,
  type PhaseKind,
  type SendingPhase,
  STATE_VERSION,
  type Sum2Phase,
  type SumPhase,
  type UpdatePhase,
} from '../state-machine/state.ts';
export { type StepResult, step } from '../state-machine/step.ts';
export { systemClock } from '../system-clock.ts';
export { type AsyncStorageLike, asyncStorageStateStore } from './async-storage-state-store.ts';
