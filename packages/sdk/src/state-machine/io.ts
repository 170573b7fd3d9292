/**
 * The ports of the participant engine (architecture.md §7.2).
 *
 * `step` is pure protocol logic: everything it needs from the outside world
 * comes in through `StepIo` — the crypto gate, the coordinator, the app's
 * local model and its global-model callback. The run loop adds a `Clock`
 * (timers) and an optional `StateStore` (persistence). Tests swap these
 * adapters; nothing is monkey-patched. The SDK compiles without DOM or Node
 * types, so the platform shapes it touches (AbortSignal) are declared here
 * structurally.
 */

import type { GlobalModel, PetCrypto, PrivacyFilter } from '@petfl/core';
import type { CoordinatorClient } from '../client/coordinator-client.ts';
import type { ParticipantPrivacyOptions } from './privacy.ts';

/** The part of the platform's `AbortSignal` the SDK uses; a real `AbortSignal` fits. */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { readonly once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Time, injected so tests drive it by hand. */
export interface Clock {
  /** Milliseconds since some fixed origin. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds, or early (never rejecting) as soon as `signal` aborts;
   * callers check `signal.aborted` afterwards.
   */
  sleep(ms: number, signal?: AbortSignalLike): Promise<void>;
}

/**
 * Where the participant state is persisted (IndexedDB, AsyncStorage, memory).
 * Values are structured-clonable plain data (architecture.md §7.4); they hold private keys.
 */
export interface StateStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
}

/**
 * What a chunk's request body holds besides its data (protocol.md §3.2, §3.7): the chunk header,
 * the message header and the envelope, 8 + 136 + 48 = 192 bytes (@petfl/core's
 * CHUNK_HEADER_BYTES, HEADER_BYTES and SEAL_OVERHEAD_BYTES; written out, so that Worker mode's
 * main thread, which checks the options, imports nothing of core's: max-chunk-data.test.ts).
 */
export const CHUNK_REQUEST_OVERHEAD = 192;
/**
 * Default largest chunk data per message (protocol.md §3.7): 1 MiB less the overhead, so that a
 * chunk's request body is exactly 1 MiB, the most a proxy with a 1 MiB body limit lets through
 * (nginx's default `client_max_body_size`, docs/operations.md).
 */
export const DEFAULT_MAX_CHUNK_DATA = 1024 * 1024 - CHUNK_REQUEST_OVERHEAD;
/** The least `maxChunkData` a participant may be given (options.ts): 1 KiB. */
export const MIN_CHUNK_DATA = 1024;
/** The most: requests of exactly the coordinator's default body limit, 16 MiB (docs/security.md). */
export const MAX_CHUNK_DATA = 16 * 1024 * 1024 - CHUNK_REQUEST_OVERHEAD;

/** What one `step` needs from the outside world. */
export interface StepIo {
  readonly crypto: PetCrypto;
  readonly client: CoordinatorClient;
  /**
   * The app's local model for an update task in round `roundId`, or undefined while it has none
   * (the participant then waits until one is set or the round moves on), or null when the app
   * sits this round out (the participant awaits the next round). A throw is recorded as
   * `lastError` ('callback-failed') and the participant skips the round.
   */
  localModel(roundId: number): Promise<ArrayLike<number> | null | undefined> | ArrayLike<number> | null | undefined;
  /** Called once per new global model (protocol.md §3.10). A throw is recorded as `lastError`. */
  onGlobalModel?(model: GlobalModel): void;
  /** Largest payload sent as one message; larger ones are split into chunks (default 1 MiB). */
  readonly maxChunkData?: number;
  /** The participant's own privacy limit (`options.privacy`, docs/privacy.md §3): rounds over it are sat out. */
  readonly privacy?: ParticipantPrivacyOptions;
  /** Privacy filters applied, in order, to every update before anything else (`options.privacyFilters`). */
  readonly privacyFilters?: readonly PrivacyFilter[];
}
