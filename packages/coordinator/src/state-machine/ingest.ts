/**
 * The CPU work of a message, apart from the round's state (protocol.md §3.2, §3.7): opening it
 * (its envelope, ADR 0019; the header, the Ed25519 signature of the whole message), the
 * eligibility check on its leading signatures (eligibility.ts), and decoding its payload. Each is
 * a pure function of its request, so it may run on any thread.
 *
 * `MessageIngest` is the port the coordinator calls. `inProcessIngest` does the work on the
 * coordinator's own thread, exactly as the pipeline always did (the eligibility check stays with
 * the coordinator, after its cheaper checks). On Node a pool of worker threads can do it instead
 * (node/ingest-pool.ts, setting `api.ingest_workers`, docs/operations.md); whatever finishes
 * first, the coordinator takes the results in the order the messages arrived (coordinator.ts), so
 * where the work runs changes only the time it takes.
 */

import {
  decodeChunk,
  decodePayload,
  type EncryptKeyPair,
  isPetError,
  joinBytes,
  type MessageTag,
  type OpenedFrame,
  openFrame,
  type Payload,
  type PayloadExpectation,
  type PetCrypto,
  PetError,
} from '@petfl/core';
import { type EligibilityFacts, type EligibilityVerdict, eligibilityVerdict } from './eligibility.ts';

export interface OpenRequest {
  readonly sealed: Uint8Array;
  /**
   * The caller gives `sealed.buffer` up: an ingest on another thread may move it there instead of
   * copying it (the caller's array is then detached), and the message is opened over its bytes
   * (`openFrame`'s `inPlace`) instead of into a new array.
   */
  readonly handOver: boolean;
  /** The key pair of the round in progress; undefined between rounds. */
  readonly key: EncryptKeyPair | undefined;
  /** The key pair of the round just ended, to tell a late message from garbage. */
  readonly previousKey: EncryptKeyPair | undefined;
  /** The round's seed and probabilities: an ingest may check the leading signatures too. */
  readonly eligibility: EligibilityFacts | undefined;
}

export type OpenOutcome =
  | {
      readonly kind: 'opened';
      readonly frame: OpenedFrame;
      /**
       * The signature checks on the payload's leading bytes (a whole message's payload, or chunk
       * 0's data), when the ingest made them; undefined when it did not (the coordinator then does).
       */
      readonly eligibility?: EligibilityVerdict;
    }
  /** The message opens with the previous round's key only: it is late ('wrong-round'). */
  | { readonly kind: 'late' };

export interface DecodeRequest {
  readonly tag: MessageTag;
  /**
   * The payload: whole, or a multipart message's chunk data in order, not yet joined
   * (`ChunkAssembler.addPart`): the ingest joins them where it decodes.
   */
  readonly bytes: Uint8Array | readonly Uint8Array[];
  /** As in `OpenRequest`: the caller gives up the buffer of `bytes` (of each part). */
  readonly handOver: boolean;
  readonly expect: PayloadExpectation;
}

/**
 * Where messages are opened and decoded. Failures are the PetErrors the core's functions throw
 * ('decrypt-failed' when the message opens with neither key, 'bad-signature', 'truncated', …);
 * an ingest that cannot do the work now (a worker that died) answers PetError 'unavailable'.
 */
export interface MessageIngest {
  open(request: OpenRequest): Promise<OpenOutcome>;
  decode(request: DecodeRequest): Promise<Payload>;
}

/**
 * Opens a message: with the round's key, else — when it does not decrypt — with the previous
 * round's ('late'). With `checkEligibility`, also the leading signatures' verdict.
 */
export function openMessageWork(crypto: PetCrypto, request: OpenRequest, checkEligibility: boolean): OpenOutcome {
  const { sealed, key, previousKey, eligibility } = request;
  let frame: OpenedFrame;
  try {
    if (key === undefined) throw new PetError('decrypt-failed', 'message: no round is in progress');
    // Handed over: opened where it lies, not into a new array of the message's size.
    frame = openFrame(crypto, sealed, key, { inPlace: request.handOver });
  } catch (error) {
    if (isPetError(error, 'decrypt-failed') && previousKey !== undefined && opensWith(crypto, sealed, previousKey)) {
      return { kind: 'late' };
    }
    throw error;
  }
  if (!checkEligibility || eligibility === undefined) return { kind: 'opened', frame };
  const prefix = leadingBytes(frame);
  if (prefix === undefined) return { kind: 'opened', frame };
  return {
    kind: 'opened',
    frame,
    eligibility: eligibilityVerdict(crypto, eligibility, frame.tag, frame.participantPk, prefix),
  };
}

/** Decodes a payload (a whole message's, or a multipart one's parts, joined first). */
export function decodeMessageWork(request: DecodeRequest): Payload {
  const { bytes } = request;
  // Masked models and masks stay packed (ADR 0018) in bytes that are the ingest's own to keep: the
  // payload handed over, or the parts joined here; unless the expectation says not to. Else they
  // are unpacked into arrays of their own.
  const whole = bytes instanceof Uint8Array;
  const expect = { ...request.expect, packed: (request.expect.packed ?? true) && (request.handOver || !whole) };
  return decodePayload(request.tag, whole ? bytes : joinBytes(bytes), expect);
}

/** The bytes the eligibility checks read: the payload, or chunk 0's data; undefined for a later chunk. */
function leadingBytes(frame: OpenedFrame): Uint8Array | undefined {
  if (!frame.multipart) return frame.body;
  const chunk = decodeChunk(frame.body);
  return chunk.index === 0 ? chunk.data : undefined;
}

function opensWith(crypto: PetCrypto, sealed: Uint8Array, keyPair: EncryptKeyPair): boolean {
  try {
    crypto.openEnvelope(sealed, keyPair);
    return true;
  } catch {
    return false; // not the previous round's either: the caller reports decrypt-failed
  }
}

/** The work on the coordinator's own thread. */
export function inProcessIngest(crypto: PetCrypto): MessageIngest {
  return {
    open: async (request) => openMessageWork(crypto, request, false),
    decode: async (request) => decodeMessageWork(request),
  };
}
