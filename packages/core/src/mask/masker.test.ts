/**
 * Mask derivation and masking (protocol.md §4.3, §5.2–5.3) against a BigInt reference written
 * from the spec (here and in test-support/reference.ts): ChaCha20 (RFC 8439) with nonce
 * "LibsodiumDRG" from block 0; each draw takes the next bytesPerNumber bytes little-endian, clears the bits at and above bitLength(order − 1)
 * and is accepted below the order; the scalar's mask is drawn first. Encoding is
 * q = floor((clamp(fl(s·w), −A, U) + A)·E) on the exact rational value of the double.
 * Orders come from the reference table, never from the code under test.
 */

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  REFERENCE_CONFIGS as CONFIGS,
  cfg,
  chacha20Block,
  type Reference,
  ReferenceStream,
  reference,
} from '../../test-support/reference.ts';
import { initCrypto, type PetCrypto } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import { type MaskConfig, maskParams } from './config.ts';
import { groupFor, packedByteLength } from './group.ts';
import { deriveMask, MASK_BLOCK, Masker, validateModel } from './masker.ts';
import { KeystreamReader } from './sampling.ts';

/** `count` draws: little-endian bytesPerNumber bytes, bits ≥ elementBits cleared, rejected ≥ order. */
function referenceDraws(ref: Reference, stream: ReferenceStream, count: number): bigint[] {
  const mask = (1n << BigInt(ref.bits)) - 1n;
  const out: bigint[] = [];
  while (out.length < count) {
    const bytes = stream.take(ref.bytesPerNumber);
    let v = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] as number);
    v &= mask;
    if (v < ref.order) out.push(v);
  }
  return out;
}

/** The exact value of a finite double: numerator / 2^shift. */
function rational(x: number): { num: bigint; den: bigint } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const exponent = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  if (exponent !== 0) mantissa |= 1n << 52n;
  const e2 = (exponent === 0 ? 1 : exponent) - 1075;
  const num = negative ? -mantissa : mantissa;
  return e2 >= 0 ? { num: num << BigInt(e2), den: 1n } : { num, den: 1n << BigInt(-e2) };
}

/** q = floor((clamp(v, −A, U) + A)·E), exactly. */
function referenceEncode(ref: Reference, v: number): bigint {
  if (Number.isNaN(v)) throw new Error('NaN has no encoding');
  if (v === Number.POSITIVE_INFINITY) return (ref.a + ref.u) * ref.e;
  if (v === Number.NEGATIVE_INFINITY) return 0n;
  const { num, den } = rational(v);
  if (num >= ref.u * den) return (ref.a + ref.u) * ref.e;
  if (num <= -ref.a * den) return 0n;
  return ((num + ref.a * den) * ref.e) / den; // non-negative: BigInt division floors
}

const configKeyOf = (c: MaskConfig): string => `${c.group}/${c.data}/${c.bound}/${c.model}`;

/** Elements as BigInts, read from either layout without the code under test's helpers. */
function toBigInts(ref: Reference, elements: Float64Array | Uint32Array, count: number): bigint[] {
  if (elements instanceof Float64Array) {
    expect(elements.length).toBe(count);
    return Array.from(elements, (v) => {
      if (!Number.isInteger(v) || v < 0) throw new Error(`not an element: ${v}`);
      return BigInt(v);
    });
  }
  const limbs = Math.ceil(ref.bits / 32);
  expect(elements.length).toBe(count * limbs);
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) {
    let v = 0n;
    for (let k = limbs - 1; k >= 0; k--) v = (v << 32n) | BigInt(elements[i * limbs + k] as number);
    out.push(v);
  }
  return out;
}

const range = (n: number, start = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

function nextUp(x: number): number {
  if (Number.isNaN(x) || x === Number.POSITIVE_INFINITY) return x;
  if (x === 0) return Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigInt64(0, view.getBigInt64(0) + (x > 0 ? 1n : -1n));
  return view.getFloat64(0);
}
const nextDown = (x: number): number => -nextUp(-x);

// ------------------------------------------------------------------------------------------------

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

describe('reference ChaCha20', () => {
  it('matches RFC 8439 §2.3.2', () => {
    const nonce = new Uint8Array(Buffer.from('000000090000004a00000000', 'hex'));
    expect(Buffer.from(chacha20Block(range(32), 1, nonce)).toString('hex')).toBe(
      '10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e' +
        'd2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e',
    );
  });
});

describe('deriveMask (protocol.md §5.3)', () => {
  it('rejects a length that is not a non-negative integer', () => {
    const config = cfg('power2/f32/b2/m3');
    for (const length of [-1, 1.5, Number.NaN]) {
      expect(() => deriveMask(crypto, config, range(32), length)).toThrow(
        expect.objectContaining({ code: 'invalid-field' }),
      );
    }
  });

  // Float path (order < 2^52) and limbs path; rejecting and non-rejecting groups; element sizes
  // from 6 to 268 bytes; elementBits a multiple of 32 (power2/f64/b6/m12, order 2^128).
  const cases: [string, number[]][] = [
    ['prime/f32/b0/m3', [0, 1, 17, 50_000]], // float, 6-byte draws, crosses the 256 KiB chunk
    ['integer/f32/b2/m3', [3, 100]], // float, 7-byte draws
    ['power2/f32/b2/m3', [5, 40_000]], // float, order 2^51, crosses a chunk
    ['power2/i32/b0/m3', [9]], // float, order 2^45
    ['integer/f32/b0/m6', [2, 40_000]], // limbs (2), 7-byte draws read as 8, crosses a chunk
    ['power2/f32/b4/m3', [6, 40_000]], // limbs (2), order 2^58: the demo's config
    ['prime/i64/bmax/m3', [33, 20_000]], // limbs (4), 14-byte draws, crosses a chunk
    ['power2/f64/b6/m12', [64, 20_000]], // limbs (4), order 2^128: no mask bits, no rejection
    ['integer/f32/bmax/m9', [40]], // limbs (10)
    ['power2/f64/bmax/m6', [3]], // limbs (67), 266-byte draws
    ['integer/f64/bmax/m12', [5]], // limbs (67), 268-byte draws
    ['prime/f64/bmax/m3', [2, 3_000]], // limbs (66), 264-byte draws, crosses several chunks
  ];

  for (const [text, lengths] of cases) {
    it(`equals the reference for ${text}, lengths ${lengths.join(', ')}`, () => {
      const config = cfg(text);
      const ref = reference(config);
      for (const [k, length] of lengths.entries()) {
        const seed = range(32, 7 * k + length);
        const mask = deriveMask(crypto, config, seed, length);
        expect(mask.length).toBe(length);
        expect(mask.config).toEqual(config);
        const stream = new ReferenceStream(seed);
        const [scalar] = referenceDraws(ref, stream, 1);
        const expected = referenceDraws(ref, stream, length);
        expect(toBigInts(ref, mask.scalar, 1)).toEqual([scalar]);
        const got = toBigInts(ref, mask.vector, length);
        const first = got.findIndex((v, i) => v !== expected[i]);
        if (first >= 0)
          throw new Error(`${text} length ${length}: element ${first} is ${got[first]}, expected ${expected[first]}`);
      }
    });
  }

  it('depends on every seed byte', () => {
    const config = cfg('prime/f32/b0/m3');
    const base = toBigInts(reference(config), deriveMask(crypto, config, range(32), 4).vector, 4);
    for (const i of [0, 13, 31]) {
      const seed = range(32);
      seed[i] = (seed[i] as number) ^ 1;
      expect(toBigInts(reference(config), deriveMask(crypto, config, seed, 4).vector, 4)).not.toEqual(base);
    }
  });

  it('pins the known answers of protocol.md §5.4 (seed = bytes 0..31; scalar mask, then 8 weight masks)', () => {
    const pinned: Record<string, string[]> = {
      'power2/f32/b2/m3': [
        '1149572800613901',
        '747110340437641',
        '72946491051856',
        '997370935152771',
        '640959736027195',
        '1452104421634640',
        '1117146457155108',
        '685569474935014',
        '434919419829218',
      ],
      'prime/f32/b0/m3': [
        '15048748577447',
        '13814814753368',
        '18392240296289',
        '6137604269627',
        '19268764856943',
        '3268670075736',
        '10606543748001',
        '6137818520953',
        '15030137862532',
      ],
      'integer/f64/b6/m6': [
        '53834973612793698843981624675853',
        '71868149950466930769854194503504',
        '104635150914829081457591092090939',
        '49400486909662667244949968102948',
        '60296320348503774602641852218839',
        '188425133444971825502686446686846',
        '182564828371732793454394108882411',
        '166297377557932169819902932366308',
        '117757217730459119272808558727281',
      ],
    };
    for (const [text, values] of Object.entries(pinned)) {
      const config = cfg(text);
      const ref = reference(config);
      const mask = deriveMask(crypto, config, range(32), 8);
      const got = [...toBigInts(ref, mask.scalar, 1), ...toBigInts(ref, mask.vector, 8)].map(String);
      expect(got, text).toEqual(values);
      expect(referenceDraws(ref, new ReferenceStream(range(32)), 9).map(String), text).toEqual(values);
    }
  });

  it('pins the masked-model known answer of protocol.md §5.4', () => {
    const config = cfg('power2/f32/b2/m3');
    const model = [0, 1, -1, 0.5, 100, -100, 1e-9, 123.456];
    const { masked } = new Masker(crypto, config).mask(model, 1, range(32));
    const ref = reference(config);
    expect(toBigInts(ref, masked.scalar, 1).map(String)).toEqual(['1150582800613901']);
    expect(toBigInts(ref, masked.vector, 8).map(String)).toEqual([
      '748110340437641',
      '73956491051856',
      '998360935152771',
      '641964736027195',
      '1454104421634640',
      '1117146457155108',
      '686569474935024',
      '436919419829218',
    ]);
  });
});

describe('Masker.mask (protocol.md §4.3)', () => {
  /** Weights that probe the clamp, the flooring and the double ↔ rational edge cases. */
  function weightArb(ref: Reference): fc.Arbitrary<number> {
    const a = Number(ref.a);
    const u = Number(ref.u);
    return fc.oneof(
      fc.double({ min: -1, max: 1, noNaN: true }).map((x) => x * a),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(
        ...[a, -a, u, nextUp(u), nextDown(u), nextUp(a), nextDown(-a), nextUp(-a), 2 * a, -2 * a].filter(
          Number.isFinite,
        ),
      ),
      fc.constantFrom(
        0,
        -0,
        Number.MIN_VALUE,
        -Number.MIN_VALUE,
        2.2250738585072014e-308,
        Number.MAX_VALUE,
        -Number.MAX_VALUE,
      ),
      fc.double({ min: -1e-300, max: 1e-300, noNaN: true }),
      // values whose scaled fraction lies at or next to an integer: the floor must not round
      fc
        .tuple(
          fc.integer({ min: -100, max: 100 }),
          fc.constantFrom(0, 0.5, 0.1, -0.1, 1e-10, -1e-10, 2 ** -40, -(2 ** -40)),
        )
        .map(([i, f]) => nextDown(i + f)),
      fc
        .tuple(fc.integer({ min: -100, max: 100 }), fc.constantFrom(0.5, 0.1, 1e-10, 3e-10))
        .map(([i, f]) => nextUp(i + f)),
    );
  }

  const scalarArb = (ref: Reference): fc.Arbitrary<number> =>
    fc.oneof(
      fc.constantFrom(1, 0, 0.5, 0.1, 3, Number.MIN_VALUE, Number(ref.a), nextUp(Number(ref.a))),
      fc.double({ min: 0, max: 2, noNaN: true }),
      fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }),
    );

  it('masked = (encode(fl(s·w)) + mask) mod order for every element, over all 240 configs', () => {
    const caseArb = fc.constantFrom(...CONFIGS).chain((config) => {
      const ref = reference(config);
      return fc.record({
        config: fc.constant(config),
        model: fc.array(weightArb(ref), { minLength: 0, maxLength: 12 }),
        scalar: scalarArb(ref),
        seed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        float32: fc.boolean(),
      });
    });
    fc.assert(
      fc.property(caseArb, ({ config, model, scalar, seed, float32 }) => {
        const ref = reference(config);
        const input = float32 ? Float32Array.from(model.map((w) => Math.fround(w)).filter(Number.isFinite)) : model;
        const { seed: usedSeed, masked } = new Masker(crypto, config).mask(input, scalar, seed);
        expect(Array.from(usedSeed)).toEqual(Array.from(seed));
        expect(masked.config).toEqual(config);
        expect(masked.length).toBe(input.length);
        const stream = new ReferenceStream(seed);
        const [scalarMask] = referenceDraws(ref, stream, 1);
        const masks = referenceDraws(ref, stream, input.length);
        expect(toBigInts(ref, masked.scalar, 1)).toEqual([
          (referenceEncode(ref, scalar) + (scalarMask ?? 0n)) % ref.order,
        ]);
        const expected = Array.from(input, (w, i) => (referenceEncode(ref, scalar * w) + (masks[i] ?? 0n)) % ref.order);
        expect(toBigInts(ref, masked.vector, input.length)).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('encodes the clamp bounds and their neighbours exactly (i32/i64 bmax: upper bound 2^(k−1) − 1)', () => {
    for (const text of [
      'prime/i32/bmax/m3',
      'integer/i64/bmax/m6',
      'power2/f32/bmax/m3',
      'integer/f64/bmax/m3',
      'prime/f64/b2/m3',
      'integer/f32/b2/m3',
    ]) {
      const config = cfg(text);
      const ref = reference(config);
      const a = Number(ref.a);
      const u = Number(ref.u);
      const model = [
        a,
        -a,
        u,
        nextUp(u),
        nextDown(u),
        nextDown(-a),
        nextUp(-a),
        0,
        -0,
        Number.MIN_VALUE,
        -Number.MIN_VALUE,
      ];
      const seed = range(32, 99);
      const { masked } = new Masker(crypto, config).mask(model, 1, seed);
      const stream = new ReferenceStream(seed);
      referenceDraws(ref, stream, 1);
      const masks = referenceDraws(ref, stream, model.length);
      const got = toBigInts(ref, masked.vector, model.length).map(
        (v, i) => (v - (masks[i] ?? 0n) + ref.order) % ref.order,
      );
      expect(got, text).toEqual(model.map((w) => referenceEncode(ref, w)));
      // nothing encodes above (A + U)·E, so N = modelCap such values cannot wrap the group
      const top = (ref.a + ref.u) * ref.e;
      expect(
        got.every((q) => q <= top),
        text,
      ).toBe(true);
      expect(top * 10n ** BigInt(config.model.slice(1)) < ref.order, text).toBe(true);
    }
  });

  it('adds each draw and reduces mod the order exactly when the sum wraps, with and without a borrow (limb path)', () => {
    // Draws chosen by hand (a keystream that yields them), so that every sum that can wrap does:
    // at random a sum exceeds the order for about 1 element in (A + U)·E·N / (A + U)·E = N.
    const configs = CONFIGS.filter((c) => {
      const ref = reference(c);
      return maskParams(c).arithmetic !== 'float' && ref.bits <= 96;
    });
    expect(configs.length).toBeGreaterThan(20);
    for (const config of configs) {
      const ref = reference(config);
      const a = Number(ref.a);
      const u = Number(ref.u);
      const weights = [-a, -a / 2, -1.5, 0, 0.3, 1, u / 3, u, 2 * u];
      const qs = weights.map((w) => referenceEncode(ref, w));
      const draws: bigint[] = [];
      const values: number[] = [];
      for (const [j, w] of weights.entries()) {
        const q = qs[j] as bigint;
        const near = [0n, 1n, ref.order - 1n, ref.order - 2n, ref.order - q, ref.order - q + 1n, ref.order - q - 1n];
        const limbEdges = [
          2n ** 32n - 1n,
          2n ** 32n,
          2n ** 64n - 1n,
          ref.order - 2n ** 32n,
          ref.order - (q % 2n ** 32n) - 1n,
        ];
        for (const r of [...near, ...limbEdges]) {
          if (r < 0n || r >= ref.order) continue;
          draws.push(r);
          values.push(w);
        }
      }
      const bytes = new Uint8Array(Math.ceil(((draws.length + 8) * ref.bytesPerNumber) / 64) * 64 + 64);
      draws.forEach((r, i) => {
        for (let k = 0; k < ref.bytesPerNumber; k++)
          bytes[i * ref.bytesPerNumber + k] = Number((r >> BigInt(8 * k)) & 255n);
      });
      let position = 0;
      const stream = {
        next(length: number): Uint8Array {
          const out = new Uint8Array(length);
          out.set(bytes.subarray(position, position + length));
          position += length;
          return out;
        },
        get position() {
          return position;
        },
        dispose() {},
      };
      const group = groupFor(maskParams(config));
      const out = group.alloc(values.length);
      expect(group.maskInto(values, 0, values.length, 1, new KeystreamReader(stream), out, 0)).toBe(-1);
      const expected = values.map((w, i) => (referenceEncode(ref, w) + (draws[i] as bigint)) % ref.order);
      expect(toBigInts(ref, out as Float64Array | Uint32Array, values.length), configKeyOf(config)).toEqual(expected);
    }
  });

  it('draws a fresh 32-byte seed when none is given, and deriveMask reproduces its masks', () => {
    const config = cfg('prime/f64/b0/m3');
    const ref = reference(config);
    const masker = new Masker(crypto, config);
    const model = [0.25, -0.5, 1];
    const first = masker.mask(model);
    const second = masker.mask(model);
    expect(first.seed).toHaveLength(32);
    expect(Array.from(first.seed)).not.toEqual(Array.from(second.seed));
    const mask = deriveMask(crypto, config, first.seed, model.length);
    const unmasked = toBigInts(ref, first.masked.vector, 3).map(
      (v, i) => (v - (toBigInts(ref, mask.vector, 3)[i] ?? 0n) + ref.order) % ref.order,
    );
    expect(unmasked).toEqual(model.map((w) => referenceEncode(ref, w)));
    const scalar = (toBigInts(ref, first.masked.scalar, 1)[0] ?? 0n) - (toBigInts(ref, mask.scalar, 1)[0] ?? 0n);
    expect((scalar + ref.order) % ref.order).toBe(referenceEncode(ref, 1));
  });
});

describe('Masker.maskPacked (protocol.md §3.6, §4.3)', () => {
  /** Weights in [−3, 3), some clamped under b2: a different value at every index. */
  const model = (length: number): Float32Array =>
    Float32Array.from({ length }, (_, i) => Math.fround(Math.sin(i * 0.7) * 3));

  it('packs exactly what mask gives, written by the group, across block boundaries and configs', () => {
    const seed = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const lengths = [0, 1, 7, 8, 9, MASK_BLOCK - 1, MASK_BLOCK, MASK_BLOCK + 1, 2 * MASK_BLOCK + 13];
    for (const text of ['power2/f32/b2/m3', 'prime/f32/b0/m3', 'integer/f64/bmax/m3', 'prime/f64/b6/m6']) {
      const config = cfg(text);
      const group = groupFor(maskParams(config));
      const bits = maskParams(config).elementBits;
      for (const length of lengths) {
        const input = model(length);
        const { masked } = new Masker(crypto, config).mask(input, 0.75, seed);
        const expected = new Uint8Array(3 + packedByteLength(bits, length) + 2).fill(0xa5);
        group.write(masked.vector, length, expected, 3);
        // the bytes around the vector are left alone; the vector's own are all written
        const bytes = new Uint8Array(expected.length).fill(0xa5);
        const scalar = new Masker(crypto, config).maskPacked(input, 0.75, seed, bytes, 3);
        // Buffer.compare: toEqual walks 100 KB arrays element by element, seconds per config
        expect(Buffer.compare(bytes, expected), `${text}, ${length} weights`).toBe(0);
        expect(Array.from(scalar)).toEqual(Array.from(masked.scalar));
      }
    }
  });

  it('names the index of a non-finite weight past the first block, and checks its arguments', () => {
    const config = cfg('power2/f32/b2/m3');
    const masker = new Masker(crypto, config);
    const bits = maskParams(config).elementBits;
    const input = model(3 * MASK_BLOCK);
    input[2 * MASK_BLOCK + 5] = Number.NaN;
    const bytes = new Uint8Array(packedByteLength(bits, input.length));
    const seed = new Uint8Array(32).fill(3);
    expect(() => masker.maskPacked(input, 1, seed, bytes, 0)).toThrow(
      new RegExp(`invalid-model-value|model\\[${2 * MASK_BLOCK + 5}\\]`),
    );
    expect(() => masker.maskPacked(input, 1, seed, bytes, 0)).toThrow(`model[${2 * MASK_BLOCK + 5}]`);
    const codeOf = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (error) {
        return error instanceof PetError ? error.code : String(error);
      }
      return undefined;
    };
    const small = model(16);
    const room = new Uint8Array(packedByteLength(bits, 16));
    expect(codeOf(() => masker.maskPacked(small, 1, seed, room, 1))).toBe('invalid-field'); // one byte short
    expect(codeOf(() => masker.maskPacked(small, 1, new Uint8Array(31), room, 0))).toBe('invalid-field');
    expect(codeOf(() => masker.maskPacked(small, -1, seed, room, 0))).toBe('invalid-scalar');
    expect(codeOf(() => masker.maskPacked(small, 1, seed, room, 0))).toBeUndefined();
  });
});

describe('Masker input validation', () => {
  const config = cfg('prime/f32/b0/m3');
  const codeOf = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (error) {
      return error instanceof PetError ? error.code : `not a PetError: ${String(error)}`;
    }
    return undefined;
  };

  for (const [what, bad] of [
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ] as const) {
    it(`rejects a ${what} weight with invalid-model-value naming its index`, () => {
      for (const text of ['prime/f32/b0/m3', 'integer/f64/bmax/m3']) {
        const masker = new Masker(crypto, cfg(text));
        const model = [0.5, 0.25, bad, 0.125];
        expect(codeOf(() => masker.mask(model))).toBe('invalid-model-value');
        expect(() => masker.mask(model)).toThrow(/model\[2\]/);
        expect(() => masker.mask(Float32Array.from([1, 2, 3, 4, bad]))).toThrow(/model\[4\]/);
        expect(codeOf(() => validateModel(model, 1))).toBe('invalid-model-value');
        expect(() => validateModel(model, 1)).toThrow(/model\[2\]/);
      }
    });
  }

  for (const scalar of [-1, -Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY]) {
    it(`rejects the scalar ${scalar} with invalid-scalar`, () => {
      expect(codeOf(() => new Masker(crypto, config).mask([0.5], scalar))).toBe('invalid-scalar');
      expect(codeOf(() => validateModel([0.5], scalar))).toBe('invalid-scalar');
    });
  }

  it('accepts scalar 0 and -0, rejects a seed of the wrong length and an invalid config', () => {
    expect(() => new Masker(crypto, config).mask([0.5], 0)).not.toThrow();
    expect(() => new Masker(crypto, config).mask([0.5], -0)).not.toThrow();
    expect(codeOf(() => new Masker(crypto, config).mask([0.5], 1, new Uint8Array(31)))).toBe('invalid-field');
    expect(codeOf(() => new Masker(crypto, { ...config, bound: 'b3' } as unknown as MaskConfig))).toBe(
      'invalid-mask-config',
    );
  });
});
