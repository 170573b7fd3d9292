/**
 * Signing, sealing and opening messages (protocol.md §3.1–3.2).
 *
 * A participant signs bytes 64..length of the encoded message with its
 * Ed25519 identity key, writes the signature into bytes 0..64 and seals the
 * whole message to the round's X25519 key in the message envelope (protocol.md §3.2, ADR 0019).
 * The coordinator opens it and checks, in this order: the envelope
 * ('decrypt-failed'), at least a header ('truncated'), the length field
 * ('length-mismatch'), the round key ('wrong-coordinator-key'), the tag
 * ('unknown-tag'), the flags ('invalid-field'), the reserved bytes
 * ('reserved-nonzero'), the signature ('bad-signature'); only then does it
 * decode the payload.
 *
 * ```text
 *   sealed = envelope(message, coordinatorPk)             48 bytes overhead
 *   message:
 *   0            64                                      136
 *   +------------+---------------------------------------+--------------------+
 *   | signature  | participantPk ‖ coordinatorPk ‖ length | payload or chunk  |
 *   |            | ‖ tag ‖ flags ‖ reserved              | payload (§3.7)     |
 *   +------------+---------------------------------------+--------------------+
 *                 <------------------- signed ----------------------------->
 * ```
 */

import { ByteReader, ByteWriter } from '../bytes.ts';
import { type EncryptKeyPair, type PetCrypto, SIGNATURE_BYTES } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import { CHUNK_HEADER_BYTES, type Chunk, chunkRanges, decodeChunk, writeChunk } from './chunk.ts';
import { HEADER_BYTES, type Header, type MessageTag, readHeader } from './header.ts';
import {
  decodePayload,
  encodePayload,
  type FrameFields,
  frameByteLength,
  type Message,
  type Payload,
  type PayloadExpectation,
  payloadByteLength,
  writeFrameHeader,
  writePayload,
} from './message.ts';

/** A message the coordinator opened and authenticated. */
export type OpenedMessage = {
  readonly participantPk: Uint8Array;
  readonly coordinatorPk: Uint8Array;
  readonly tag: MessageTag;
  readonly signature: Uint8Array;
} & (
  | { readonly multipart: false; readonly payload: Payload }
  | {
      readonly multipart: true;
      /** The chunk payload, including its 8-byte chunk header (feed it to a ChunkAssembler). */
      readonly chunk: Uint8Array;
    }
);

export interface ChunkOptions {
  /** Largest chunk data per message, in bytes. */
  readonly maxChunkData: number;
  /** The u16 id that groups this message's chunks. */
  readonly messageId: number;
}

/** Writes the Ed25519 signature of bytes[64..] into bytes[0..64]; returns `bytes`. */
export function signMessage(crypto: PetCrypto, bytes: Uint8Array, secretKey: Uint8Array): Uint8Array {
  if (bytes.length < HEADER_BYTES) {
    throw new PetError('truncated', `message: expected at least ${HEADER_BYTES} bytes to sign, got ${bytes.length}`);
  }
  // SECURITY: secretKey is the participant's identity key, owned by the caller; only used to sign.
  bytes.set(crypto.sign(bytes.subarray(SIGNATURE_BYTES), secretKey), 0);
  return bytes;
}

/**
 * Encodes, signs and seals one message to `message.coordinatorPk`: the payload is encoded
 * straight into the buffer that is signed and sealed in place (`PetCrypto.signAndSeal`).
 */
export function sealMessage(crypto: PetCrypto, message: Message, participantSecretKey: Uint8Array): Uint8Array {
  const fields = {
    participantPk: message.participantPk,
    coordinatorPk: message.coordinatorPk,
    tag: message.payload.kind,
    multipart: false,
  };
  const length = payloadByteLength(message.payload);
  // SECURITY: the participant's identity key, owned by the caller; only used to sign.
  return sealBody(crypto, fields, length, (writer) => writePayload(writer, message.payload), participantSecretKey);
}

/**
 * Frames `body` (a payload, or a chunk payload for a multipart frame) behind a header, signs and
 * seals it to `fields.coordinatorPk`: `crypto.sealEnvelope(signMessage(crypto, encodeFrame(fields, body)))`
 * without the intermediate copies.
 */
export function sealFrame(
  crypto: PetCrypto,
  fields: FrameFields,
  body: Uint8Array,
  participantSecretKey: Uint8Array,
): Uint8Array {
  // SECURITY: the participant's identity key, owned by the caller; only used to sign.
  return sealBody(crypto, fields, body.length, (writer) => writer.put(body), participantSecretKey);
}

/**
 * One chunk of a multipart message (§3.7) in its frame, signed and sealed:
 * `sealFrame(crypto, fields, encodeChunk(chunk), key)` with the chunk written straight into the
 * buffer that is signed and sealed, not first into a chunk payload of its own (for a 1 MiB chunk,
 * a megabyte less to allocate and copy per chunk). `fields.multipart` must be true.
 */
export function sealChunk(
  crypto: PetCrypto,
  fields: FrameFields,
  chunk: Chunk,
  participantSecretKey: Uint8Array,
): Uint8Array {
  if (!fields.multipart) throw new PetError('invalid-field', 'sealChunk: expected a multipart frame');
  const length = CHUNK_HEADER_BYTES + chunk.data.length;
  // SECURITY: the participant's identity key, owned by the caller; only used to sign.
  return sealBody(crypto, fields, length, (writer) => writeChunk(writer, chunk), participantSecretKey);
}

/** Frames a body of `length` bytes, which `write` writes after the header, signs and seals it in place. */
function sealBody(
  crypto: PetCrypto,
  fields: FrameFields,
  length: number,
  write: (writer: ByteWriter) => void,
  participantSecretKey: Uint8Array,
): Uint8Array {
  return crypto.signAndSeal(
    frameByteLength(length),
    (bytes) => {
      const writer = new ByteWriter(bytes);
      writeFrameHeader(writer, fields, length);
      write(writer);
      writer.done();
    },
    participantSecretKey,
    fields.coordinatorPk,
  );
}

/**
 * Splits the payload into chunks and returns one signed, sealed multipart
 * message per chunk, in chunk order (a payload that fits gives one chunk).
 */
export function sealMessageChunks(
  crypto: PetCrypto,
  message: Message,
  participantSecretKey: Uint8Array,
  options: ChunkOptions,
): Uint8Array[] {
  const fields = {
    participantPk: message.participantPk,
    coordinatorPk: message.coordinatorPk,
    tag: message.payload.kind,
    multipart: true,
  };
  const payload = encodePayload(message.payload);
  return chunkRanges(payload.length, options.maxChunkData, options.messageId).map(({ index, last, start, end }) =>
    sealChunk(
      crypto,
      fields,
      { index, messageId: options.messageId, last, data: payload.subarray(start, end) },
      participantSecretKey,
    ),
  );
}

/** A message opened and authenticated, its payload (or chunk payload) not yet decoded. */
export interface OpenedFrame {
  readonly participantPk: Uint8Array;
  readonly coordinatorPk: Uint8Array;
  readonly tag: MessageTag;
  readonly signature: Uint8Array;
  readonly multipart: boolean;
  /** The payload, or for a multipart message the chunk payload (its chunk header validated). */
  readonly body: Uint8Array;
}

export interface OpenFrameOptions {
  /**
   * The caller gives `sealed` up: the message is opened over its bytes (PetCrypto.openSignedSealed)
   * and the frame's fields are views into them, not into a new array.
   */
  readonly inPlace?: boolean;
}

/**
 * Opens and authenticates a sealed message without decoding its payload, so the coordinator can
 * run its cheap checks (phase, duplicates, eligibility from the payload's leading signatures)
 * before the full decode (protocol.md §3.2).
 */
export function openFrame(
  crypto: PetCrypto,
  sealed: Uint8Array,
  coordinatorKeyPair: EncryptKeyPair,
  options: OpenFrameOptions = {},
): OpenedFrame {
  const parsed: { header?: Header } = {};
  // SECURITY: the round secret key is owned by the coordinator's round state; only used to open.
  // Opened and verified in place (PetCrypto.openSignedSealed); the header checks run in between.
  const { message: bytes, signatureValid } = crypto.openSignedSealed(
    sealed,
    coordinatorKeyPair,
    (opened) => {
      if (opened.length < HEADER_BYTES) {
        throw new PetError('truncated', `message: expected at least ${HEADER_BYTES} bytes, got ${opened.length}`);
      }
      const reader = new ByteReader(opened, 'message header');
      parsed.header = readHeader(reader, {
        messageLength: opened.length,
        coordinatorPk: coordinatorKeyPair.publicKey,
      });
      return parsed.header.participantPk;
    },
    'message',
    options.inPlace === true,
  );
  const { header } = parsed;
  if (header === undefined || !signatureValid) {
    throw new PetError(
      'bad-signature',
      'message.signature: expected an Ed25519 signature of bytes 64..end by participantPk, got an invalid one',
    );
  }
  const { participantPk, coordinatorPk, tag, signature, multipart } = header;
  const body = bytes.subarray(HEADER_BYTES);
  if (multipart) decodeChunk(body);
  return { participantPk, coordinatorPk, tag, signature, multipart, body };
}

/**
 * Opens and authenticates a sealed message (checks in the order of the
 * module comment). A whole message's payload is decoded, checked against
 * `expect` when given; a chunk is returned as its raw chunk payload, its
 * chunk header already validated.
 */
export function openMessage(
  crypto: PetCrypto,
  sealed: Uint8Array,
  coordinatorKeyPair: EncryptKeyPair,
  expect?: PayloadExpectation,
): OpenedMessage {
  const { body, ...frame } = openFrame(crypto, sealed, coordinatorKeyPair);
  if (frame.multipart) return { ...frame, multipart: true, chunk: body };
  return { ...frame, multipart: false, payload: decodePayload(frame.tag, body, expect) };
}
