/**
 * The seed dictionary (protocol.md §3.8, §2): sum participant public key →
 * its update seed dictionary (update participant pk → encrypted mask seed).
 * The coordinator transposes every accepted local seed dictionary into it.
 *
 * ```text
 *   0           4                          36
 *   +-----------+--------------------------+----------------------------------+---
 *   | count u32 | sum participant pk (32)  | update seed dictionary encoding  | ...  sorted by sum pk
 *   +-----------+--------------------------+----------------------------------+---
 *                                           count u32 ‖ count × (update pk 32 ‖ seed 80)
 * ```
 */

import { ByteReader, ByteWriter } from '../bytes.ts';
import { type DictionaryValueCodec, dictionaryByteLength, readDictionary, writeDictionary } from './dictionary.ts';
import {
  readUpdateSeedDict,
  type UpdateSeedDict,
  updateSeedDictByteLength,
  writeUpdateSeedDict,
} from './update-seed-dict.ts';

/** base64url(sum participant pk) → update seed dictionary. */
export type SeedDict = Map<string, UpdateSeedDict>;

/** Writes accept any read-only map; reads return fresh `Map`s. */
const codec: DictionaryValueCodec<ReadonlyMap<string, Uint8Array>> & DictionaryValueCodec<UpdateSeedDict> = {
  byteLength: updateSeedDictByteLength,
  write: writeUpdateSeedDict,
  read: readUpdateSeedDict,
};

export function seedDictByteLength(dict: ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>): number {
  return dictionaryByteLength(dict, codec);
}

export function writeSeedDict(
  writer: ByteWriter,
  dict: ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>,
  field = 'seed dictionary',
): void {
  writeDictionary(writer, dict, codec, field);
}

export function readSeedDict(reader: ByteReader, field: string): SeedDict {
  return readDictionary<UpdateSeedDict>(reader, field, codec);
}

export function encodeSeedDict(dict: ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>): Uint8Array {
  const writer = new ByteWriter(seedDictByteLength(dict));
  writeSeedDict(writer, dict);
  return writer.done();
}

export function decodeSeedDict(bytes: Uint8Array): SeedDict {
  const reader = new ByteReader(bytes, 'seed dictionary');
  const dict = readSeedDict(reader, 'entries');
  reader.finish();
  return dict;
}
