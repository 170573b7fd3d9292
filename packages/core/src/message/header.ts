/**
 * The message header (protocol.md §3.1).
 *
 * Every message, whole or one chunk of a multipart message, opens with the
 * same 136 bytes. The signature covers everything after itself (bytes
 * 64..length), so the participant key, the round key, the length, the tag and
 * the flags are all authenticated. The length is that of the unsealed message
 * (header + payload); the coordinator checks it against what it opened.
 *
 * ```text
 *   0                                                              64
 *   +---------------------------------------------------------------+
 *   | signature (64): Ed25519 over bytes 64..length                 |
 *   +-------------------------------+-------------------------------+
 *   64                              96                             128
 *   | participantPk (32): Ed25519   | coordinatorPk (32): X25519    |
 *   +---------------+-------+-------+-------+
 *   128             132     133     134     136
 *   | length u32 BE | tag   | flags | 0 0   |
 *   +---------------+-------+-------+-------+
 * ```
 *
 * Tags are the literals of `TAGS`; flags bit 0 is `FLAG_MULTIPART`, every
 * other bit must be clear, and the two reserved bytes must be zero.
 */

import { ByteReader, ByteWriter, equalBytes, expectLength } from '../bytes.ts';
import { ENCRYPT_PUBLIC_KEY_BYTES, SIGNATURE_BYTES, SIGNING_PUBLIC_KEY_BYTES } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';

export const HEADER_BYTES = 136;

/** Byte ranges of the header fields. */
export const HEADER_RANGES = {
  signature: [0, 64],
  participantPk: [64, 96],
  coordinatorPk: [96, 128],
  length: [128, 132],
  tag: [132, 133],
  flags: [133, 134],
  reserved: [134, 136],
} as const;

/** Wire tags (protocol.md §3.1): explicit literals, never enum ordinals. */
export const TAGS = { sum: 1, update: 2, sum2: 3 } as const;
export type MessageTag = keyof typeof TAGS;

/** Flags bit 0: the payload is one chunk of a multipart message (protocol.md §3.7). */
export const FLAG_MULTIPART = 0x01;

/** Largest total message length the u32 length field can carry. */
export const MAX_MESSAGE_BYTES = 0xffff_ffff;

export interface Header {
  readonly signature: Uint8Array;
  readonly participantPk: Uint8Array;
  readonly coordinatorPk: Uint8Array;
  /** Total length of the unsealed message, header included. */
  readonly length: number;
  readonly tag: MessageTag;
  readonly multipart: boolean;
}

/** What the reader of a header checks the header against (see `openMessage`). */
export interface HeaderExpectation {
  /** The actual length of the unsealed message ('length-mismatch' otherwise). */
  readonly messageLength?: number;
  /** The current round key ('wrong-coordinator-key' otherwise). */
  readonly coordinatorPk?: Uint8Array;
}

/** The tag named by a wire value, or undefined. */
export function tagFromWire(value: number): MessageTag | undefined {
  for (const tag of Object.keys(TAGS) as MessageTag[]) if (TAGS[tag] === value) return tag;
  return undefined;
}

export function writeHeader(writer: ByteWriter, header: Header): void {
  if (!Number.isSafeInteger(header.length) || header.length < HEADER_BYTES || header.length > MAX_MESSAGE_BYTES) {
    throw new PetError(
      'oversized',
      `header.length: expected ${HEADER_BYTES}..${MAX_MESSAGE_BYTES} bytes, got ${header.length}`,
    );
  }
  if (!Object.hasOwn(TAGS, header.tag)) {
    throw new PetError('unknown-tag', `header.tag: expected one of ${Object.keys(TAGS).join(', ')}, got ${header.tag}`);
  }
  writer
    .put(expectLength(header.signature, SIGNATURE_BYTES, 'header.signature'))
    .put(expectLength(header.participantPk, SIGNING_PUBLIC_KEY_BYTES, 'header.participantPk'))
    .put(expectLength(header.coordinatorPk, ENCRYPT_PUBLIC_KEY_BYTES, 'header.coordinatorPk'))
    .u32(header.length)
    .u8(TAGS[header.tag])
    .u8(header.multipart ? FLAG_MULTIPART : 0)
    .skip(2); // reserved, zero
}

export function encodeHeader(header: Header): Uint8Array {
  const writer = new ByteWriter(HEADER_BYTES);
  writeHeader(writer, header);
  return writer.done();
}

/**
 * Reads a header. All fields are read first, then checked in the order of
 * protocol.md §3.2: length, coordinator key, tag, flags, reserved.
 */
export function readHeader(reader: ByteReader, expect: HeaderExpectation = {}): Header {
  const ctx = reader.context;
  const signature = reader.copy(SIGNATURE_BYTES, 'signature');
  const participantPk = reader.copy(SIGNING_PUBLIC_KEY_BYTES, 'participantPk');
  const coordinatorPk = reader.copy(ENCRYPT_PUBLIC_KEY_BYTES, 'coordinatorPk');
  const length = reader.u32('length');
  const tagByte = reader.u8('tag');
  const flags = reader.u8('flags');
  const reservedAt = reader.position;
  const reserved = reader.take(2, 'reserved');

  if (expect.messageLength !== undefined && length !== expect.messageLength) {
    throw new PetError('length-mismatch', `${ctx}.length: expected ${expect.messageLength} bytes, got ${length}`);
  }
  if (expect.coordinatorPk !== undefined && !equalBytes(coordinatorPk, expect.coordinatorPk)) {
    throw new PetError(
      'wrong-coordinator-key',
      `${ctx}.coordinatorPk: expected the current round key, got another key`,
    );
  }
  const tag = tagFromWire(tagByte);
  if (tag === undefined) {
    throw new PetError('unknown-tag', `${ctx}.tag: expected one of ${Object.values(TAGS).join(', ')}, got ${tagByte}`);
  }
  if ((flags & ~FLAG_MULTIPART) !== 0) {
    throw new PetError(
      'invalid-field',
      `${ctx}.flags: expected only bit 0 (multipart) to be set, got 0x${flags.toString(16).padStart(2, '0')}`,
    );
  }
  for (let i = 0; i < reserved.length; i++) {
    if (reserved[i] !== 0) {
      throw new PetError(
        'reserved-nonzero',
        `${ctx}.reserved: expected zero at offset ${reservedAt + i}, got ${reserved[i]}`,
      );
    }
  }
  return { signature, participantPk, coordinatorPk, length, tag, multipart: flags === FLAG_MULTIPART };
}

/** Decodes exactly one 136-byte header. */
export function decodeHeader(bytes: Uint8Array, expect?: HeaderExpectation): Header {
  const reader = new ByteReader(bytes, 'header');
  const header = readHeader(reader, expect);
  reader.finish();
  return header;
}
