import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, toBase64Url } from '../bytes.ts';
import { errorCode, toHex } from '../testing/message-fixtures.ts';
import {
  DICTIONARY_KEY_BYTES,
  dictionaryByteLength,
  dictionaryKeyBytes,
  fixedBytesCodec,
  readDictionary,
  writeDictionary,
} from './dictionary.ts';

const codec = fixedBytesCodec(2);

function encode(dict: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const writer = new ByteWriter(dictionaryByteLength(dict, codec));
  writeDictionary(writer, dict, codec, 'dict');
  return writer.done();
}

function decode(bytes: Uint8Array): Map<string, Uint8Array> {
  const reader = new ByteReader(bytes, 'test');
  const dict = readDictionary(reader, 'dict', codec);
  reader.finish();
  return dict;
}

const key = (first: number, last = 0) => {
  const k = new Uint8Array(DICTIONARY_KEY_BYTES);
  k[0] = first;
  k[31] = last;
  return k;
};

/** Raw `count ‖ entries` in the given order, bypassing the encoder's sort. */
function raw(entries: [Uint8Array, Uint8Array][]): Uint8Array {
  const writer = new ByteWriter(4 + entries.length * (DICTIONARY_KEY_BYTES + 2)).u32(entries.length);
  for (const [k, v] of entries) writer.put(k).put(v);
  return writer.done();
}

describe('sorted dictionary encoding (protocol.md §3.8)', () => {
  it('sorts by key bytes, not by base64url text', () => {
    // base64url sorts 'A'..'Z' before 'a'..'z' before '0'..'9': text order ≠ byte order.
    const low = key(0x00); // "AAAA…"
    const high = key(0xfc); // "_AAA…"
    const mid = key(0x68); // "aAAA…"
    const dict = new Map([
      [toBase64Url(high), Uint8Array.of(3, 3)],
      [toBase64Url(mid), Uint8Array.of(2, 2)],
      [toBase64Url(low), Uint8Array.of(1, 1)],
    ]);
    const bytes = encode(dict);
    expect(toHex(bytes.subarray(0, 4))).toBe('00000003');
    expect(bytes[4]).toBe(0x00);
    expect(bytes[4 + 34]).toBe(0x68);
    expect(bytes[4 + 68]).toBe(0xfc);
    expect(decode(bytes)).toEqual(dict);
  });

  it('rejects unsorted and duplicate keys', () => {
    const v = Uint8Array.of(9, 9);
    expect(
      errorCode(() =>
        decode(
          raw([
            [key(1), v],
            [key(2), v],
          ]),
        ),
      ),
    ).toBe('no error');
    expect(
      errorCode(() =>
        decode(
          raw([
            [key(2), v],
            [key(1), v],
          ]),
        ),
      ),
    ).toBe('unsorted-keys');
    expect(
      errorCode(() =>
        decode(
          raw([
            [key(1, 2), v],
            [key(1, 1), v],
          ]),
        ),
      ),
    ).toBe('unsorted-keys');
    expect(
      errorCode(() =>
        decode(
          raw([
            [key(1), v],
            [key(1), v],
          ]),
        ),
      ),
    ).toBe('duplicate-key');
    expect(
      errorCode(() =>
        decode(
          raw([
            [key(1), v],
            [key(3), v],
            [key(2), v],
          ]),
        ),
      ),
    ).toBe('unsorted-keys');
    expect(() =>
      decode(
        raw([
          [key(1), v],
          [key(1), v],
        ]),
      ),
    ).toThrow('test.dict[1].key');
  });

  it('rejects a forged count by running out of bytes, not memory', () => {
    const bytes = raw([[key(1), Uint8Array.of(0, 0)]]);
    new DataView(bytes.buffer).setUint32(0, 0xffff_ffff);
    expect(errorCode(() => decode(bytes))).toBe('truncated');
  });

  it('refuses keys that are not base64url of 32 bytes and values of the wrong size', () => {
    expect(errorCode(() => dictionaryKeyBytes('AAAA', 'k'))).toBe('invalid-field');
    expect(errorCode(() => dictionaryKeyBytes('not base64!', 'k'))).toBe('invalid-field');
    expect(errorCode(() => encode(new Map([['AAAA', Uint8Array.of(1, 2)]])))).toBe('invalid-field');
    expect(errorCode(() => encode(new Map([[toBase64Url(key(1)), Uint8Array.of(1)]])))).toBe('invalid-field');
  });

  it('round-trips any dictionary, canonically', () => {
    const entries = fc.uniqueArray(
      fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 2, maxLength: 2 })),
      { selector: ([k]) => toHex(k), maxLength: 20 },
    );
    fc.assert(
      fc.property(entries, (list) => {
        const dict = new Map(list.map(([k, v]) => [toBase64Url(k), v]));
        const bytes = encode(dict);
        expect(decode(bytes)).toEqual(dict);
        expect(encode(new Map([...dict].reverse()))).toEqual(bytes);
      }),
    );
  });
});
