/**
 * Sending: posting a sealed message (protocol.md §3.2), or the chunks of a
 * multipart one (§3.7), one per step. Each accepted chunk advances `next`
 * and is a 'complete' step, so the progress is saved and a restart resumes
 * with the next chunk rather than the whole message. After the last one the
 * participant enters `after`.
 *
 * The phase holds the encoded payload, not sealed messages: each message is
 * framed, signed and sealed when it is posted. A chunk posted again — after a
 * transient failure, or after a restart from a state saved before its 202 —
 * is rebuilt from the same payload, message id and index, and Ed25519
 * signatures are deterministic, so the coordinator opens byte-identical chunk
 * bytes (only the envelope differs: each draws a fresh one-time key, ADR 0019); protocol.md §3.7 accepts such a retry again and it changes nothing.
 * A whole message resent after its 202 was lost is 'duplicate-message': the
 * coordinator already holds it, and the participant moves on.
 *
 * A refusal (4xx) abandons the round with the coordinator's code as
 * `lastError`; a transient failure leaves the state as it is (step answers
 * 'pending') and the same chunk is posted again later.
 *
 * While a chunk is in flight the next one is sealed (`sealAhead`), so
 * sealing overlaps the request and the coordinator's work on it rather than
 * following it (docs/architecture.md §5.3). The sealed chunk is kept in memory
 * only, for the next step of the same phase; a restored state seals anew.
 */

import { encodePayload, MAX_CHUNKS, type Payload, PetError, sealChunk, sealFrame } from '@petfl/core';
import { CoordinatorRejectedError } from '../../client/coordinator-client.ts';
import { systemClock } from '../../system-clock.ts';
import { DEFAULT_MAX_CHUNK_DATA, type StepIo } from '../io.ts';
import {
  type InRoundState,
  messageCount,
  type ParticipantState,
  type PhaseState,
  type SendingPhase,
} from '../state.ts';
import { complete, type StepResult } from '../step-result.ts';
import { deliverGlobalModel } from './new-round.ts';

export async function sending(state: PhaseState<'sending'>, io: StepIo): Promise<StepResult> {
  const { phase } = state;
  const count = messageCount(phase);
  if (phase.next >= count) return complete(await sent(state, io));
  const message = takeSealedAhead(state, phase.next) ?? sealPart(state, io, phase.next, count);
  const posting = io.client.postMessage(message);
  const ahead = phase.next + 1 < count ? sealAhead(state, io, phase.next + 1, count) : undefined;
  try {
    await posting;
  } catch (error) {
    // The coordinator already holds this message: a restart re-sent one whose 202 was never saved.
    if (error instanceof CoordinatorRejectedError && error.code === 'duplicate-message') {
      return complete(await sent(state, io));
    }
    throw error; // step: refused → abandon the round, unavailable → pending
  } finally {
    await ahead;
  }
  const next = phase.next + 1;
  return complete(next < count ? { ...state, phase: { ...phase, next } } : await sent(state, io));
}

/**
 * The message is sent: the phase after it. A sum participant's Sum is sent before it takes the
 * round's global model (new-round.ts), so the model is handed over now.
 */
async function sent(state: PhaseState<'sending'>, io: StepIo): Promise<ParticipantState> {
  const after = { ...state, phase: state.phase.after };
  return state.phase.tag === 'sum' ? deliverGlobalModel(after, io) : after;
}

/** A payload already encoded (an update masked straight into its encoding, update.ts). */
export interface EncodedPayload {
  readonly kind: Payload['kind'];
  readonly bytes: Uint8Array;
}

/**
 * Encodes a payload (unless it comes encoded) and enters the sending phase: one message when it
 * fits `maxChunkData`, else chunks under a random message id (protocol.md §3.7). Nothing is
 * sealed yet (see above).
 */
export function startSending(
  state: InRoundState,
  io: StepIo,
  payload: Payload | EncodedPayload,
  after: SendingPhase['after'],
): ParticipantState {
  const maxChunkData = io.maxChunkData ?? DEFAULT_MAX_CHUNK_DATA;
  if (!Number.isSafeInteger(maxChunkData) || maxChunkData < 1) {
    throw new PetError('invalid-field', `maxChunkData: expected a positive integer, got ${maxChunkData}`);
  }
  const bytes = 'bytes' in payload ? payload.bytes : encodePayload(payload);
  const messageId = bytes.length <= maxChunkData ? undefined : randomMessageId(io);
  const phase: SendingPhase = {
    kind: 'sending',
    tag: payload.kind,
    payload: bytes,
    messageId,
    maxChunkData,
    next: 0,
    after,
  };
  const count = messageCount(phase);
  if (count > MAX_CHUNKS) {
    throw new PetError(
      'oversized',
      `payload: expected at most ${MAX_CHUNKS} chunks of ${maxChunkData} bytes, got ${bytes.length} bytes (${count} chunks)`,
    );
  }
  return { ...state, phase };
}

/** The `index`-th of `count` messages of the phase, framed, signed and sealed to the round key. */
function sealPart(state: PhaseState<'sending'>, io: StepIo, index: number, count: number): Uint8Array {
  const { phase, round, identity } = state;
  const { messageId, maxChunkData, payload } = phase;
  const fields = {
    participantPk: identity.publicKey,
    coordinatorPk: round.coordinatorPk,
    tag: phase.tag,
    multipart: messageId !== undefined,
  };
  // SECURITY: the identity secret key (owned by the state) signs every message and chunk.
  // Framed, signed and sealed in one buffer in libsodium's memory (protocol.md §3.2); a chunk is
  // written into it straight from the payload.
  if (messageId === undefined) return sealFrame(io.crypto, fields, payload, identity.secretKey);
  const data = payload.subarray(index * maxChunkData, (index + 1) * maxChunkData);
  return sealChunk(io.crypto, fields, { index, messageId, last: index === count - 1, data }, identity.secretKey);
}

/** A chunk sealed while the one before it was in flight, by the payload it is a chunk of. */
interface SealedAhead {
  readonly index: number;
  readonly messageId: number | undefined;
  readonly coordinatorPk: Uint8Array;
  readonly message: Uint8Array;
}

const sealedAhead = new WeakMap<Uint8Array, SealedAhead>();

/**
 * Seals chunk `index` once the request posting the chunk before it has been handed to the
 * transport: a turn of the event loop, so a transport that writes on a later tick (node:http
 * assigns its socket on one) is not held up by the sealing. Never rejects: a chunk that could
 * not be sealed ahead is sealed when it is posted, and fails there.
 */
async function sealAhead(state: PhaseState<'sending'>, io: StepIo, index: number, count: number): Promise<void> {
  await systemClock.sleep(0);
  try {
    const message = sealPart(state, io, index, count);
    const { messageId, payload } = state.phase;
    sealedAhead.set(payload, { index, messageId, coordinatorPk: state.round.coordinatorPk, message });
  } catch {
    sealedAhead.delete(state.phase.payload);
  }
}

/** Chunk `index` of this phase's payload, if it was sealed ahead for this round's key; taken once. */
function takeSealedAhead(state: PhaseState<'sending'>, index: number): Uint8Array | undefined {
  const { payload, messageId } = state.phase;
  const kept = sealedAhead.get(payload);
  if (kept === undefined) return undefined;
  sealedAhead.delete(payload);
  const same = kept.index === index && kept.messageId === messageId && kept.coordinatorPk === state.round.coordinatorPk;
  return same ? kept.message : undefined;
}

function randomMessageId(io: StepIo): number {
  const [hi = 0, lo = 0] = io.crypto.randomBytes(2);
  return (hi << 8) | lo;
}
