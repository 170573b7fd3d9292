import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { initCrypto } from '../crypto/sodium.ts';
import { Aggregation } from '../mask/aggregation.ts';
import { allMaskConfigs, encodeMaskConfig, type MaskConfig, maskParams } from '../mask/config.ts';
import { groupFor } from '../mask/group.ts';
import { type MaskObject, PackedMaskObject } from '../mask/mask-object.ts';
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

const PRIME_FLOAT_CONFIG: MaskConfig = { group: 'prime', data: 'f32', bound: 'b0', model: 'm3' };

/**
 * The packed encoding of `values` at `bits` bits each, computed independently of group.ts from
 * the definition (protocol.md §3.6): the little-endian integer Σ vᵢ·2^(i·bits) in
 * ceil(n·bits / 8) bytes.
 */
function referencePack(values: readonly bigint[], bits: number): Uint8Array {
  let x = 0n;
  for (let i = values.length - 1; i >= 0; i--) x = (x << BigInt(bits)) | (values[i] as bigint);
  const out = new Uint8Array(Math.ceil((values.length * bits) / 8));
  for (let k = 0; k < out.length; k++) {
    out[k] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Element i of a packed vector starting at byte `offset`, read bit by bit from the definition. */
function elementAt(bytes: Uint8Array, offset: number, i: number, bits: number): bigint {
  let v = 0n;
  for (let b = bits - 1; b >= 0; b--) {
    const j = i * bits + b;
    v = (v << 1n) | BigInt(((bytes[offset + (j >>> 3)] as number) >>> (j & 7)) & 1);
  }
  return v;
}

/** Overwrites element i of a packed vector at byte `offset` with `value` (< 2^bits). */
function setElementAt(bytes: Uint8Array, offset: number, i: number, bits: number, value: bigint): void {
  for (let b = 0; b < bits; b++) {
    const j = i * bits + b;
    const at = offset + (j >>> 3);
    const bit = 1 << (j & 7);
    bytes[at] = ((value >> BigInt(b)) & 1n) === 1n ? (bytes[at] as number) | bit : (bytes[at] as number) & ~bit;
  }
}

/** The byte length of a packed vector of n elements. */
const packed = (n: number, bits: number) => Math.ceil((n * bits) / 8);

describe('mask object codec (protocol.md §3.6)', () => {
  const cases = [
    {
      name: 'float path, power2/f32/b2/m3 (51 bits: 8 elements in 51 bytes)',
      config: FLOAT_CONFIG,
      elementBits: 51,
      golden: [
        '02000203', // config: power2 f32 b2 m3
        '00000005', // count
        // 5 × 51 = 255 bits in 32 bytes, the last bit padding
        '1c8899bd40df9b1409a17eca6087da2188502e99fe644646ca8b17a13b061609',
        '02000203', // config again
        'da2de46f0b6a01', // masked scalar: 51 bits in 7 bytes
      ].join(''),
    },
    {
      name: 'float path, prime/f32/b0/m3 (45 bits)',
      config: PRIME_FLOAT_CONFIG,
      elementBits: 45,
      golden: [
        '01000003', // config: prime f32 b0 m3
        '00000005', // count
        // 5 × 45 = 225 bits in 29 bytes, 7 bits padding
        '6818a41d5345b22cec81279da8d08015998d86509e7c426f5fe623a200',
        '01000003', // config again
        'da014bef2409', // masked scalar: 45 bits in 6 bytes
      ].join(''),
    },
    {
      name: 'limbs path, prime/f64/b6/m6 (108 bits)',
      config: LIMBS_CONFIG,
      elementBits: 108,
      golden: [
        '01010606', // config: prime f64 b6 m6
        '00000005', // count
        // 5 × 108 = 540 bits in 68 bytes, 4 bits padding
        '6ed5e769d5fa950e69c545aeaa5384f7cefe2ee977af696e7e1e814cec29f9e173bdf15cb59bf656',
        '76ce0beeafe7edb218283fe334645cdea4acbc7bcfe5581c6c844306',
        '01010606', // config again
        'ccf2939923a0e90ae5c6b7769008', // masked scalar: 108 bits in 14 bytes
      ].join(''),
    },
  ];

  for (const { name, config, elementBits, golden } of cases) {
    describe(name, () => {
      const object = fixtureMaskedModel(crypto, config, 5);
      const group = groupFor(maskParams(config));
      const scalarAt = 8 + packed(5, elementBits) + 4;

      it('encodes the golden vector, as the definition packs it, and decodes it back', () => {
        expect(maskParams(config).elementBits).toBe(elementBits);
        const bytes = encodeMaskObject(object);
        expect(bytes.length).toBe(maskObjectByteLength(config, 5));
        expect(bytes.length).toBe(12 + packed(5, elementBits) + packed(1, elementBits));
        expect(toHex(bytes)).toBe(golden);
        const values = Array.from({ length: 5 }, (_, i) => group.toBigInt(object.vector, i));
        expect(toHex(bytes.subarray(8, 8 + packed(5, elementBits)))).toBe(toHex(referencePack(values, elementBits)));
        for (let i = 0; i < 5; i++) expect(elementAt(bytes, 8, i, elementBits)).toBe(values[i]);
        expect(elementAt(bytes, scalarAt, 0, elementBits)).toBe(group.toBigInt(object.scalar, 0));
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

      it('rejects elements at or above the group order, naming the element', () => {
        const order = maskParams(config).order;
        const top = 2n ** BigInt(elementBits) - 1n;
        const withElement = (offset: number, i: number, value: bigint) => {
          const b = encodeMaskObject(object);
          setElementAt(b, offset, i, elementBits, value);
          return b;
        };
        // Unpacked, and kept packed (checked without unpacking: ADR 0018).
        for (const keep of [false, true]) {
          const decode = (b: Uint8Array) => decodeMaskObject(b, { packed: keep });
          for (const [offset, i] of [
            [8, 0],
            [8, 4],
            [scalarAt, 0],
          ] as const) {
            expect(errorCode(() => decode(withElement(offset, i, order - 1n)))).toBe('no error');
            if (order === top + 1n) {
              // power2: every elementBits-bit value is an element
              expect(errorCode(() => decode(withElement(offset, i, top)))).toBe('no error');
            } else {
              expect(errorCode(() => decode(withElement(offset, i, order)))).toBe('out-of-range');
              expect(errorCode(() => decode(withElement(offset, i, top)))).toBe('out-of-range');
            }
          }
          if (order !== top + 1n) {
            expect(() => decode(withElement(8, 4, order))).toThrow('mask object.vector[4]');
            expect(() => decode(withElement(scalarAt, 0, order))).toThrow('mask object.scalar[0]');
          }
        }
      });

      it('rejects a nonzero padding bit after the vector and after the scalar', () => {
        const vectorPadding = 8 * packed(5, elementBits) - 5 * elementBits;
        const scalarPadding = 8 * packed(1, elementBits) - elementBits;
        const cases: [number, number, string][] = [];
        if (vectorPadding > 0) cases.push([8 + packed(5, elementBits) - 1, vectorPadding, 'mask object.vector']);
        if (scalarPadding > 0) cases.push([scalarAt + packed(1, elementBits) - 1, scalarPadding, 'mask object.scalar']);
        expect(cases.length).toBeGreaterThan(0);
        for (const [last, padding, field] of cases) {
          for (let bit = 8 - padding; bit < 8; bit++) {
            const b = encodeMaskObject(object);
            b[last] = (b[last] as number) | (1 << bit);
            for (const keep of [false, true]) {
              expect(errorCode(() => decodeMaskObject(b, { packed: keep }))).toBe('invalid-field');
              expect(() => decodeMaskObject(b, { packed: keep })).toThrow(
                `${field}: expected the ${padding} padding bits`,
              );
            }
          }
        }
      });

      it('checks the configs and the count', () => {
        const bytes = encodeMaskObject(object);
        const other = { ...config, model: 'm12' } as const;
        expect(errorCode(() => decodeMaskObject(bytes, { config: other }))).toBe('config-mismatch');
        expect(errorCode(() => decodeMaskObject(bytes, { length: 6 }))).toBe('model-length-mismatch');
        const second = bytes.slice();
        second.set(encodeMaskConfig(other), scalarAt - 4);
        expect(errorCode(() => decodeMaskObject(second))).toBe('config-mismatch');
        const badGroup = bytes.slice();
        badGroup[0] = 7;
        expect(errorCode(() => decodeMaskObject(badGroup))).toBe('invalid-mask-config');
      });
    });
  }

  it('is 6.375 bytes a weight under power2/f32/b2/m3: 12 + ceil(51·n / 8) + 7 bytes', () => {
    expect(maskObjectByteLength(FLOAT_CONFIG, 1_000_000)).toBe(6_375_019);
    expect(maskObjectByteLength(FLOAT_CONFIG, 0)).toBe(19);
    expect(maskObjectByteLength(FLOAT_CONFIG, 1)).toBe(26);
    expect(maskObjectByteLength(FLOAT_CONFIG, 8)).toBe(12 + 51 + 7);
    expect(maskObjectByteLength(FLOAT_CONFIG, 9)).toBe(12 + 58 + 7);
    expect(maskObjectByteLength(LIMBS_CONFIG, 10)).toBe(12 + 135 + 14);
  });

  // Every elementBits the 240 configs give (45 … 2142), at counts around every byte boundary:
  // both read paths (the 8-byte window and the tail), every padding width.
  const counts = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 23, 24, 25, 40];
  const byBits = new Map<number, MaskConfig[]>();
  for (const config of allMaskConfigs()) {
    const bits = maskParams(config).elementBits;
    byBits.set(bits, [...(byBits.get(bits) ?? []), config]);
  }

  it('packs exactly as the definition at every elementBits of the 240 configs', () => {
    expect([...byBits.keys()].length).toBe(37);
    let state = 0x2545f491;
    const next = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return BigInt(state >>> 0);
    };
    for (const config of allMaskConfigs()) {
      const params = maskParams(config);
      const group = groupFor(params);
      const bits = params.elementBits;
      for (const n of counts) {
        // random elements, with 0 and order − 1 among them
        const values = Array.from({ length: n }, (_, i) => {
          if (i % 7 === 3) return params.order - 1n;
          if (i % 7 === 5) return 0n;
          let v = 0n;
          for (let b = 0; b < bits + 32; b += 32) v = (v << 32n) | next();
          return v % params.order;
        });
        const scalar = params.order - 1n - BigInt(n);
        const object: MaskObject = {
          config,
          length: n,
          vector: group.fromBigInts(values),
          scalar: group.fromBigInts([scalar]),
        };
        const bytes = encodeMaskObject(object);
        const at = `${params.name}, ${n} elements`;
        expect(bytes.length, at).toBe(12 + packed(n, bits) + packed(1, bits));
        expect(toHex(bytes.subarray(8, 8 + packed(n, bits))), at).toBe(toHex(referencePack(values, bits)));
        expect(toHex(bytes.subarray(bytes.length - packed(1, bits))), at).toBe(toHex(referencePack([scalar], bits)));
        expect(decodeMaskObject(bytes, { config, length: n }), at).toStrictEqual(object);
      }
    }
  });

  it('rejects padding bits and elements at the order at every elementBits, in both read paths', () => {
    for (const [bits, configs] of byBits) {
      const config = configs.find((c) => c.group !== 'power2') as MaskConfig;
      const params = maskParams(config);
      const group = groupFor(params);
      for (const n of counts.filter((c) => c > 0)) {
        const object: MaskObject = {
          config,
          length: n,
          vector: group.fromBigInts(Array.from({ length: n }, (_, i) => BigInt(i))),
          scalar: group.fromBigInts([1n]),
        };
        const at = `${params.name}, ${n} elements`;
        const padding = 8 * packed(n, bits) - n * bits;
        if (padding > 0) {
          const b = encodeMaskObject(object);
          b[8 + packed(n, bits) - 1] = (b[8 + packed(n, bits) - 1] as number) | 0x80;
          for (const keep of [false, true]) {
            expect(
              errorCode(() => decodeMaskObject(b, { packed: keep })),
              at,
            ).toBe('invalid-field');
          }
        }
        for (const i of [0, n - 1]) {
          const b = encodeMaskObject(object);
          setElementAt(b, 8, i, bits, params.order);
          for (const keep of [false, true]) {
            expect(
              errorCode(() => decodeMaskObject(b, { packed: keep })),
              `${at}, element ${i}`,
            ).toBe('out-of-range');
            expect(() => decodeMaskObject(b, { packed: keep }), `${at}, element ${i}`).toThrow(
              `mask object.vector[${i}]`,
            );
          }
        }
      }
    }
  });

  it('keeps the vector packed where asked, on the float path: the same elements, encoding and sums (ADR 0018)', () => {
    let state = 0x1b873593;
    const next = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return BigInt(state >>> 0);
    };
    let packedSeen = 0;
    for (const config of allMaskConfigs()) {
      const params = maskParams(config);
      const group = groupFor(params);
      const bits = params.elementBits;
      // Elements near the order, so that the sums wrap.
      const random = (n: number) =>
        Array.from({ length: n }, (_, i) => (i % 3 === 0 ? params.order - 1n - (next() % 5n) : next() % params.order));
      for (const n of counts) {
        const object: MaskObject = {
          config,
          length: n,
          vector: group.fromBigInts(random(n)),
          scalar: group.fromBigInts(random(1)),
        };
        const other: MaskObject = { ...object, vector: group.fromBigInts(random(n)) };
        const bytes = encodeMaskObject(object);
        const at = `${params.name}, ${n} elements`;
        const read = decodeMaskObject(bytes, { config, length: n, packed: true });
        if (params.arithmetic === 'float') {
          packedSeen += 1;
          expect(read, at).toBeInstanceOf(PackedMaskObject);
          expect(toHex(read.packed as Uint8Array), at).toBe(toHex(bytes.subarray(8, 8 + packed(n, bits))));
        } else {
          // The limbs path has no packed adder: the vector is unpacked as without the option.
          expect(read.packed, at).toBeUndefined();
        }
        // Added from the packed bytes (before anything unpacks them) as from the elements.
        const fromPacked = new Aggregation(config, n);
        const fromElements = new Aggregation(config, n);
        for (const a of [fromPacked, fromElements]) a.aggregate(other);
        expect(fromPacked.validateAggregation(read), at).toBeUndefined();
        fromPacked.aggregate(read);
        fromElements.aggregate(object);
        expect(fromPacked.toMaskObject(), at).toStrictEqual(fromElements.toMaskObject());
        expect(toHex(encodeMaskObject(read)), at).toBe(toHex(bytes));
        expect(Array.from(read.vector), at).toEqual(Array.from(object.vector));
        // Taken back from the unpacked elements, exactly.
        fromPacked.retract(read);
        expect(Array.from(fromPacked.toMaskObject().vector), at).toEqual(Array.from(other.vector));
      }
    }
    expect(packedSeen).toBeGreaterThan(0);
  });

  it('takes a packed mask off an aggregate as its elements do: the same unmasked model, wrapping below zero (ADR 0018)', () => {
    let state = 0x2545f491;
    const next = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return BigInt(state >>> 0) * 0x10000n + BigInt((state >>> 7) & 0xffff);
    };
    let packedSeen = 0;
    for (const config of allMaskConfigs()) {
      const params = maskParams(config);
      if (params.arithmetic !== 'float') continue;
      const group = groupFor(params);
      // Masks near the order and aggregates near zero (and the reverse): most differences wrap.
      const elements = (n: number, high: boolean) =>
        Array.from({ length: n }, (_, i) => ((i % 2 === 0) === high ? params.order - 1n - (next() % 7n) : next() % 7n));
      for (const n of counts) {
        const at = `${params.name}, ${n} elements`;
        const masked: MaskObject = {
          config,
          length: n,
          vector: group.fromBigInts(elements(n, false)),
          // Σ sᵢ = 1 once the mask's zero scalar is off: a model to decode (the vector is what is tested).
          scalar: group.fromBigInts([(params.addShift + 1n) * params.expShift]),
        };
        const mask: MaskObject = {
          config,
          length: n,
          vector: group.fromBigInts(elements(n, true)),
          scalar: group.fromBigInts([0n]),
        };
        const read = decodeMaskObject(encodeMaskObject(mask), { config, length: n, packed: true });
        expect(read, at).toBeInstanceOf(PackedMaskObject);
        packedSeen += 1;
        const aggregation = new Aggregation(config, n);
        aggregation.aggregate(masked);
        const fromElements = aggregation.unmask(mask);
        // Nothing unpacks the mask on the way (`vector` would, through the group's `read`).
        const unpacking = vi.spyOn(group, 'read');
        const fromPacked = aggregation.unmask(read);
        expect(unpacking, at).not.toHaveBeenCalled();
        unpacking.mockRestore();
        expect(Array.from(fromPacked), at).toEqual(Array.from(fromElements));
        // Each element exactly: (aggregate − mask) mod the order, decoded, against BigInt arithmetic.
        const expected = new Aggregation(config, n);
        expected.aggregate({
          config,
          length: n,
          vector: group.fromBigInts(
            Array.from({ length: n }, (_, i) => {
              const d = group.toBigInt(masked.vector, i) - group.toBigInt(mask.vector, i);
              return d < 0n ? d + params.order : d;
            }),
          ),
          scalar: masked.scalar,
        });
        const zero: MaskObject = {
          config,
          length: n,
          vector: group.fromBigInts(Array(n).fill(0n)),
          scalar: mask.scalar,
        };
        expect(Array.from(fromPacked), at).toEqual(Array.from(expected.unmask(zero)));
      }
    }
    expect(packedSeen).toBeGreaterThan(0);
  });

  it('makes a packed object only on the float path with the lengths it states; a spread copy is not packed', () => {
    const n = 9;
    const group = groupFor(maskParams(FLOAT_CONFIG));
    const scalar = group.fromBigInts([1n]);
    const bytes = packed(n, 51);
    expect(errorCode(() => new PackedMaskObject(FLOAT_CONFIG, n, new Uint8Array(bytes - 1), scalar))).toBe(
      'invalid-field',
    );
    expect(errorCode(() => new PackedMaskObject(FLOAT_CONFIG, n, new Uint8Array(bytes), new Float64Array(2)))).toBe(
      'invalid-field',
    );
    expect(errorCode(() => new PackedMaskObject(LIMBS_CONFIG, n, new Uint8Array(bytes), scalar))).toBe('invalid-field');
    const zeros = new PackedMaskObject(FLOAT_CONFIG, n, new Uint8Array(bytes), scalar);
    expect(new Aggregation(FLOAT_CONFIG, n).validateAggregation(zeros)).toBeUndefined();
    // A spread keeps `packed` but not the prototype's `addPackedTo`: an ordinary object, whose
    // vector is what every reader goes by (the length check, the sum, the encoding).
    const spread: MaskObject = { ...zeros, vector: group.fromBigInts([5n, 6n, 7n]) };
    expect(spread.packed).toBe(zeros.packed);
    expect(new Aggregation(FLOAT_CONFIG, n).validateAggregation(spread)?.code).toBe('model-length-mismatch');
    expect(errorCode(() => encodeMaskObject(spread))).toBe('invalid-field');
    const ones: MaskObject = { ...zeros, vector: group.fromBigInts(Array.from({ length: n }, () => 1n)) };
    const sum = new Aggregation(FLOAT_CONFIG, n);
    sum.aggregate(ones);
    expect(Array.from(sum.toMaskObject().vector)).toEqual(Array.from({ length: n }, () => 1));
    expect(toHex(encodeMaskObject(ones))).toBe(
      toHex(encodeMaskObject({ config: FLOAT_CONFIG, length: n, vector: ones.vector, scalar })),
    );
  });

  it('equals the whole-byte encoding when elementBits is a multiple of 8', () => {
    const aligned = allMaskConfigs().filter((c) => maskParams(c).elementBits % 8 === 0);
    expect(aligned.length).toBeGreaterThan(0);
    for (const config of aligned) {
      const params = maskParams(config);
      const values = [params.order - 1n, 1n, params.order >> 1n];
      const bytes = encodeMaskObject({
        config,
        length: 3,
        vector: groupFor(params).fromBigInts(values),
        scalar: groupFor(params).fromBigInts([2n]),
      });
      const b = params.bytesPerNumber;
      for (const [i, v] of values.entries()) {
        let le = 0n;
        for (let k = b - 1; k >= 0; k--) le = (le << 8n) | BigInt(bytes[8 + i * b + k] as number);
        expect(le, params.name).toBe(v);
      }
    }
  });

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
