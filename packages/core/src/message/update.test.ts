import { describe, expect, it } from 'vitest';
import { initCrypto } from '../crypto/sodium.ts';
import { errorCode, FLOAT_CONFIG, fixtureUpdate, LIMBS_CONFIG, toHex } from '../testing/message-fixtures.ts';
import { maskObjectByteLength } from './mask-object.ts';
import { decodeUpdate, encodeUpdate, updateByteLength } from './update.ts';

const crypto = await initCrypto();
const update = fixtureUpdate(crypto, FLOAT_CONFIG, 16);
/** Offset of the local seed dictionary: two signatures and the masked model. */
const dictAt = 128 + maskObjectByteLength(FLOAT_CONFIG, 16);

describe('update payload (protocol.md §3.4)', () => {
  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeUpdate(update);
    expect(bytes.length).toBe(updateByteLength(update));
    expect(bytes.length).toBe(128 + 131 + 4 + 3 * 112);
    expect(toHex(crypto.hash(bytes))).toBe('2dd67cb2eafad12ece75d347a347882f6ff16e710a59b669b3a227ecd105ad98');
    expect(toHex(bytes.subarray(128, 136))).toBe('0200020300000010'); // config, count 16
    expect(toHex(bytes.subarray(dictAt, dictAt + 4))).toBe('00000003');
    expect(decodeUpdate(bytes)).toStrictEqual(update);
    expect(decodeUpdate(bytes, { config: FLOAT_CONFIG, length: 16 })).toStrictEqual(update);
  });

  it('round-trips a limbs-path masked model', () => {
    const limbs = fixtureUpdate(crypto, LIMBS_CONFIG, 9);
    expect(decodeUpdate(encodeUpdate(limbs), { config: LIMBS_CONFIG, length: 9 })).toStrictEqual(limbs);
  });

  it('rejects every truncation and a trailing byte', () => {
    const bytes = encodeUpdate(update);
    for (let n = 0; n < bytes.length; n++)
      expect(errorCode(() => decodeUpdate(bytes.subarray(0, n)))).toBe('truncated');
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(errorCode(() => decodeUpdate(longer))).toBe('trailing-bytes');
  });

  it('checks the masked model against the round', () => {
    const bytes = encodeUpdate(update);
    expect(errorCode(() => decodeUpdate(bytes, { config: LIMBS_CONFIG }))).toBe('config-mismatch');
    expect(errorCode(() => decodeUpdate(bytes, { length: 17 }))).toBe('model-length-mismatch');
    const outOfRange = bytes.slice();
    outOfRange[136 + 6] = 0xff; // top byte of weight 0
    expect(errorCode(() => decodeUpdate(outOfRange))).toBe('out-of-range');
    expect(() => decodeUpdate(outOfRange)).toThrow('update payload.maskedModel.vector[0]');
  });

  it('rejects an unsorted or repeated local seed dictionary', () => {
    const bytes = encodeUpdate(update);
    const entry = (i: number) => bytes.subarray(dictAt + 4 + 112 * i, dictAt + 4 + 112 * (i + 1));
    const swapped = bytes.slice();
    swapped.set(entry(1), dictAt + 4);
    swapped.set(entry(0), dictAt + 4 + 112);
    expect(errorCode(() => decodeUpdate(swapped))).toBe('unsorted-keys');
    const repeated = bytes.slice();
    repeated.set(entry(1), dictAt + 4 + 224);
    expect(errorCode(() => decodeUpdate(repeated))).toBe('duplicate-key');
  });

  it('refuses to encode wrong-sized signatures', () => {
    expect(errorCode(() => encodeUpdate({ ...update, updateSignature: new Uint8Array(1) }))).toBe('invalid-field');
  });
});
