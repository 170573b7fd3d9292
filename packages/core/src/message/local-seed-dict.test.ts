import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../bytes.ts';
import { initCrypto } from '../crypto/sodium.ts';
import { errorCode, fixtureLocalSeedDict, toHex } from '../testing/message-fixtures.ts';
import {
  decodeLocalSeedDict,
  ENCRYPTED_MASK_SEED_BYTES,
  encodeLocalSeedDict,
  type LocalSeedDict,
  localSeedDictByteLength,
} from './local-seed-dict.ts';

const crypto = await initCrypto();
const dict = fixtureLocalSeedDict(crypto);

describe('local seed dictionary (protocol.md §3.8)', () => {
  it('holds 80-byte encrypted mask seeds', () => {
    expect(ENCRYPTED_MASK_SEED_BYTES).toBe(80);
    const ephemeral = crypto.encryptKeyPair();
    expect(crypto.seal(crypto.randomBytes(32), ephemeral.publicKey).length).toBe(ENCRYPTED_MASK_SEED_BYTES);
  });

  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeLocalSeedDict(dict);
    expect(bytes.length).toBe(localSeedDictByteLength(dict));
    expect(bytes.length).toBe(4 + 3 * 112);
    expect(toHex(crypto.hash(bytes))).toBe('bb5ba199c128c0ee89ab6bf959b94f9110f0eff7894bdead2b3fefa0e74b819a');
    expect(decodeLocalSeedDict(bytes)).toEqual(dict);
  });

  it('rejects every truncation, a trailing byte and unsorted entries', () => {
    const bytes = encodeLocalSeedDict(dict);
    for (let n = 0; n < bytes.length; n++) {
      expect(errorCode(() => decodeLocalSeedDict(bytes.subarray(0, n)))).toBe('truncated');
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(errorCode(() => decodeLocalSeedDict(longer))).toBe('trailing-bytes');
    const swapped = bytes.slice();
    swapped.set(bytes.subarray(116, 228), 4);
    swapped.set(bytes.subarray(4, 116), 116);
    expect(errorCode(() => decodeLocalSeedDict(swapped))).toBe('unsorted-keys');
  });

  it('round-trips any dictionary', () => {
    const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toBase64Url);
    const value = fc.uint8Array({ minLength: 80, maxLength: 80 });
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 10 }), (record) => {
        const d: LocalSeedDict = new Map(Object.entries(record));
        expect(decodeLocalSeedDict(encodeLocalSeedDict(d))).toEqual(d);
      }),
    );
  });
});
