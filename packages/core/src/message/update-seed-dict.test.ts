import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../bytes.ts';
import { initCrypto } from '../crypto/sodium.ts';
import { bytePattern, errorCode, fixedSeed, toHex } from '../testing/message-fixtures.ts';
import { ENCRYPTED_MASK_SEED_BYTES } from './local-seed-dict.ts';
import {
  decodeUpdateSeedDict,
  encodeUpdateSeedDict,
  type UpdateSeedDict,
  updateSeedDictByteLength,
} from './update-seed-dict.ts';

const crypto = await initCrypto();

const dict: UpdateSeedDict = new Map(
  [30, 31].map((n, i) => [
    toBase64Url(crypto.signingKeyPair(fixedSeed(n)).publicKey),
    bytePattern(ENCRYPTED_MASK_SEED_BYTES, 0x80 + i),
  ]),
);

describe('update seed dictionary (protocol.md §3.8)', () => {
  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeUpdateSeedDict(dict);
    expect(bytes.length).toBe(updateSeedDictByteLength(dict));
    expect(bytes.length).toBe(4 + 2 * 112);
    expect(toHex(crypto.hash(bytes))).toBe('2b4dd17fef5ec53680976fb694ee6d0747059b9c9bb010b09cfa8f6e6d849c87');
    expect(decodeUpdateSeedDict(bytes)).toEqual(dict);
  });

  it('rejects every truncation, a trailing byte and a repeated key', () => {
    const bytes = encodeUpdateSeedDict(dict);
    for (let n = 0; n < bytes.length; n++) {
      expect(errorCode(() => decodeUpdateSeedDict(bytes.subarray(0, n)))).toBe('truncated');
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(errorCode(() => decodeUpdateSeedDict(longer))).toBe('trailing-bytes');
    const repeated = bytes.slice();
    repeated.set(bytes.subarray(4, 36), 116);
    expect(errorCode(() => decodeUpdateSeedDict(repeated))).toBe('duplicate-key');
  });

  it('round-trips any dictionary', () => {
    const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toBase64Url);
    const value = fc.uint8Array({ minLength: 80, maxLength: 80 });
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 10 }), (record) => {
        const d: UpdateSeedDict = new Map(Object.entries(record));
        expect(decodeUpdateSeedDict(encodeUpdateSeedDict(d))).toEqual(d);
      }),
    );
  });
});
