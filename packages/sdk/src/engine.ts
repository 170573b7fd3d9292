/**
 * `@petfl/sdk/engine` — the participant protocol engine: state, step, run
 * loop, ports and the HTTP coordinator client. Re-exports only
 * (architecture.md §7.2); ParticipantABC and AsyncParticipant build on it.
 */

export { AdmissionTokenError, type TokenSource } from './client/admission-token.ts';
export {
  type CoordinatorClient,
  CoordinatorRejectedError,
  CoordinatorUnavailableError,
} from './client/coordinator-client.ts';
export {
  type FetchLike,
  HttpCoordinatorClient,
  type HttpCoordinatorClientOptions,
  type RequestInitLike,
  type ResponseLike,
} from './client/http-client.ts';
export {
  type AbortSignalLike,
  CHUNK_REQUEST_OVERHEAD,
  type Clock,
  DEFAULT_MAX_CHUNK_DATA,
  MAX_CHUNK_DATA,
  MIN_CHUNK_DATA,
  type StateStore,
  type StepIo,
} from './state-machine/io.ts';
export { MemoryStateStore } from './state-machine/memory-state-store.ts';
export { DEFAULT_STORE_KEY, type RunParticipantOptions, runParticipant } from './state-machine/run.ts';
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
} from './state-machine/state.ts';
export { type StepResult, step } from './state-machine/step.ts';
export { systemClock } from './system-clock.ts';
