import { describe, expect, it } from 'vitest';
import { initCrypto } from '../crypto/sodium.ts';
import { Masker } from '../mask/masker.ts';
import {
  errorCode,
  FLOAT_CONFIG,
  fixedSeed,
  fixtureModel,
  fixtureUpdate,
  LIMBS_CONFIG,
  toHex,
} from '../testing/message-fixtures.ts';
import { maskObjectByteLength } from './mask-object.ts';
import { decodeUpdate, encodeMaskedUpdate, encodeUpdate, updateByteLength } from './update.ts';

const crypto = await initCrypto();
const update = fixtureUpdate(crypto, FLOAT_CONFIG, 16);
/** Offset of the local seed dictionary: two signatures and the masked model. */
const dictAt = 128 + maskObjectByteLength(FLOAT_CONFIG, 16);

describe('update payload (protocol.md §3.4)', () => {
  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeUpdate(update);
    expect(bytes.length).toBe(updateByteLength(update));
    // masked model: 12 + ceil(16 · 51 / 8) + ceil(51 / 8) = 12 + 102 + 7 bytes (protocol.md §3.6)
    expect(bytes.length).toBe(128 + 121 + 4 + 3 * 112);
    expect(toHex(crypto.hash(bytes))).toBe('d4b75416e499dc70c5dc6b392caa5da5bc0ef9e72b929f895a352734e88d1be3');
    expect(toHex(bytes.subarray(128, 136))).toBe('0200020300000010'); // config, count 16
    expect(toHex(bytes.subarray(dictAt, dictAt + 4))).toBe('00000003');
    expect(decodeUpdate(bytes)).toStrictEqual(update);
    expect(decodeUpdate(bytes, { config: FLOAT_CONFIG, length: 16 })).toStrictEqual(update);
  });

  it('round-trips a limbs-path masked model', () => {
    const limbs = fixtureUpdate(crypto, LIMBS_CONFIG, 9);
    expect(decodeUpdate(encodeUpdate(limbs), { config: LIMBS_CONFIG, length: 9 })).toStrictEqual(limbs);
  });

  it('encodeMaskedUpdate masks into the encoding: the same bytes as encodeUpdate', () => {
    for (const [config, length] of [
      [FLOAT_CONFIG, 16],
      [FLOAT_CONFIG, 20_001],
      [LIMBS_CONFIG, 9],
    ] as const) {
      const expected = fixtureUpdate(crypto, config, length); // masked under fixedSeed(7), scalar 0.5
      const { maskedModel: _, ...fields } = expected;
      const masker = new Masker(crypto, config);
      const bytes = encodeMaskedUpdate(masker, fields, fixtureModel(length), 0.5, fixedSeed(7));
      expect(Buffer.compare(bytes, encodeUpdate(expected))).toBe(0);
    }
    const { maskedModel: _, ...fields } = update;
    const masker = new Masker(crypto, FLOAT_CONFIG);
    const short = { ...fields, sumSignature: new Uint8Array(63) };
    expect(errorCode(() => encodeMaskedUpdate(masker, short, fixtureModel(4), 1, fixedSeed(1)))).toBe('invalid-field');
    expect(errorCode(() => encodeMaskedUpdate(masker, fields, [0, Number.NaN], 1, fixedSeed(1)))).toBe(
      'invalid-model-value',
    );
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
    const padding = bytes.slice();
    padding[dictAt - 1] = 0x80; // a padding bit of the masked scalar (51 bits in 7 bytes)
    expect(errorCode(() => decodeUpdate(padding))).toBe('invalid-field');
    expect(() => decodeUpdate(padding)).toThrow('update payload.maskedModel.scalar: expected the 5 padding bits');
    // Under a prime order, an element at or above it: weight 0's top byte (108 bits: bits 104..107).
    const limbs = encodeUpdate(fixtureUpdate(crypto, LIMBS_CONFIG, 9));
    limbs[136 + 13] = 0x0f;
    expect(errorCode(() => decodeUpdate(limbs))).toBe('out-of-range');
    expect(() => decodeUpdate(limbs)).toThrow('update payload.maskedModel.vector[0]');
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
