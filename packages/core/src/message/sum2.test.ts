import { describe, expect, it } from 'vitest';
import { initCrypto } from '../crypto/sodium.ts';
import {
  errorCode,
  FLOAT_CONFIG,
  fixtureRejectedSeeds,
  fixtureSum2,
  LIMBS_CONFIG,
  toHex,
} from '../testing/message-fixtures.ts';
import { decodeSum2, encodeSum2, type Sum2, sum2ByteLength } from './sum2.ts';

const crypto = await initCrypto();
const sum2 = fixtureSum2(crypto, FLOAT_CONFIG, 16);
const [low, high] = fixtureRejectedSeeds(crypto) as [Uint8Array, Uint8Array];
/** Where the rejected seeds start in the encoding of `sum2` (sumSignature 64, mask 131). */
const REJECTED_AT = 64 + 131;

describe('sum2 payload (protocol.md §3.5)', () => {
  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeSum2(sum2);
    expect(bytes.length).toBe(sum2ByteLength(sum2));
    expect(bytes.length).toBe(64 + 131 + 4 + 2 * 32);
    // sumSignature ‖ aggregated mask: unchanged from the payload before rejectedSeeds was added
    expect(toHex(crypto.hash(bytes.subarray(0, REJECTED_AT)))).toBe(
      '33853c2a8793b84989adaab0d64a8d593ff300a11aceb6399ef544d671f7e74c',
    );
    expect(toHex(bytes.subarray(REJECTED_AT, REJECTED_AT + 4))).toBe('00000002');
    expect(toHex(bytes.subarray(REJECTED_AT + 4))).toBe(toHex(low) + toHex(high));
    expect(toHex(crypto.hash(bytes))).toBe('b343cfd76335cb350ed822ed34958417cfd269748671ebe83c2a2ab1f34d50ab');
    expect(decodeSum2(bytes)).toStrictEqual(sum2);
    expect(decodeSum2(bytes, { config: FLOAT_CONFIG, length: 16 })).toStrictEqual(sum2);
  });

  it('every seed opened: count 0, four zero bytes after the mask', () => {
    const none = fixtureSum2(crypto, FLOAT_CONFIG, 16, []);
    const bytes = encodeSum2(none);
    expect(bytes.length).toBe(64 + 131 + 4);
    expect(toHex(bytes.subarray(REJECTED_AT))).toBe('00000000');
    expect(toHex(crypto.hash(bytes))).toBe('6488ae8df281d8468b2c644b2faeb25c90941ae255620c6ea29b5fcb7974dca6');
    expect(decodeSum2(bytes)).toStrictEqual(none);
  });

  it('equal reports encode equally: the encoder sorts the keys', () => {
    const reversed: Sum2 = { ...sum2, rejectedSeeds: [high, low] };
    expect(toHex(encodeSum2(reversed))).toBe(toHex(encodeSum2(sum2)));
    expect(decodeSum2(encodeSum2(reversed)).rejectedSeeds).toStrictEqual([low, high]);
  });

  it('the encoder refuses a repeated key or one of the wrong length', () => {
    expect(errorCode(() => encodeSum2({ ...sum2, rejectedSeeds: [low, high, low] }))).toBe('duplicate-key');
    expect(errorCode(() => encodeSum2({ ...sum2, rejectedSeeds: [low, high.subarray(1)] }))).toBe('invalid-field');
    expect(() => encodeSum2({ ...sum2, rejectedSeeds: [low, high.subarray(1)] })).toThrow(
      'sum2 payload.rejectedSeeds[1]: expected 32 bytes, got 31 bytes',
    );
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
    outOfRange[REJECTED_AT - 1] = 0xff; // top byte of the scalar
    expect(errorCode(() => decodeSum2(outOfRange))).toBe('out-of-range');
  });

  it('rejected seeds out of order or repeated: unsorted-keys, duplicate-key, naming the entry', () => {
    const swapped = encodeSum2(sum2);
    swapped.set(high, REJECTED_AT + 4);
    swapped.set(low, REJECTED_AT + 4 + 32);
    expect(errorCode(() => decodeSum2(swapped))).toBe('unsorted-keys');
    expect(() => decodeSum2(swapped)).toThrow(/^sum2 payload\.rejectedSeeds\[1\]: expected a key above /);
    const repeated = encodeSum2(sum2);
    repeated.set(low, REJECTED_AT + 4 + 32);
    expect(errorCode(() => decodeSum2(repeated))).toBe('duplicate-key');
    expect(() => decodeSum2(repeated)).toThrow(/^sum2 payload\.rejectedSeeds\[1\]: expected a key not seen before/);
  });

  it('a forged count is truncated before anything is allocated', () => {
    const bytes = encodeSum2(sum2);
    for (const count of [3, 0x0100_0000, 0xffff_ffff]) {
      const forged = bytes.slice();
      new DataView(forged.buffer).setUint32(REJECTED_AT, count, false);
      expect(
        errorCode(() => decodeSum2(forged)),
        `count ${count}`,
      ).toBe('truncated');
      expect(() => decodeSum2(forged)).toThrow(
        `sum2 payload.rejectedSeeds.count: expected at most 2 keys in the 64 bytes left, got ${count} at offset ${REJECTED_AT}`,
      );
    }
    // a count of 1 with two keys' bytes: one key, then trailing bytes
    const fewer = bytes.slice();
    new DataView(fewer.buffer).setUint32(REJECTED_AT, 1, false);
    expect(errorCode(() => decodeSum2(fewer))).toBe('trailing-bytes');
  });
});
