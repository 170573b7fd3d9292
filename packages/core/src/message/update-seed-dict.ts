/**
 * The update seed dictionary (protocol.md §3.8, §2): update participant
 * public key → that participant's mask seed sealed to one sum participant.
 * It is one column of the seed dictionary: what a sum participant fetches
 * (`GET /seeds?pk=`) to derive the masks it adds up in the sum2 phase.
 *
 * ```text
 *   0           4                          36                            116
 *   +-----------+--------------------------+-----------------------------+---
 *   | count u32 | update participant pk(32)| encrypted mask seed (80)    | ...  sorted by pk
 *   +-----------+--------------------------+-----------------------------+---
 * ```
 */

import { ByteReader, ByteWriter } from '../bytes.ts';
import { dictionaryByteLength, readDictionary, writeDictionary } from './dictionary.ts';
import { encryptedMaskSeedCodec } from './local-seed-dict.ts';

/** base64url(update participant pk) → encrypted mask seed (80 bytes). */
export type UpdateSeedDict = Map<string, Uint8Array>;

export function updateSeedDictByteLength(dict: ReadonlyMap<string, Uint8Array>): number {
  return dictionaryByteLength(dict, encryptedMaskSeedCodec);
}

export function writeUpdateSeedDict(
  writer: ByteWriter,
  dict: ReadonlyMap<string, Uint8Array>,
  field = 'update seed dictionary',
): void {
  writeDictionary(writer, dict, encryptedMaskSeedCodec, field);
}

export function readUpdateSeedDict(reader: ByteReader, field: string): UpdateSeedDict {
  return readDictionary(reader, field, encryptedMaskSeedCodec);
}

export function encodeUpdateSeedDict(dict: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const writer = new ByteWriter(updateSeedDictByteLength(dict));
  writeUpdateSeedDict(writer, dict);
  return writer.done();
}

export function decodeUpdateSeedDict(bytes: Uint8Array): UpdateSeedDict {
  const reader = new ByteReader(bytes, 'update seed dictionary');
  const dict = readUpdateSeedDict(reader, 'entries');
  reader.finish();
  return dict;
}
