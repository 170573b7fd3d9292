import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../bytes.ts';
import { initCrypto } from '../crypto/sodium.ts';
import { errorCode, fixedSeed, toHex } from '../testing/message-fixtures.ts';
import { decodeSumDict, encodeSumDict, type SumDict, sumDictByteLength } from './sum-dict.ts';

const crypto = await initCrypto();

const dict: SumDict = new Map(
  [10, 11, 12].map((n) => [
    toBase64Url(crypto.signingKeyPair(fixedSeed(n)).publicKey),
    crypto.encryptKeyPair(fixedSeed(n + 10)).publicKey,
  ]),
);

describe('sum dictionary (protocol.md §3.8)', () => {
  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeSumDict(dict);
    expect(bytes.length).toBe(sumDictByteLength(dict));
    expect(bytes.length).toBe(4 + 3 * 64);
    expect(toHex(crypto.hash(bytes))).toBe('aa3ee5c6a53817dffa3c702ea340205d9443cbf4d3e38d9000d161788b9e502b');
    expect(decodeSumDict(bytes)).toEqual(dict);
    expect(toHex(encodeSumDict(new Map()))).toBe('00000000');
    expect(decodeSumDict(new Uint8Array(4))).toEqual(new Map());
  });

  it('rejects every truncation and a trailing byte', () => {
    const bytes = encodeSumDict(dict);
    for (let n = 0; n < bytes.length; n++)
      expect(errorCode(() => decodeSumDict(bytes.subarray(0, n)))).toBe('truncated');
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(errorCode(() => decodeSumDict(longer))).toBe('trailing-bytes');
  });

  it('rejects swapped and repeated entries', () => {
    const bytes = encodeSumDict(dict);
    const swapped = bytes.slice();
    swapped.set(bytes.subarray(4, 68), 68);
    swapped.set(bytes.subarray(68, 132), 4);
    expect(errorCode(() => decodeSumDict(swapped))).toBe('unsorted-keys');
    const repeated = bytes.slice();
    repeated.set(bytes.subarray(4, 68), 68);
    expect(errorCode(() => decodeSumDict(repeated))).toBe('duplicate-key');
  });

  it('round-trips any dictionary', () => {
    const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toBase64Url);
    const value = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 20 }), (record) => {
        const d: SumDict = new Map(Object.entries(record));
        expect(decodeSumDict(encodeSumDict(d))).toEqual(d);
      }),
    );
  });

  it('refuses values that are not 32-byte keys', () => {
    const [k] = dict.keys();
    expect(errorCode(() => encodeSumDict(new Map([[k as string, new Uint8Array(31)]])))).toBe('invalid-field');
  });
});
