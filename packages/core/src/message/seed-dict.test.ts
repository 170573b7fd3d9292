import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../bytes.ts';
import { initCrypto } from '../crypto/sodium.ts';
import { bytePattern, errorCode, fixedSeed, toHex } from '../testing/message-fixtures.ts';
import { ENCRYPTED_MASK_SEED_BYTES } from './local-seed-dict.ts';
import { decodeSeedDict, encodeSeedDict, type SeedDict, seedDictByteLength } from './seed-dict.ts';
import { encodeUpdateSeedDict } from './update-seed-dict.ts';

const crypto = await initCrypto();
const pk = (n: number) => toBase64Url(crypto.signingKeyPair(fixedSeed(n)).publicKey);

/** Three sum participants × two update participants; the third sum participant got no seeds. */
const dict: SeedDict = new Map([
  [
    pk(10),
    new Map([
      [pk(30), bytePattern(ENCRYPTED_MASK_SEED_BYTES, 0)],
      [pk(31), bytePattern(ENCRYPTED_MASK_SEED_BYTES, 1)],
    ]),
  ],
  [
    pk(11),
    new Map([
      [pk(30), bytePattern(ENCRYPTED_MASK_SEED_BYTES, 2)],
      [pk(31), bytePattern(ENCRYPTED_MASK_SEED_BYTES, 3)],
    ]),
  ],
  [pk(12), new Map()],
]);

describe('seed dictionary (protocol.md §3.8)', () => {
  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeSeedDict(dict);
    expect(bytes.length).toBe(seedDictByteLength(dict));
    expect(bytes.length).toBe(4 + 3 * 36 + 4 * 112);
    expect(toHex(crypto.hash(bytes))).toBe('45a33550ac08bc8225ba443efbec5c42e347fc090dae4340589f27078cdbf079');
    expect(decodeSeedDict(bytes)).toEqual(dict);
  });

  it('nests update seed dictionary encodings', () => {
    const one: SeedDict = new Map([[pk(10), dict.get(pk(10)) as Map<string, Uint8Array>]]);
    const bytes = encodeSeedDict(one);
    expect(toHex(bytes.subarray(0, 4))).toBe('00000001');
    expect(bytes.subarray(36)).toEqual(encodeUpdateSeedDict(dict.get(pk(10)) as Map<string, Uint8Array>));
  });

  it('rejects every truncation, a trailing byte and bad keys inside a column', () => {
    const bytes = encodeSeedDict(dict);
    for (let n = 0; n < bytes.length; n++)
      expect(errorCode(() => decodeSeedDict(bytes.subarray(0, n)))).toBe('truncated');
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(errorCode(() => decodeSeedDict(longer))).toBe('trailing-bytes');
    // One column of two: its count at 36, its update keys at 40 and 152.
    const one = encodeSeedDict(new Map([[pk(11), dict.get(pk(11)) as Map<string, Uint8Array>]]));
    const inner = one.slice();
    inner.set(one.subarray(40, 72), 152);
    expect(errorCode(() => decodeSeedDict(inner))).toBe('duplicate-key');
    expect(() => decodeSeedDict(inner)).toThrow('seed dictionary.entries[0].value[1].key');
  });

  it('round-trips any dictionary', () => {
    const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toBase64Url);
    const column = fc
      .dictionary(key, fc.uint8Array({ minLength: 80, maxLength: 80 }), { maxKeys: 4 })
      .map((r) => new Map(Object.entries(r)));
    fc.assert(
      fc.property(fc.dictionary(key, column, { maxKeys: 5 }), (record) => {
        const d: SeedDict = new Map(Object.entries(record));
        expect(decodeSeedDict(encodeSeedDict(d))).toEqual(d);
      }),
    );
  });
});
