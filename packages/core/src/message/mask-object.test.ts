import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initCrypto } from '../crypto/sodium.ts';
import { allMaskConfigs, encodeMaskConfig, maskParams } from '../mask/config.ts';
import { groupFor } from '../mask/group.ts';
import type { MaskObject } from '../mask/mask-object.ts';
import {
  errorCode,
  FLOAT_CONFIG,
  fixtureMaskedModel,
  fromHex,
  LIMBS_CONFIG,
  toHex,
} from '../testing/message-fixtures.ts';
import { decodeMaskObject, encodeMaskObject, maskObjectByteLength } from './mask-object.ts';

const crypto = await initCrypto();

/** Element i of an encoding, read independently of group.ts: a little-endian integer. */
function elementAt(bytes: Uint8Array, offset: number, bytesPerNumber: number): bigint {
  let v = 0n;
  for (let k = bytesPerNumber - 1; k >= 0; k--) v = (v << 8n) | BigInt(bytes[offset + k] as number);
  return v;
}

describe('mask object codec (protocol.md §3.6)', () => {
  const cases = [
    {
      name: 'float path, power2/f32/b2/m3',
      config: FLOAT_CONFIG,
      bytesPerNumber: 7,
      golden: [
        '02000203', // config: power2 f32 b2 m3
        '00000005', // count
        '1c8899bd40df03', // element 0 (7 bytes, little-endian)
        '932221d44f1904',
        '1d6a872042b904',
        '4c7f322323e505',
        '7811ba63609100',
        '02000203', // config again
        'da2de46f0b6a01', // masked scalar
      ].join(''),
    },
    {
      name: 'limbs path, prime/f64/b6/m6',
      config: LIMBS_CONFIG,
      bytesPerNumber: 14,
      golden: [
        '01010606', // config: prime f64 b6 m6
        '00000005', // count
        '6ed5e769d5fa950e69c545aeaa03', // element 0 (14 bytes, little-endian)
        '4578efecef927ef79ae6e6e71108',
        '4cec29f9e173bdf15cb59bf65606',
        'e7bce0fe7ade2e8b81f2334e4306',
        '5cdea4acbc7bcfe5581c6c844306',
        '01010606', // config again
        'ccf2939923a0e90ae5c6b7769008', // masked scalar
      ].join(''),
    },
  ];

  for (const { name, config, bytesPerNumber, golden } of cases) {
    describe(name, () => {
      const object = fixtureMaskedModel(crypto, config, 5);
      const group = groupFor(maskParams(config));

      it('encodes the golden vector and decodes it back', () => {
        expect(maskParams(config).bytesPerNumber).toBe(bytesPerNumber);
        const bytes = encodeMaskObject(object);
        expect(bytes.length).toBe(maskObjectByteLength(config, 5));
        expect(toHex(bytes)).toBe(golden);
        for (let i = 0; i < 5; i++) {
          expect(elementAt(bytes, 8 + i * bytesPerNumber, bytesPerNumber)).toBe(group.toBigInt(object.vector, i));
        }
        expect(elementAt(bytes, bytes.length - bytesPerNumber, bytesPerNumber)).toBe(group.toBigInt(object.scalar, 0));
        const decoded = decodeMaskObject(fromHex(golden));
        expect(decoded).toStrictEqual(object);
        expect(decoded.vector.constructor).toBe(object.vector.constructor);
        expect(decodeMaskObject(bytes, { config, length: 5 })).toStrictEqual(object);
      });

      it('rejects every truncation and a trailing byte', () => {
        const bytes = encodeMaskObject(object);
        for (let n = 0; n < bytes.length; n++) {
          expect(errorCode(() => decodeMaskObject(bytes.subarray(0, n)))).toBe('truncated');
        }
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        expect(errorCode(() => decodeMaskObject(longer))).toBe('trailing-bytes');
      });

      it('rejects elements at or above the group order', () => {
        const order = maskParams(config).order;
        const withElement = (offset: number, value: bigint) => {
          const b = encodeMaskObject(object);
          for (let k = 0; k < bytesPerNumber; k++) b[offset + k] = Number((value >> BigInt(8 * k)) & 0xffn);
          return b;
        };
        const lastWeight = 8 + 4 * bytesPerNumber;
        const scalarAt = 8 + 5 * bytesPerNumber + 4;
        for (const at of [8, lastWeight, scalarAt]) {
          expect(errorCode(() => decodeMaskObject(withElement(at, order)))).toBe('out-of-range');
          expect(errorCode(() => decodeMaskObject(withElement(at, 2n ** BigInt(8 * bytesPerNumber) - 1n)))).toBe(
            'out-of-range',
          );
          expect(errorCode(() => decodeMaskObject(withElement(at, order - 1n)))).toBe('no error');
        }
        expect(() => decodeMaskObject(withElement(lastWeight, order))).toThrow('mask object.vector[4]');
      });

      it('checks the configs and the count', () => {
        const bytes = encodeMaskObject(object);
        const other = { ...config, model: 'm12' } as const;
        expect(errorCode(() => decodeMaskObject(bytes, { config: other }))).toBe('config-mismatch');
        expect(errorCode(() => decodeMaskObject(bytes, { length: 6 }))).toBe('model-length-mismatch');
        const second = bytes.slice();
        second.set(encodeMaskConfig(other), 8 + 5 * bytesPerNumber);
        expect(errorCode(() => decodeMaskObject(second))).toBe('config-mismatch');
        const badGroup = bytes.slice();
        badGroup[0] = 7;
        expect(errorCode(() => decodeMaskObject(badGroup))).toBe('invalid-mask-config');
      });
    });
  }

  it('checks a forged count before allocating', () => {
    const bytes = encodeMaskObject(fixtureMaskedModel(crypto, LIMBS_CONFIG, 5));
    new DataView(bytes.buffer).setUint32(4, 0xffff_ffff);
    expect(errorCode(() => decodeMaskObject(bytes, { length: 5 }))).toBe('model-length-mismatch');
    expect(errorCode(() => decodeMaskObject(bytes))).toBe('truncated');
    expect(errorCode(() => decodeMaskObject(bytes, { config: FLOAT_CONFIG, length: 0xffff_ffff }))).toBe(
      'config-mismatch',
    );
  });

  it('refuses to encode a malformed object', () => {
    const object = fixtureMaskedModel(crypto, LIMBS_CONFIG, 5);
    expect(errorCode(() => encodeMaskObject({ ...object, length: 4 }))).toBe('invalid-field');
    expect(errorCode(() => encodeMaskObject({ ...object, scalar: object.vector }))).toBe('invalid-field');
  });

  it('round-trips any elements under any of the 240 configs', () => {
    const arbitrary = fc.constantFrom(...allMaskConfigs()).chain((config) =>
      fc.record({
        config: fc.constant(config),
        values: fc.array(fc.bigInt({ min: 0n, max: maskParams(config).order - 1n }), { maxLength: 12 }),
        scalar: fc.bigInt({ min: 0n, max: maskParams(config).order - 1n }),
      }),
    );
    fc.assert(
      fc.property(arbitrary, ({ config, values, scalar }) => {
        const group = groupFor(maskParams(config));
        const object: MaskObject = {
          config,
          length: values.length,
          vector: group.fromBigInts(values),
          scalar: group.fromBigInts([scalar]),
        };
        const bytes = encodeMaskObject(object);
        expect(bytes.length).toBe(maskObjectByteLength(config, values.length));
        expect(decodeMaskObject(bytes, { config, length: values.length })).toStrictEqual(object);
      }),
    );
  });
});
