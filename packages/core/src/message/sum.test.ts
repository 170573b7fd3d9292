import { describe, expect, it } from 'vitest';
import { initCrypto } from '../crypto/sodium.ts';
import { errorCode, fixtureSum, toHex } from '../testing/message-fixtures.ts';
import { decodeSum, encodeSum, SUM_BYTES } from './sum.ts';

const crypto = await initCrypto();
const sum = fixtureSum(crypto);

describe('sum payload (protocol.md §3.3)', () => {
  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeSum(sum);
    expect(bytes.length).toBe(SUM_BYTES);
    expect(toHex(bytes)).toBe(
      'a6cd1f11ece7cf342c5b575fe6eb08eb15edd0d3cab0dba792e828e52267e140eda8292401fe97589550fd73d413302525ab5a9ddcfd54767cf6c5c1017fa600edd03cade80d29de6ea313a74ab369f4732ecb36649066b78b5b2dd664cb0417',
    );
    expect(decodeSum(bytes)).toStrictEqual(sum);
  });

  it('rejects every truncation and a trailing byte', () => {
    const bytes = encodeSum(sum);
    for (let n = 0; n < bytes.length; n++) expect(errorCode(() => decodeSum(bytes.subarray(0, n)))).toBe('truncated');
    expect(() => decodeSum(bytes.subarray(0, 71))).toThrow(
      'sum payload.ephemeralPk: expected 32 bytes at offset 64, got 7',
    );
    const longer = new Uint8Array(SUM_BYTES + 1);
    longer.set(bytes);
    expect(errorCode(() => decodeSum(longer))).toBe('trailing-bytes');
  });

  it('decodes copies, not views of the input', () => {
    const bytes = encodeSum(sum);
    const decoded = decodeSum(bytes);
    bytes.fill(0);
    expect(decoded).toStrictEqual(sum);
  });

  it('refuses to encode wrong-sized fields', () => {
    expect(errorCode(() => encodeSum({ ...sum, sumSignature: new Uint8Array(65) }))).toBe('invalid-field');
    expect(() => encodeSum({ ...sum, ephemeralPk: new Uint8Array(7) })).toThrow(
      'sum payload.ephemeralPk: expected 32 bytes, got 7 bytes',
    );
  });
});
