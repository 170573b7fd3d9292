/**
 * The canonical dictionary encoding shared by the sum dictionary, the local
 * seed dictionary, the update seed dictionary and the seed dictionary
 * (protocol.md §3.8).
 *
 * Keys are 32-byte public keys; entries are sorted strictly ascending by key
 * bytes, so one dictionary has exactly one encoding and a decoder can reject
 * duplicates in one pass. In memory a dictionary is a `Map` keyed by the
 * base64url text of the key (`toBase64Url`), which is also how keys appear in
 * JSON and logs.
 *
 * ```text
 *   0           4                    36
 *   +-----------+--------------------+---------+--------------------+---------+
 *   | count u32 | key 0 (32)         | value 0 | key 1 (32)         | value 1 | ...
 *   |    BE     |                    |         |  > key 0           |         |
 *   +-----------+--------------------+---------+--------------------+---------+
 * ```
 */

import { type ByteReader, type ByteWriter, compareBytes, fromBase64Url, toBase64Url } from '../bytes.ts';
import { PetError } from '../errors.ts';

export const DICTIONARY_KEY_BYTES = 32;
const MAX_ENTRIES = 0xffff_ffff;

/** How one dictionary's values are sized, written and read. */
export interface DictionaryValueCodec<V> {
  byteLength(value: V): number;
  /** Writes one value; `field` names it for error messages. */
  write(writer: ByteWriter, value: V, field: string): void;
  /** Reads one value; `field` is relative to the reader's context. */
  read(reader: ByteReader, field: string): V;
}

/** The 32 key bytes of a base64url map key ('invalid-field' otherwise). */
export function dictionaryKeyBytes(key: string, field: string): Uint8Array {
  const bytes = fromBase64Url(key, field);
  if (bytes.length !== DICTIONARY_KEY_BYTES) {
    throw new PetError(
      'invalid-field',
      `${field}: expected a ${DICTIONARY_KEY_BYTES}-byte key, got ${bytes.length} bytes`,
    );
  }
  return bytes;
}

export function dictionaryByteLength<V>(dict: ReadonlyMap<string, V>, codec: DictionaryValueCodec<V>): number {
  let n = 4;
  for (const value of dict.values()) n += DICTIONARY_KEY_BYTES + codec.byteLength(value);
  return n;
}

/** Writes `count ‖ sorted entries`; keys must be base64url of 32 bytes. */
export function writeDictionary<V>(
  writer: ByteWriter,
  dict: ReadonlyMap<string, V>,
  codec: DictionaryValueCodec<V>,
  field: string,
): void {
  if (dict.size > MAX_ENTRIES) {
    throw new PetError('oversized', `${field}.count: expected at most ${MAX_ENTRIES} entries, got ${dict.size}`);
  }
  const entries: { key: Uint8Array; value: V; name: string }[] = [];
  for (const [name, value] of dict)
    entries.push({ key: dictionaryKeyBytes(name, `${field} key ${name}`), value, name });
  entries.sort((a, b) => compareBytes(a.key, b.key));
  writer.u32(entries.length);
  for (const { key, value, name } of entries) {
    writer.put(key);
    codec.write(writer, value, `${field}[${name}]`);
  }
}

/** Reads `count ‖ entries`, rejecting unsorted ('unsorted-keys') and repeated ('duplicate-key') keys. */
export function readDictionary<V>(reader: ByteReader, field: string, codec: DictionaryValueCodec<V>): Map<string, V> {
  const count = reader.u32(`${field}.count`);
  const out = new Map<string, V>();
  let previous: Uint8Array | undefined;
  for (let i = 0; i < count; i++) {
    const at = reader.position;
    const key = reader.take(DICTIONARY_KEY_BYTES, `${field}[${i}].key`);
    if (previous !== undefined) {
      const order = compareBytes(previous, key);
      if (order === 0) {
        throw new PetError(
          'duplicate-key',
          `${reader.context}.${field}[${i}].key: expected a key not seen before, got ${toBase64Url(key)} again at offset ${at}`,
        );
      }
      if (order > 0) {
        throw new PetError(
          'unsorted-keys',
          `${reader.context}.${field}[${i}].key: expected a key above ${toBase64Url(previous)}, got ${toBase64Url(key)} at offset ${at}`,
        );
      }
    }
    previous = key;
    out.set(toBase64Url(key), codec.read(reader, `${field}[${i}].value`));
  }
  return out;
}

/** A codec for fixed-length byte values (keys, sealed seeds). */
export function fixedBytesCodec(length: number): DictionaryValueCodec<Uint8Array> {
  return {
    byteLength: () => length,
    write(writer, value, field) {
      if (!(value instanceof Uint8Array) || value.length !== length) {
        const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
        throw new PetError('invalid-field', `${field}: expected ${length} bytes, got ${got}`);
      }
      writer.put(value);
    },
    read: (reader, field) => reader.copy(length, field),
  };
}
