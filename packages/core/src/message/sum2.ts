/**
 * The Sum2 payload (protocol.md §3.5).
 *
 * A sum participant repeats its sum signature and sends the aggregated mask:
 * the sum of the masks derived from every mask seed in its update seed
 * dictionary. The coordinator counts identical aggregated masks.
 *
 * ```text
 *   0                    64
 *   +--------------------+------------------------------------+
 *   | sumSignature (64)  | aggregated mask (mask object, §3.6)|
 *   +--------------------+------------------------------------+
 * ```
 */

import { ByteReader, ByteWriter, expectLength } from '../bytes.ts';
import { SIGNATURE_BYTES } from '../crypto/sodium.ts';
import type { MaskObject } from '../mask/mask-object.ts';
import { type MaskObjectExpectation, maskObjectByteLength, readMaskObject, writeMaskObject } from './mask-object.ts';

export interface Sum2 {
  /** Ed25519 over `roundSeed ‖ "sum"`, as in the participant's Sum payload. */
  readonly sumSignature: Uint8Array;
  readonly aggregatedMask: MaskObject;
}

export function sum2ByteLength(sum2: Sum2): number {
  return SIGNATURE_BYTES + maskObjectByteLength(sum2.aggregatedMask.config, sum2.aggregatedMask.length);
}

export function encodeSum2(sum2: Sum2): Uint8Array {
  const writer = new ByteWriter(sum2ByteLength(sum2));
  writer.put(expectLength(sum2.sumSignature, SIGNATURE_BYTES, 'sum2 payload.sumSignature'));
  writeMaskObject(writer, sum2.aggregatedMask, 'sum2 payload.aggregatedMask');
  return writer.done();
}

/** Decodes a sum2 payload; `expect` is the round's mask config and model length. */
export function decodeSum2(bytes: Uint8Array, expect?: MaskObjectExpectation): Sum2 {
  const reader = new ByteReader(bytes, 'sum2 payload');
  const sumSignature = reader.copy(SIGNATURE_BYTES, 'sumSignature');
  const aggregatedMask = readMaskObject(reader, 'aggregatedMask', expect);
  reader.finish();
  return { sumSignature, aggregatedMask };
}
