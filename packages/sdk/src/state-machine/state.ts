/**
 * The participant state (architecture.md §5.1, §7.4): versioned plain data
 * — Uint8Array, numbers, strings, plain objects, no class instances — so it
 * can be structured-cloned, saved to IndexedDB or AsyncStorage, posted to a
 * worker and restored, at any step.
 *
 * `phase` is a discriminated union over the participant's place in the round
 * (protocol.md §1.1): 'new-round' (about to select its task), 'awaiting'
 * (nothing to do until the next round), 'sum', 'update', 'sum2' (doing that
 * task), and 'sending' (posting a message's chunks, sealed one per step from
 * the payload it holds, then entering `after`). Each phase holds exactly what
 * its next step needs.
 *
 * SECURITY: the state holds the identity secret key and, during a sum task,
 * the ephemeral secret key, and while sending the unsealed payload (a masked
 * model, an aggregated mask: meant for the coordinator only). Store it where
 * the app's secrets go.
 */

import {
  type EncryptKeyPair,
  isPetError,
  type MessageTag,
  type PetCrypto,
  PetError,
  type RoundParameters,
  type SigningKeyPair,
} from '@petfl/core';
import { CoordinatorRejectedError, CoordinatorUnavailableError } from '../client/coordinator-client.ts';
import type { PrivacyLedger } from './privacy.ts';

/**
 * 2: the sending phase holds the unsealed payload and progress (state-codec.ts); 1 held every
 * sealed message (state-codec.ts migrates it).
 */
export const STATE_VERSION = 2;

/**
 * The last error the participant met, kept until a newer one replaces it. `code` is a PetError
 * code (from the coordinator's 4xx answer or from local work), or one of the SDK's own:
 * 'callback-failed' (an app callback threw), 'unavailable' (the coordinator could not be
 * reached), 'update-too-late' (the local model was ready only after the update phase had
 * closed, so it was not sent), 'store-failed' (saving the state failed), 'internal' (anything
 * else).
 */
export interface ParticipantError {
  readonly code: string;
  readonly message: string;
  /** The round it happened in, if any. */
  readonly roundId: number | undefined;
}

export interface NewRoundPhase {
  readonly kind: 'new-round';
}

export interface AwaitingPhase {
  readonly kind: 'awaiting';
}

export interface SumPhase {
  readonly kind: 'sum';
  readonly sumSignature: Uint8Array;
  // SECURITY: the ephemeral X25519 key pair of this round's sum task (protocol.md §1.1); its
  // secret opens the encrypted mask seeds in sum2 and is wiped once the Sum2 is sealed or the
  // round is abandoned.
  readonly ephemeral: EncryptKeyPair;
}

export interface UpdatePhase {
  readonly kind: 'update';
  readonly sumSignature: Uint8Array;
  readonly updateSignature: Uint8Array;
}

export interface Sum2Phase {
  readonly kind: 'sum2';
  readonly sumSignature: Uint8Array;
  // SECURITY: the same ephemeral key pair as in SumPhase; wiped once the Sum2 is sealed.
  readonly ephemeral: EncryptKeyPair;
}

/**
 * Posting a payload as one message or chunk by chunk (protocol.md §3.2, §3.7); a restart resumes
 * at `next`. Each message is signed and sealed from `payload` when it is posted (phases/sending.ts),
 * so the state holds the payload once, and a store holds it once per message (state-saver.ts):
 * the saves after each chunk write only the progress.
 */
export interface SendingPhase {
  readonly kind: 'sending';
  readonly tag: MessageTag;
  /**
   * The encoded payload (protocol.md §3.3–3.5), unsealed; never changed once sending starts (the
   * store keeps it by identity, state-saver.ts). Megabytes for a large model.
   */
  readonly payload: Uint8Array;
  /** The message id of its chunks (protocol.md §3.7), or undefined: the payload goes as one message. */
  readonly messageId: number | undefined;
  /** The largest chunk data per message it is split into (protocol.md §3.7). */
  readonly maxChunkData: number;
  /** Index of the next message (chunk) to post; those before it were accepted. */
  readonly next: number;
  /** The phase entered once the last message is accepted. */
  readonly after: AwaitingPhase | Sum2Phase;
}

/** How many messages a sending phase posts: one, or one per chunk (protocol.md §3.7). */
export function messageCount(phase: Pick<SendingPhase, 'payload' | 'messageId' | 'maxChunkData'>): number {
  return phase.messageId === undefined ? 1 : Math.max(1, Math.ceil(phase.payload.length / phase.maxChunkData));
}

export type Phase = NewRoundPhase | AwaitingPhase | SumPhase | UpdatePhase | Sum2Phase | SendingPhase;
export type PhaseKind = Phase['kind'];

export interface ParticipantState {
  readonly v: typeof STATE_VERSION;
  // SECURITY: the Ed25519 identity key pair; the secret key signs task signatures and messages
  // for the participant's whole lifetime and lives only in this state (and where it is stored).
  readonly identity: SigningKeyPair;
  /** The participant's weight in the global model (protocol.md §4.6). */
  readonly scalar: number;
  /** The current round's parameters (protocol.md §3.9), or undefined before the first round. */
  readonly round: RoundParameters | undefined;
  /** Round id of the last global model handed to the app. */
  readonly lastGlobalModelRound: number | undefined;
  readonly lastError: ParticipantError | undefined;
  readonly phase: Phase;
  /**
   * The ε this participant's data has spent: one event per round it sent an update in under a
   * privacy promise (docs/privacy.md §3); absent until the first such round.
   */
  readonly privacyLedger?: PrivacyLedger;
}

/** A state whose round is known. */
export type InRoundState = ParticipantState & { readonly round: RoundParameters };

/** A state whose round is known and whose phase is `K`: what a phase function works on. */
export type PhaseState<K extends PhaseKind> = InRoundState & { readonly phase: Extract<Phase, { readonly kind: K }> };

export interface InitialStateOptions {
  /** The participant's weight (default 1: a plain average); a finite number ≥ 0. */
  readonly scalar?: number;
  /** 32 bytes to derive the identity key from (default: a fresh random key). */
  readonly identitySeed?: Uint8Array;
}

/** A participant that has not seen a round yet, with a fresh (or seed-derived) identity. */
export function createInitialState(crypto: PetCrypto, options: InitialStateOptions = {}): ParticipantState {
  const scalar = options.scalar ?? 1;
  if (typeof scalar !== 'number' || !Number.isFinite(scalar) || scalar < 0) {
    throw new PetError('invalid-scalar', `scalar: expected a finite number ≥ 0, got ${scalar}`);
  }
  // SECURITY: the identity key pair is created here and owned by the state from now on.
  const { publicKey, secretKey } = crypto.signingKeyPair(options.identitySeed);
  return {
    v: STATE_VERSION,
    identity: { publicKey, secretKey },
    scalar,
    round: undefined,
    lastGlobalModelRound: undefined,
    lastError: undefined,
    phase: { kind: 'new-round' },
  };
}

/**
 * Turns anything thrown into the state's error record; `code` is used for non-protocol errors.
 * Coordinator data that failed to decode (even after the client's retries) carries the
 * decoder's code ('unsorted-keys', 'truncated', …), not 'unavailable'.
 */
export function participantError(error: unknown, roundId: number | undefined, code = 'internal'): ParticipantError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof CoordinatorRejectedError || isPetError(error)) return { code: error.code, message, roundId };
  const malformed = malformedCoordinatorData(error);
  if (malformed !== undefined) return { code: malformed.code, message, roundId };
  if (error instanceof CoordinatorUnavailableError) return { code: 'unavailable', message, roundId };
  return { code, message, roundId };
}

/**
 * The decoder's PetError when `error` is the client's report of coordinator data that does not
 * decode (a `CoordinatorUnavailableError` caused by a PetError): the coordinator sent it, the
 * client asked again, and asking once more will not make it decode.
 */
export function malformedCoordinatorData(error: unknown): PetError | undefined {
  if (!(error instanceof CoordinatorUnavailableError)) return undefined;
  return isPetError(error.cause) ? error.cause : undefined;
}

/**
 * Whether retrying the step that threw `error` could help: only when the coordinator could not
 * be reached or answered 5xx (`CoordinatorUnavailableError` without a decoding error). A
 * refusal, a PetError (crypto-failed, invalid-key, a decoder's code) or malformed coordinator
 * data is permanent for this round: the step that met it gives the round up.
 */
export function isTransient(error: unknown): boolean {
  return error instanceof CoordinatorUnavailableError && malformedCoordinatorData(error) === undefined;
}

/**
 * Wipes the ephemeral secret key a phase holds, if any: for a phase being left for good (the
 * round was abandoned or moved on). The caller must keep only the state that no longer refers
 * to it.
 */
export function wipePhaseSecrets(crypto: PetCrypto, phase: Phase): void {
  const holder = phase.kind === 'sending' ? phase.after : phase;
  // SECURITY: the ephemeral secret of an abandoned sum task is not needed any more.
  if (holder.kind === 'sum' || holder.kind === 'sum2') crypto.wipe(holder.ephemeral.secretKey);
}

/** Exhaustiveness check of a `switch` over a union (architecture.md §7.4). */
export function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
