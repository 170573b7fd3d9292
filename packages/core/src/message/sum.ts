/**
 * The Sum payload (protocol.md §3.3).
 *
 * A sum participant proves its eligibility with its sum signature and
 * announces the ephemeral X25519 key that update participants seal their mask
 * seeds to. The coordinator enters it into the sum dictionary.
 *
 * ```text
 *   0                                  64                 96
 *   +----------------------------------+------------------+
 *   | sumSignature (64)                | ephemeralPk (32) |
 *   +----------------------------------+------------------+
 * ```
 */

import { ByteReader, ByteWriter, expectLength } from '../bytes.ts';
import { ENCRYPT_PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../crypto/sodium.ts';

export const SUM_BYTES = 96;

export interface Sum {
  /** Ed25519 over `roundSeed ‖ "sum"` (protocol.md §2). */
  readonly sumSignature: Uint8Array;
  /** The participant's ephemeral X25519 public key for this round. */
  readonly ephemeralPk: Uint8Array;
}

export function encodeSum(sum: Sum): Uint8Array {
  const writer = new ByteWriter(SUM_BYTES);
  writeSum(writer, sum);
  return writer.done();
}

/** Writes the sum payload's SUM_BYTES bytes. */
export function writeSum(writer: ByteWriter, sum: Sum): void {
  writer
    .put(expectLength(sum.sumSignature, SIGNATURE_BYTES, 'sum payload.sumSignature'))
    .put(expectLength(sum.ephemeralPk, ENCRYPT_PUBLIC_KEY_BYTES, 'sum payload.ephemeralPk'));
}

export function decodeSum(bytes: Uint8Array): Sum {
  const reader = new ByteReader(bytes, 'sum payload');
  const sumSignature = reader.copy(SIGNATURE_BYTES, 'sumSignature');
  const ephemeralPk = reader.copy(ENCRYPT_PUBLIC_KEY_BYTES, 'ephemeralPk');
  reader.finish();
  return { sumSignature, ephemeralPk };
}
