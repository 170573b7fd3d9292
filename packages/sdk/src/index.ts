/**
 * @petfl/sdk — the participant (architecture.md §5). Re-exports only (architecture.md §7.2).
 * Training runs: `fetchRunInfo` (`GET /run`) and the vector-layout API of @petfl/core that a
 * participant needs to build what it masks (`encodeContribution`, `splitGlobal`, …), so that
 * apps and @petfl/tfjs depend on the SDK alone.
 * Subpaths: `@petfl/sdk/idb` (IndexedDB state store), `@petfl/sdk/node` (file
 * state store), `@petfl/sdk/react` (useParticipant), `@petfl/sdk/engine`
 * (the protocol engine).
 */

export {
  type Contribution,
  type Evaluation,
  encodeContribution,
  globalLength,
  maskedLength,
  type SendKind,
  splitGlobal,
  type VectorLayout,
  validateVectorLayout,
} from '@petfl/core';
export {
  type AsyncParticipant,
  type SpawnedAsyncParticipant,
  spawnAsyncParticipant,
} from './async-participant.ts';
export type { TokenSource } from './client/admission-token.ts';
export { CoordinatorRejectedError, CoordinatorUnavailableError } from './client/coordinator-client.ts';
export type { FetchLike } from './client/http-client.ts';
export {
  CryptoInitError,
  GlobalModelDataTypeMismatchError,
  GlobalModelUnavailableError,
  LocalModelDataTypeMismatchError,
  LocalModelLengthMismatchError,
  ParticipantInitError,
  ParticipantRestoreError,
  PetflError,
  UninitializedParticipantError,
} from './errors.ts';
export { handOver } from './local-model.ts';
export type { LoggerLike, LogLevel } from './logger.ts';
export type { ModelNotifier } from './model-notifier.ts';
export type { ParticipantOptions } from './options.ts';
export { ParticipantABC } from './participant-abc.ts';
export {
  type FetchRunInfoOptions,
  fetchRunInfo,
  type RunEnd,
  type RunInfo,
  type RunPrivacy,
  type RunStatus,
} from './run-info.ts';
export {
  createParticipantRuntime,
  type ParticipantRuntime,
  type ParticipantRuntimeInit,
  type ReportContext,
  type RuntimeCallbacks,
} from './runtime.ts';
export type { Observable, ParticipantSnapshot } from './snapshot.ts';
export { type ParticipantHandle, type RuntimeFactory, spawnParticipant } from './spawn-participant.ts';
export { deserializeState, serializeState } from './state-codec.ts';
export type { AbortSignalLike, StateStore } from './state-machine/io.ts';
export { MemoryStateStore } from './state-machine/memory-state-store.ts';
export type { ParticipantState } from './state-machine/state.ts';
