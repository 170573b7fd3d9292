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
/** Where the rejected seeds start in the encoding of `sum2` (sumSignature 64, mask 12 + 102 + 7). */
const REJECTED_AT = 64 + 121;

describe('sum2 payload (protocol.md §3.5)', () => {
  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeSum2(sum2);
    expect(bytes.length).toBe(sum2ByteLength(sum2));
    expect(bytes.length).toBe(64 + 121 + 4 + 2 * 32);
    // sumSignature ‖ aggregated mask
    expect(toHex(crypto.hash(bytes.subarray(0, REJECTED_AT)))).toBe(
      '88f2835f5bcc41494d104f5b2ce4e340582db5cce343ba709490ea2b88f1bba7',
    );
    expect(toHex(bytes.subarray(REJECTED_AT, REJECTED_AT + 4))).toBe('00000002');
    expect(toHex(bytes.subarray(REJECTED_AT + 4))).toBe(toHex(low) + toHex(high));
    expect(toHex(crypto.hash(bytes))).toBe('1012dcf0d2b3a0cc928abce8bf9dbdc2b7668bc495a73e1f5fa699401da1cd80');
    expect(decodeSum2(bytes)).toStrictEqual(sum2);
    expect(decodeSum2(bytes, { config: FLOAT_CONFIG, length: 16 })).toStrictEqual(sum2);
  });

  it('every seed opened: count 0, four zero bytes after the mask', () => {
    const none = fixtureSum2(crypto, FLOAT_CONFIG, 16, []);
    const bytes = encodeSum2(none);
    expect(bytes.length).toBe(64 + 121 + 4);
    expect(toHex(bytes.subarray(REJECTED_AT))).toBe('00000000');
    expect(toHex(crypto.hash(bytes))).toBe('6bd9866c78d67dc9831833da01441e3807409f06602a1bddda845d106d213e56');
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
    const padding = bytes.slice();
    padding[REJECTED_AT - 1] = 0xff; // top byte of the scalar: 3 value bits, 5 padding bits
    expect(errorCode(() => decodeSum2(padding))).toBe('invalid-field');
    expect(() => decodeSum2(padding)).toThrow('sum2 payload.aggregatedMask.scalar: expected the 5 padding bits');
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
