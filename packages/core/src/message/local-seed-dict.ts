/**
 * The local seed dictionary (protocol.md §3.8, §2): sum participant public
 * key → this update participant's mask seed sealed to that sum participant's
 * ephemeral key. It travels in the update payload; its keys must be exactly
 * those of the sum dictionary.
 *
 * ```text
 *   0           4                          36                            116
 *   +-----------+--------------------------+-----------------------------+---
 *   | count u32 | sum participant pk (32)  | encrypted mask seed (80)    | ...  sorted by pk
 *   +-----------+--------------------------+-----------------------------+---
 * ```
 */

import { ByteReader, ByteWriter } from '../bytes.ts';
import { SEAL_OVERHEAD_BYTES, SEED_BYTES } from '../crypto/sodium.ts';
import { dictionaryByteLength, fixedBytesCodec, readDictionary, writeDictionary } from './dictionary.ts';

/** A 32-byte mask seed in a sealed box: 48 + 32 = 80 bytes. */
export const ENCRYPTED_MASK_SEED_BYTES = SEAL_OVERHEAD_BYTES + SEED_BYTES;

/** base64url(sum participant pk) → encrypted mask seed (80 bytes). */
export type LocalSeedDict = Map<string, Uint8Array>;

/** Value codec of the encrypted mask seed, shared with the update seed dictionary. */
export const encryptedMaskSeedCodec = fixedBytesCodec(ENCRYPTED_MASK_SEED_BYTES);

export function localSeedDictByteLength(dict: ReadonlyMap<string, Uint8Array>): number {
  return dictionaryByteLength(dict, encryptedMaskSeedCodec);
}

export function writeLocalSeedDict(
  writer: ByteWriter,
  dict: ReadonlyMap<string, Uint8Array>,
  field = 'local seed dictionary',
): void {
  writeDictionary(writer, dict, encryptedMaskSeedCodec, field);
}

export function readLocalSeedDict(reader: ByteReader, field: string): LocalSeedDict {
  return readDictionary(reader, field, encryptedMaskSeedCodec);
}

export function encodeLocalSeedDict(dict: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const writer = new ByteWriter(localSeedDictByteLength(dict));
  writeLocalSeedDict(writer, dict);
  return writer.done();
}

export function decodeLocalSeedDict(bytes: Uint8Array): LocalSeedDict {
  const reader = new ByteReader(bytes, 'local seed dictionary');
  const dict = readLocalSeedDict(reader, 'entries');
  reader.finish();
  return dict;
}
