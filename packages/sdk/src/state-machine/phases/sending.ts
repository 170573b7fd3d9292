/**
 * Sending: posting a sealed message (protocol.md §3.2), or the chunks of a
 * multipart one (§3.7), one per step. Each accepted chunk advances `next`
 * and is a 'complete' step, so the progress is saved and a restart resumes
 * with the next chunk rather than the whole message. After the last one the
 * participant enters `after`.
 *
 * A refusal (4xx) abandons the round with the coordinator's code as
 * `lastError`; a transient failure leaves the state as it is (step answers
 * 'pending') and the same chunk is posted again later.
 */

import { type Payload, SUM_BYTES, sealMessage, sealMessageChunks, sum2ByteLength, updateByteLength } from '@petfl/core';
import { CoordinatorRejectedError } from '../../client/coordinator-client.ts';
import { DEFAULT_MAX_CHUNK_DATA, type StepIo } from '../io.ts';
import { assertNever, type InRoundState, type ParticipantState, type PhaseState, type SendingPhase } from '../state.ts';
import { complete, type StepResult } from '../step-result.ts';

export async function sending(state: PhaseState<'sending'>, io: StepIo): Promise<StepResult> {
  const { phase } = state;
  const message = phase.messages[phase.next];
  if (message === undefined) return complete({ ...state, phase: phase.after });
  try {
    await io.client.postMessage(message);
  } catch (error) {
    // The coordinator already holds this message: a restart re-sent one whose 202 was never saved.
    if (error instanceof CoordinatorRejectedError && error.code === 'duplicate-message') {
      return complete({ ...state, phase: phase.after });
    }
    throw error; // step: refused → abandon the round, unavailable → pending
  }
  const next = phase.next + 1;
  return complete({ ...state, phase: next < phase.messages.length ? { ...phase, next } : phase.after });
}

/**
 * Signs and seals a payload to the round key and enters the sending phase: one message when
 * the payload fits `maxChunkData`, else chunks under a random message id (protocol.md §3.7).
 */
export function startSending(
  state: InRoundState,
  io: StepIo,
  payload: Payload,
  after: SendingPhase['after'],
): ParticipantState {
  const maxChunkData = io.maxChunkData ?? DEFAULT_MAX_CHUNK_DATA;
  const message = { participantPk: state.identity.publicKey, coordinatorPk: state.round.coordinatorPk, payload };
  // SECURITY: the identity secret key (owned by the state) signs every message and chunk.
  const secretKey = state.identity.secretKey;
  const messages =
    payloadByteLength(payload) <= maxChunkData
      ? [sealMessage(io.crypto, message, secretKey)]
      : sealMessageChunks(io.crypto, message, secretKey, { maxChunkData, messageId: randomMessageId(io) });
  return { ...state, phase: { kind: 'sending', tag: payload.kind, messages, next: 0, after } };
}

function payloadByteLength(payload: Payload): number {
  switch (payload.kind) {
    case 'sum':
      return SUM_BYTES;
    case 'update':
      return updateByteLength(payload.update);
    case 'sum2':
      return sum2ByteLength(payload.sum2);
    default:
      return assertNever(payload);
  }
}

function randomMessageId(io: StepIo): number {
  const [hi = 0, lo = 0] = io.crypto.randomBytes(2);
  return (hi << 8) | lo;
}
