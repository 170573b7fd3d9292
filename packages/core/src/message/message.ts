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
import { decodeSum, SUM_BYTES, type Sum, writeSum } from './sum.ts';
import { decodeSum2, type Sum2, sum2ByteLength, writeSum2 } from './sum2.ts';
import { decodeUpdate, type Update, updateByteLength, writeUpdate } from './update.ts';

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
  /** Keep masked models and masks packed (`MaskObjectExpectation.packed`, ADR 0018): views into the bytes decoded. */
  readonly packed?: boolean;
}

/** The fields of a message frame other than its signature and payload. */
export interface FrameFields {
  readonly participantPk: Uint8Array;
  readonly coordinatorPk: Uint8Array;
  readonly tag: MessageTag;
  readonly multipart: boolean;
}

export function encodePayload(payload: Payload): Uint8Array {
  const writer = new ByteWriter(payloadByteLength(payload));
  writePayload(writer, payload);
  return writer.done();
}

export function payloadByteLength(payload: Payload): number {
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

/** Writes the payload's `payloadByteLength(payload)` bytes. */
export function writePayload(writer: ByteWriter, payload: Payload): void {
  switch (payload.kind) {
    case 'sum':
      writeSum(writer, payload.sum);
      break;
    case 'update':
      writeUpdate(writer, payload.update);
      break;
    case 'sum2':
      writeSum2(writer, payload.sum2);
      break;
    default:
      assertNever(payload);
  }
}

/** Decodes a payload of the given tag (a whole message's, or a reassembled multipart one). */
export function decodePayload(tag: MessageTag, bytes: Uint8Array, expect?: PayloadExpectation): Payload {
  const maskExpect =
    expect === undefined
      ? undefined
      : { config: expect.config, length: expect.modelLength, packed: expect.packed === true };
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
  const writer = new ByteWriter(frameByteLength(payload.length));
  writeFrameHeader(writer, fields, payload.length);
  return writer.put(payload).done();
}

/** HEADER_BYTES + the payload's length; `oversized` past what the length field holds. */
export function frameByteLength(payloadLength: number): number {
  const length = HEADER_BYTES + payloadLength;
  if (length > MAX_MESSAGE_BYTES) {
    throw new PetError('oversized', `message: expected at most ${MAX_MESSAGE_BYTES} bytes, got ${length}`);
  }
  return length;
}

/** Writes the header of a frame with a `payloadLength`-byte payload, its signature zero. */
export function writeFrameHeader(writer: ByteWriter, fields: FrameFields, payloadLength: number): void {
  const length = frameByteLength(payloadLength);
  writeHeader(writer, { ...fields, signature: new Uint8Array(SIGNATURE_BYTES), length });
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
