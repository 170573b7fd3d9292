/**
 * Messages (protocol.md §3.1): a 136-byte header followed by a payload whose
 * kind the header's tag names. This file holds the payload union and the
 * unsigned encoding; signing, sealing and opening are in seal.ts.
 *
 * ```text
 *   0                                   136                      length
 *   +-----------------------------------+--------------------------+
 *   | header (§3.1): signature, keys,   | payload: Sum (§3.3),     |
 *   | length, tag, flags, reserved      | Update (§3.4), Sum2 (§3.5)|
 *   +-----------------------------------+--------------------------+
 *   signed: bytes 64..length
 * ```
 */

import { ByteWriter } from '../bytes.ts';
import { SIGNATURE_BYTES } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import { assertNever, type MaskConfig } from '../mask/config.ts';
import { HEADER_BYTES, MAX_MESSAGE_BYTES, type MessageTag, writeHeader } from './header.ts';
import { decodeSum, encodeSum, type Sum } from './sum.ts';
import { decodeSum2, encodeSum2, type Sum2 } from './sum2.ts';
import { decodeUpdate, encodeUpdate, type Update } from './update.ts';

export type Payload =
  | { readonly kind: 'sum'; readonly sum: Sum }
  | { readonly kind: 'update'; readonly update: Update }
  | { readonly kind: 'sum2'; readonly sum2: Sum2 };

export interface Message {
  /** The sender's Ed25519 identity key. */
  readonly participantPk: Uint8Array;
  /** The round's X25519 key the message is sealed to. */
  readonly coordinatorPk: Uint8Array;
  readonly payload: Payload;
}

/** The round's mask config and model length, which masked models and masks must match. */
export interface PayloadExpectation {
  readonly config: MaskConfig;
  readonly modelLength: number;
}

/** The fields of a message frame other than its signature and payload. */
export interface FrameFields {
  readonly participantPk: Uint8Array;
  readonly coordinatorPk: Uint8Array;
  readonly tag: MessageTag;
  readonly multipart: boolean;
}

export function encodePayload(payload: Payload): Uint8Array {
  switch (payload.kind) {
    case 'sum':
      return encodeSum(payload.sum);
    case 'update':
      return encodeUpdate(payload.update);
    case 'sum2':
      return encodeSum2(payload.sum2);
    default:
      return assertNever(payload);
  }
}

/** Decodes a payload of the given tag (a whole message's, or a reassembled multipart one). */
export function decodePayload(tag: MessageTag, bytes: Uint8Array, expect?: PayloadExpectation): Payload {
  const maskExpect = expect === undefined ? undefined : { config: expect.config, length: expect.modelLength };
  switch (tag) {
    case 'sum':
      return { kind: 'sum', sum: decodeSum(bytes) };
    case 'update':
      return { kind: 'update', update: decodeUpdate(bytes, maskExpect) };
    case 'sum2':
      return { kind: 'sum2', sum2: decodeSum2(bytes, maskExpect) };
    default:
      return assertNever(tag);
  }
}

/** header (zero signature) ‖ payload: the bytes `signMessage` then signs. */
export function encodeFrame(fields: FrameFields, payload: Uint8Array): Uint8Array {
  const length = HEADER_BYTES + payload.length;
  if (length > MAX_MESSAGE_BYTES) {
    throw new PetError('oversized', `message: expected at most ${MAX_MESSAGE_BYTES} bytes, got ${length}`);
  }
  const writer = new ByteWriter(length);
  writeHeader(writer, { ...fields, signature: new Uint8Array(SIGNATURE_BYTES), length });
  return writer.put(payload).done();
}

/** The unsigned message: header with a zero signature, then the payload. */
export function encodeMessage(message: Message): Uint8Array {
  return encodeFrame(
    {
      participantPk: message.participantPk,
      coordinatorPk: message.coordinatorPk,
      tag: message.payload.kind,
      multipart: false,
    },
    encodePayload(message.payload),
  );
}
