import { describe, expect, it } from 'vitest';
import { initCrypto } from '../crypto/sodium.ts';
import { errorCode, FLOAT_CONFIG, fixtureSum2, LIMBS_CONFIG, toHex } from '../testing/message-fixtures.ts';
import { decodeSum2, encodeSum2, sum2ByteLength } from './sum2.ts';

const crypto = await initCrypto();
const sum2 = fixtureSum2(crypto, FLOAT_CONFIG, 16);

describe('sum2 payload (protocol.md §3.5)', () => {
  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeSum2(sum2);
    expect(bytes.length).toBe(sum2ByteLength(sum2));
    expect(bytes.length).toBe(64 + 131);
    expect(toHex(crypto.hash(bytes))).toBe('33853c2a8793b84989adaab0d64a8d593ff300a11aceb6399ef544d671f7e74c');
    expect(decodeSum2(bytes)).toStrictEqual(sum2);
    expect(decodeSum2(bytes, { config: FLOAT_CONFIG, length: 16 })).toStrictEqual(sum2);
  });

  it('round-trips a limbs-path aggregated mask', () => {
    const limbs = fixtureSum2(crypto, LIMBS_CONFIG, 9);
    expect(decodeSum2(encodeSum2(limbs), { config: LIMBS_CONFIG, length: 9 })).toStrictEqual(limbs);
  });

  it('rejects every truncation, a trailing byte and a foreign mask', () => {
    const bytes = encodeSum2(sum2);
    for (let n = 0; n < bytes.length; n++) expect(errorCode(() => decodeSum2(bytes.subarray(0, n)))).toBe('truncated');
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(errorCode(() => decodeSum2(longer))).toBe('trailing-bytes');
    expect(errorCode(() => decodeSum2(bytes, { config: LIMBS_CONFIG }))).toBe('config-mismatch');
    expect(errorCode(() => decodeSum2(bytes, { length: 15 }))).toBe('model-length-mismatch');
    const outOfRange = bytes.slice();
    outOfRange[bytes.length - 1] = 0xff; // top byte of the scalar
    expect(errorCode(() => decodeSum2(outOfRange))).toBe('out-of-range');
  });
});
