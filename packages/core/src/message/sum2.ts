/**
 * The Sum2 payload (protocol.md §3.5).
 *
 * A sum participant repeats its sum signature and sends the aggregated mask:
 * the sum of the masks derived from every mask seed in its update seed
 * dictionary that it could open. Then come the update participants whose mask
 * seeds it could not open (or that did not hold a 32-byte seed): their Ed25519
 * public keys, strictly ascending bytewise, so two sum participants that saw
 * the same bad seeds send the same bytes. The coordinator counts identical
 * aggregated masks and learns from the list whom to blame.
 *
 * ```text
 *   0                    64                 64 + M        68 + M
 *   +--------------------+------------------+-------------+----------------------------+
 *   | sumSignature (64)  | aggregated mask  | count u32   | count × update participant |
 *   |                    | (mask object,    |    BE       | Ed25519 pk (32), strictly  |
 *   |                    |  §3.6), M bytes  |             | ascending bytewise         |
 *   +--------------------+------------------+-------------+----------------------------+
 *   M = 12 + (n + 1)·b                                      count = 0: every seed opened
 * ```
 */

import { ByteReader, ByteWriter, compareBytes, expectLength, toBase64Url } from '../bytes.ts';
import { SIGNATURE_BYTES, SIGNING_PUBLIC_KEY_BYTES } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import type { MaskObject } from '../mask/mask-object.ts';
import { type MaskObjectExpectation, maskObjectByteLength, readMaskObject, writeMaskObject } from './mask-object.ts';

const MAX_REJECTED = 0xffff_ffff;

export interface Sum2 {
  /** Ed25519 over `roundSeed ‖ "sum"`, as in the participant's Sum payload. */
  readonly sumSignature: Uint8Array;
  /** The sum of the masks of the seeds that opened (protocol.md §4.4). */
  readonly aggregatedMask: MaskObject;
  /**
   * Update participants (Ed25519 public keys, 32 bytes each) whose encrypted mask seed did not
   * open to a 32-byte seed; empty when every seed opened. Encoded sorted ascending bytewise
   * (the encoder sorts; the decoder requires it), without repeats.
   */
  readonly rejectedSeeds: readonly Uint8Array[];
}

export function sum2ByteLength(sum2: Sum2): number {
  return (
    SIGNATURE_BYTES +
    maskObjectByteLength(sum2.aggregatedMask.config, sum2.aggregatedMask.length) +
    4 +
    sum2.rejectedSeeds.length * SIGNING_PUBLIC_KEY_BYTES
  );
}

export function encodeSum2(sum2: Sum2): Uint8Array {
  const writer = new ByteWriter(sum2ByteLength(sum2));
  writeSum2(writer, sum2);
  return writer.done();
}

/** Writes the sum2 payload's `sum2ByteLength(sum2)` bytes. */
export function writeSum2(writer: ByteWriter, sum2: Sum2): void {
  const rejected = sortedRejectedSeeds(sum2.rejectedSeeds, 'sum2 payload.rejectedSeeds');
  writer.put(expectLength(sum2.sumSignature, SIGNATURE_BYTES, 'sum2 payload.sumSignature'));
  writeMaskObject(writer, sum2.aggregatedMask, 'sum2 payload.aggregatedMask');
  writer.u32(rejected.length);
  for (const pk of rejected) writer.put(pk);
}

/** Decodes a sum2 payload; `expect` is the round's mask config and model length. */
export function decodeSum2(bytes: Uint8Array, expect?: MaskObjectExpectation): Sum2 {
  const reader = new ByteReader(bytes, 'sum2 payload');
  const sumSignature = reader.copy(SIGNATURE_BYTES, 'sumSignature');
  const aggregatedMask = readMaskObject(reader, 'aggregatedMask', expect);
  const rejectedSeeds = readRejectedSeeds(reader, 'rejectedSeeds');
  reader.finish();
  return { sumSignature, aggregatedMask, rejectedSeeds };
}

/** A sorted copy of the keys; a key of the wrong length is 'invalid-field', a repeat 'duplicate-key'. */
function sortedRejectedSeeds(keys: readonly Uint8Array[], field: string): Uint8Array[] {
  if (keys.length > MAX_REJECTED) {
    throw new PetError('oversized', `${field}.count: expected at most ${MAX_REJECTED} keys, got ${keys.length}`);
  }
  const sorted = keys.map((pk, i) => expectLength(pk, SIGNING_PUBLIC_KEY_BYTES, `${field}[${i}]`));
  sorted.sort(compareBytes);
  for (let i = 1; i < sorted.length; i++) {
    if (compareBytes(sorted[i - 1] as Uint8Array, sorted[i] as Uint8Array) === 0) {
      throw new PetError(
        'duplicate-key',
        `${field}: expected distinct keys, got ${toBase64Url(sorted[i] as Uint8Array)} twice`,
      );
    }
  }
  return sorted;
}

/**
 * Reads `count ‖ count × 32-byte key`: the count is checked against the bytes left before
 * anything is allocated (a forged count is 'truncated' at once), then the keys must be strictly
 * ascending ('unsorted-keys', 'duplicate-key').
 */
function readRejectedSeeds(reader: ByteReader, field: string): Uint8Array[] {
  const at = reader.position;
  const count = reader.u32(`${field}.count`);
  const available = Math.floor(reader.remaining / SIGNING_PUBLIC_KEY_BYTES);
  if (count > available) {
    throw new PetError(
      'truncated',
      `${reader.context}.${field}.count: expected at most ${available} keys in the ${reader.remaining} bytes left, got ${count} at offset ${at}`,
    );
  }
  const keys: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const keyAt = reader.position;
    const key = reader.copy(SIGNING_PUBLIC_KEY_BYTES, `${field}[${i}]`);
    const previous = keys[i - 1];
    if (previous !== undefined) {
      const order = compareBytes(previous, key);
      if (order === 0) {
        throw new PetError(
          'duplicate-key',
          `${reader.context}.${field}[${i}]: expected a key not seen before, got ${toBase64Url(key)} again at offset ${keyAt}`,
        );
      }
      if (order > 0) {
        throw new PetError(
          'unsorted-keys',
          `${reader.context}.${field}[${i}]: expected a key above ${toBase64Url(previous)}, got ${toBase64Url(key)} at offset ${keyAt}`,
        );
      }
    }
    keys.push(key);
  }
  return keys;
}
