/**
 * The sum dictionary (protocol.md §3.8, §2): sum participant public key →
 * that participant's ephemeral X25519 public key. The coordinator builds it in
 * the sum phase and serves it (`GET /sums`); update participants seal their
 * mask seed to every ephemeral key in it.
 *
 * ```text
 *   0           4                          36                      68
 *   +-----------+--------------------------+-----------------------+---
 *   | count u32 | participant pk 0 (32)    | ephemeral pk 0 (32)   | ...  sorted by participant pk
 *   +-----------+--------------------------+-----------------------+---
 * ```
 */

import { ByteReader, ByteWriter } from '../bytes.ts';
import { ENCRYPT_PUBLIC_KEY_BYTES } from '../crypto/sodium.ts';
import { dictionaryByteLength, fixedBytesCodec, readDictionary, writeDictionary } from './dictionary.ts';

/** base64url(participant pk) → ephemeral pk (32 bytes). */
export type SumDict = Map<string, Uint8Array>;

const codec = fixedBytesCodec(ENCRYPT_PUBLIC_KEY_BYTES);

export function sumDictByteLength(dict: ReadonlyMap<string, Uint8Array>): number {
  return dictionaryByteLength(dict, codec);
}

export function writeSumDict(
  writer: ByteWriter,
  dict: ReadonlyMap<string, Uint8Array>,
  field = 'sum dictionary',
): void {
  writeDictionary(writer, dict, codec, field);
}

export function readSumDict(reader: ByteReader, field: string): SumDict {
  return readDictionary(reader, field, codec);
}

export function encodeSumDict(dict: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const writer = new ByteWriter(sumDictByteLength(dict));
  writeSumDict(writer, dict);
  return writer.done();
}

export function decodeSumDict(bytes: Uint8Array): SumDict {
  const reader = new ByteReader(bytes, 'sum dictionary');
  const dict = readSumDict(reader, 'entries');
  reader.finish();
  return dict;
}
