/**
 * Aggregation and unmasking (protocol.md §4.4–4.5), end to end: update participants mask with
 * Masker, the coordinator adds the masked models, a sum participant adds the masks it derives
 * from the seeds, and the coordinator unmasks. Checked against an exact BigInt/rational
 * reference written here from the spec (orders from the reference table):
 *   q = floor((clamp(fl(s·w), −A, U) + A)·E),  value_i = (Σq_i − N·A·E) / (Σq_s − N·A·E).
 */

import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bitLength,
  REFERENCE_CONFIGS as CONFIGS,
  cfg,
  codeOf,
  configKey as name,
  type Reference,
  reference,
} from '../../test-support/reference.ts';
import { initCrypto, type PetCrypto } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import { Aggregation } from './aggregation.ts';
import { type MaskConfig, maskParams } from './config.ts';
import { groupFor } from './group.ts';
import type { MaskObject } from './mask-object.ts';
import { deriveMask, Masker } from './masker.ts';

/** Exact value of a double as num / 2^1074 (a common denominator for every double). */
const SCALE_BITS = 1074n;
function scaled(x: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const exponent = (bits >> 52n) & 0x7ffn;
  let mantissa = bits & ((1n << 52n) - 1n);
  if (exponent !== 0n) mantissa |= 1n << 52n;
  const v = mantissa << ((exponent === 0n ? 1n : exponent) - 1n); // mantissa · 2^(e − 1075 + 1074)
  return bits >> 63n === 1n ? -v : v;
}

/** clamp(v, −A, U) · 2^1074, exactly (±Infinity clamp too). */
function clampedScaled(ref: Reference, v: number): bigint {
  const lo = -ref.a << SCALE_BITS;
  const hi = ref.u << SCALE_BITS;
  if (v === Number.POSITIVE_INFINITY) return hi;
  if (v === Number.NEGATIVE_INFINITY) return lo;
  const x = scaled(v);
  return x < lo ? lo : x > hi ? hi : x;
}

/** q = floor((clamp(v) + A)·E), exactly. */
const encode = (ref: Reference, v: number): bigint =>
  ((clampedScaled(ref, v) + (ref.a << SCALE_BITS)) * ref.e) >> SCALE_BITS;

/** num/den rounded to the nearest double, ties to even (den > 0). */
function toDouble(num: bigint, den: bigint): number {
  if (num === 0n) return 0;
  const negative = num < 0n;
  const n = negative ? -num : num;
  let e = bitLength(n) - bitLength(den) - 53;
  const quotient = (k: number): [bigint, bigint, bigint] => {
    const [a, b] = k >= 0 ? [n, den << BigInt(k)] : [n << BigInt(-k), den];
    return [a / b, a, b];
  };
  let [q, a, b] = quotient(e);
  while (q >= 1n << 53n) [q, a, b] = quotient(++e);
  if (e < -1074) {
    e = -1074;
    [q, a, b] = quotient(e);
  }
  const r2 = 2n * (a - q * b);
  if (r2 > b || (r2 === b && (q & 1n) === 1n)) q += 1n;
  const magnitude = Number(q) * 2 ** e;
  return negative ? -magnitude : magnitude;
}

function ulpDistance(x: number, y: number): bigint {
  const view = new DataView(new ArrayBuffer(8));
  const ordered = (v: number): bigint => {
    view.setFloat64(0, v);
    const i = view.getBigInt64(0);
    return i < 0n ? -(i & 0x7fffffffffffffffn) : i;
  };
  const d = ordered(x) - ordered(y);
  return d < 0n ? -d : d;
}

function toBigInts(ref: Reference, elements: Float64Array | Uint32Array, count: number): bigint[] {
  if (elements instanceof Float64Array) return Array.from(elements, (v) => BigInt(v));
  const limbs = Math.ceil(ref.bits / 32);
  expect(elements.length).toBe(count * limbs);
  return Array.from({ length: count }, (_, i) => {
    let v = 0n;
    for (let k = limbs - 1; k >= 0; k--) v = (v << 32n) | BigInt(elements[i * limbs + k] as number);
    return v;
  });
}

function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigInt64(0, view.getBigInt64(0) + (x > 0 ? 1n : -1n));
  return view.getFloat64(0);
}

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

// --- the round, end to end ---------------------------------------------------------------------

interface Participant {
  scalar: number;
  model: number[];
  seed: Uint8Array;
}

function weightArb(ref: Reference): fc.Arbitrary<number> {
  const a = Number(ref.a);
  const u = Number(ref.u);
  const edges = [a, -a, u, nextUp(u), nextUp(-a), 2 * a, -2 * a].filter(Number.isFinite);
  return fc.oneof(
    fc.double({ min: -1, max: 1, noNaN: true }).map((x) => x * a), // scaled to the bound
    fc.constantFrom(...edges), // exactly ±A, just beyond
    fc.double({ noNaN: true, noDefaultInfinity: true }), // anything, huge included
    fc.constantFrom(Number.MAX_VALUE, -Number.MAX_VALUE, 1e300, -1e300),
    fc.double({ min: -1e-300, max: 1e-300, noNaN: true }), // tiny and subnormal
    fc.constantFrom(0, -0, Number.MIN_VALUE, -Number.MIN_VALUE),
  );
}

function scalarArb(ref: Reference): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: fc.constant(0), weight: 2 },
    { arbitrary: fc.constant(1), weight: 2 },
    { arbitrary: fc.double({ min: 0, max: 1, noNaN: true }), weight: 3 },
    { arbitrary: fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }), weight: 1 },
    { arbitrary: fc.constantFrom(Number.MIN_VALUE, 1e-12, 1e6, Number(ref.a)), weight: 1 },
  );
}

function roundArb(configs: readonly MaskConfig[]) {
  return fc
    .constantFrom(...configs)
    .chain((config) => {
      const ref = reference(config);
      // f64/bmax elements are 264–268 bytes: keep those models short.
      const maxLength = ref.bits > 1000 ? 3 : 20;
      return fc.record({ config: fc.constant(config), length: fc.integer({ min: 1, max: maxLength }) });
    })
    .chain(({ config, length }) => {
      const ref = reference(config);
      const participant = fc.record({
        scalar: scalarArb(ref),
        model: fc.array(weightArb(ref), { minLength: length, maxLength: length }),
        seed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      });
      return fc.record({
        config: fc.constant(config),
        length: fc.constant(length),
        participants: fc.array(participant, { minLength: 1, maxLength: 50 }).map((ps) =>
          // scalar 0 for some participants, never for all of them
          ps.every((p) => p.scalar === 0) ? ps.map((p, i) => (i === 0 ? { ...p, scalar: 1 } : p)) : ps,
        ),
      });
    });
}

function checkRound(config: MaskConfig, length: number, participants: Participant[]): void {
  const ref = reference(config);
  const masker = new Masker(crypto, config);
  const coordinator = new Aggregation(config, length);
  const sum = new Aggregation(config, length);
  for (const p of participants) {
    const { seed, masked } = masker.mask(p.model, p.scalar, p.seed);
    expect(coordinator.validateAggregation(masked)).toBeUndefined();
    coordinator.aggregate(masked);
    const mask = deriveMask(crypto, config, seed, length);
    expect(sum.validateAggregation(mask)).toBeUndefined();
    sum.aggregate(mask);
  }
  const n = BigInt(participants.length);
  expect(coordinator.modelCount).toBe(participants.length);
  const aggregatedMask = sum.toMaskObject();
  expect(coordinator.validateUnmasking(aggregatedMask)).toBeUndefined();

  // The reference: exact encodings and their sums.
  const shift = n * ref.a * ref.e;
  const q = Array.from({ length }, (_, i) =>
    participants.reduce((acc, p) => acc + encode(ref, p.scalar * (p.model[i] as number)), 0n),
  );
  const s = participants.reduce((acc, p) => acc + encode(ref, p.scalar), 0n);

  // The unmasked aggregate is exactly Σq (no wrap: every sum stays below the order).
  const aggregate = coordinator.toMaskObject();
  const unmasked = toBigInts(ref, aggregate.vector, length).map(
    (v, i) => (v - (toBigInts(ref, aggregatedMask.vector, length)[i] ?? 0n) + ref.order) % ref.order,
  );
  expect(unmasked).toEqual(q);
  const unmaskedScalar =
    ((toBigInts(ref, aggregate.scalar, 1)[0] ?? 0n) - (toBigInts(ref, aggregatedMask.scalar, 1)[0] ?? 0n) + ref.order) %
    ref.order;
  expect(unmaskedScalar).toBe(s);

  // (b) precision: Σq_i − N·A·E lies in (E·Σclamp(s·w) − N, E·Σclamp(s·w)], so it is within N/E.
  for (let i = 0; i < length; i++) {
    const exact = participants.reduce((acc, p) => acc + clampedScaled(ref, p.scalar * (p.model[i] as number)), 0n);
    const lhs = ((q[i] as bigint) - shift) << SCALE_BITS; // (Σq − NAE)·2^1074
    expect(lhs <= ref.e * exact && lhs > ref.e * exact - (n << SCALE_BITS)).toBe(true);
  }

  const den = s - shift;
  if (den <= 0n) {
    expect(codeOf(() => coordinator.unmask(aggregatedMask))).toBe('zero-scalar-sum');
    return;
  }
  const out = coordinator.unmask(aggregatedMask);
  expect(out).toBeInstanceOf(Float64Array);
  expect(out.length).toBe(length);
  const floatPath = ref.order < 2n ** 52n;
  for (let i = 0; i < length; i++) {
    const expected = toDouble((q[i] as bigint) - shift, den);
    const got = out[i] as number;
    if (floatPath) {
      // one IEEE division of two exact integers: correctly rounded
      expect(got, `${name(config)} [${i}]`).toBe(expected);
    } else if (ulpDistance(got, expected) > 2n) {
      throw new Error(`${name(config)} [${i}]: got ${got}, exact ${expected} (${ulpDistance(got, expected)} ulp)`);
    }
  }
}

describe('a round: mask, aggregate, derive masks, unmask (protocol.md §4.3–4.5)', () => {
  const m3m6 = CONFIGS.filter((c) => c.model === 'm3' || c.model === 'm6');
  const floatPath = m3m6.filter((c) => reference(c).order < 2n ** 52n);

  it('decodes the exact weighted average, any config (m3/m6)', () => {
    fc.assert(
      fc.property(roundArb(m3m6), ({ config, length, participants }) => checkRound(config, length, participants)),
      { numRuns: 400 },
    );
  });

  it('decodes the exact weighted average on the float path (correctly rounded)', () => {
    expect(floatPath.length).toBeGreaterThan(0);
    fc.assert(
      fc.property(roundArb(floatPath), ({ config, length, participants }) => checkRound(config, length, participants)),
      { numRuns: 200 },
    );
  });

  it('converts big integers correctly rounded: with S − N·A·E = 2^j the result is exact', () => {
    const limbConfigs = CONFIGS.filter((c) => reference(c).order >= 2n ** 52n);
    const caseArb = fc.constantFrom(...limbConfigs).chain((config) => {
      const ref = reference(config);
      return fc.record({
        config: fc.constant(config),
        count: fc.integer({ min: 1, max: 1000 }),
        j: fc.integer({ min: 0, max: bitLength(ref.u * ref.e) - 1 }), // 2^j ≤ U·E ≤ count·U·E
        // numerators of all sizes: a random bit length, then a value below 2^bits
        values: fc.array(
          fc
            .integer({ min: 1, max: bitLength(ref.order) })
            .chain((bits) => fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n })),
          { minLength: 1, maxLength: 8 },
        ),
      });
    });
    fc.assert(
      fc.property(caseArb, ({ config, count, j, values }) => {
        const ref = reference(config);
        const shift = BigInt(count) * ref.a * ref.e;
        const top = BigInt(count) * (ref.a + ref.u) * ref.e; // the largest possible aggregate
        const v = values.map((x) => x % (top + 1n));
        const s = shift + (1n << BigInt(j));
        const limbs = Math.ceil(ref.bits / 32);
        const layout = (xs: bigint[]): Uint32Array => {
          const out = new Uint32Array(xs.length * limbs);
          xs.forEach((x, i) => {
            for (let k = 0; k < limbs; k++) out[i * limbs + k] = Number((x >> BigInt(32 * k)) & 0xffffffffn);
          });
          return out;
        };
        const aggregate = { config, length: v.length, vector: layout(v), scalar: layout([s]) };
        const zeroMask = { config, length: v.length, vector: layout(v.map(() => 0n)), scalar: layout([0n]) };
        const out = Aggregation.restore(aggregate, count).unmask(zeroMask);
        for (const [i, x] of v.entries()) expect(out[i], `${name(config)} [${i}]`).toBe(toDouble(x - shift, s - shift));
      }),
      { numRuns: 300 },
    );
  });

  it('averages plainly with scalar 1 and by weight with scalars ∝ sample counts', () => {
    const config = cfg('prime/f32/b2/m3');
    const seeds = [1, 2, 3].map((k) => new Uint8Array(32).fill(k));
    const models = [
      [1, -2, 50],
      [3, 4, -50],
      [5, 0, 100],
    ];
    const run = (scalars: number[]) => {
      const coordinator = new Aggregation(config, 3);
      const sum = new Aggregation(config, 3);
      models.forEach((model, j) => {
        const { seed, masked } = new Masker(crypto, config).mask(model, scalars[j], seeds[j]);
        coordinator.aggregate(masked);
        sum.aggregate(deriveMask(crypto, config, seed, 3));
      });
      return Array.from(coordinator.unmask(sum.toMaskObject()));
    };
    expect(run([1, 1, 1])).toEqual([3, 2 / 3, 100 / 3]);
    // 10, 30 and 60 samples: s = n / n_max
    const weighted = run([10 / 60, 30 / 60, 1]);
    const expected = [0, 1, 2].map(
      (i) => (10 * (models[0]?.[i] ?? 0) + 30 * (models[1]?.[i] ?? 0) + 60 * (models[2]?.[i] ?? 0)) / 100,
    );
    for (const [i, v] of weighted.entries()) expect(Math.abs(v - (expected[i] ?? 0))).toBeLessThan(1e-8);
  });
});

describe('Aggregation validation', () => {
  const config = cfg('prime/f32/b0/m3');
  const masked = (c: MaskConfig, model: number[], scalar = 1): MaskObject =>
    new Masker(crypto, c).mask(model, scalar).masked;

  it('retract undoes aggregate exactly, on both arithmetic paths', () => {
    for (const name of ['prime/f32/b0/m3', 'prime/f64/b6/m6', 'power2/f32/b2/m3']) {
      const c = cfg(name);
      const aggregation = new Aggregation(c, 3);
      aggregation.aggregate(masked(c, [0.1, -0.2, 0.3], 2));
      const before = aggregation.toMaskObject();
      const extra = masked(c, [0.5, 0.25, -1], 3);
      aggregation.aggregate(extra);
      expect(aggregation.modelCount).toBe(2);
      aggregation.retract(extra);
      expect(aggregation.modelCount).toBe(1);
      expect(Array.from(aggregation.toMaskObject().vector)).toEqual(Array.from(before.vector));
      expect(Array.from(aggregation.toMaskObject().scalar)).toEqual(Array.from(before.scalar));
    }
    expect(() => new Aggregation(config, 2).retract(masked(config, [0, 0]))).toThrow(PetError);
  });

  it('aggregateDerived equals aggregate(deriveMask(…)) at block boundaries, on both arithmetic paths', () => {
    const block = 64 * 1024;
    // float; limbs (3); float; limbs (2), power2 and prime (the two-limb loops)
    for (const name of [
      'prime/f32/b0/m3',
      'prime/f64/b6/m6',
      'power2/f32/b2/m3',
      'power2/f32/b4/m3',
      'prime/f32/b4/m3',
    ]) {
      const c = cfg(name);
      for (const length of [0, 1, 7, block - 1, block, block + 1, 2 * block + 3]) {
        const seeds = [1, 2, 3].map((i) => new Uint8Array(32).fill(i * 17 + length));
        const derived = new Aggregation(c, length);
        const whole = new Aggregation(c, length);
        for (const seed of seeds) {
          derived.aggregateDerived(crypto, seed);
          whole.aggregate(deriveMask(crypto, c, seed, length));
        }
        expect(derived.modelCount, `${name} × ${length}`).toBe(3);
        const [d, w] = [derived.toMaskObject(), whole.toMaskObject()];
        expect(Buffer.from(d.vector.buffer).equals(Buffer.from(w.vector.buffer)), `${name} × ${length}`).toBe(true);
        expect(Array.from(d.scalar), `${name} × ${length}`).toEqual(Array.from(w.scalar));
      }
    }
  });

  it('aggregateDerived past the model cap → too-many-models, the aggregate unchanged; a short seed → invalid-field', () => {
    const c = cfg('power2/f32/b2/m3');
    const full = Aggregation.restore(new Aggregation(c, 4).toMaskObject(), 1000);
    expect(() => full.aggregateDerived(crypto, new Uint8Array(32))).toThrow(
      expect.objectContaining({ code: 'too-many-models' }),
    );
    expect(full.modelCount).toBe(1000);
    expect(Array.from(full.toMaskObject().vector)).toEqual([0, 0, 0, 0]);
    expect(() => new Aggregation(c, 4).aggregateDerived(crypto, new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: 'invalid-field' }),
    );
  });

  it('merge of partial aggregates equals aggregating everything in one, on both arithmetic paths', () => {
    for (const name of ['prime/f32/b0/m3', 'prime/f64/b6/m6', 'power2/f32/b2/m3']) {
      const c = cfg(name);
      const objects = [0, 1, 2, 3, 4].map((i) => masked(c, [0.1 * i, -0.2, 0.3 * i], 1 + i));
      const whole = new Aggregation(c, 3);
      for (const o of objects) whole.aggregate(o);
      const left = new Aggregation(c, 3);
      const right = new Aggregation(c, 3);
      for (const [i, o] of objects.entries()) (i % 2 === 0 ? left : right).aggregate(o);
      left.merge(right);
      expect(left.modelCount).toBe(5);
      expect(Array.from(left.toMaskObject().vector)).toEqual(Array.from(whole.toMaskObject().vector));
      expect(Array.from(left.toMaskObject().scalar)).toEqual(Array.from(whole.toMaskObject().scalar));
    }
    const other = new Aggregation(cfg('prime/f64/b6/m6'), 3);
    expect(() => new Aggregation(config, 3).merge(other)).toThrow(PetError);
  });

  it('config mismatch → config-mismatch', () => {
    const aggregation = new Aggregation(config, 2);
    for (const other of ['integer/f32/b0/m3', 'prime/f64/b0/m3', 'prime/f32/b2/m3', 'prime/f32/b0/m6']) {
      const error = aggregation.validateAggregation(masked(cfg(other), [0.1, 0.2]));
      expect(error).toBeInstanceOf(PetError);
      expect(error?.code).toBe('config-mismatch');
      expect(error?.message).toContain(other);
    }
    aggregation.aggregate(masked(config, [0.1, 0.2]));
    expect(
      aggregation.validateUnmasking(deriveMask(crypto, cfg('power2/f32/b0/m3'), new Uint8Array(32), 2))?.code,
    ).toBe('config-mismatch');
  });

  it('length mismatch → model-length-mismatch', () => {
    const aggregation = new Aggregation(config, 3);
    expect(aggregation.validateAggregation(masked(config, [0.1, 0.2]))?.code).toBe('model-length-mismatch');
    expect(aggregation.validateAggregation(masked(config, [0.1, 0.2, 0.3, 0.4]))?.code).toBe('model-length-mismatch');
    aggregation.aggregate(masked(config, [0.1, 0.2, 0.3]));
    expect(aggregation.validateUnmasking(deriveMask(crypto, config, new Uint8Array(32), 2))?.code).toBe(
      'model-length-mismatch',
    );
  });

  it('the 1001st model on an m3 config → too-many-models', () => {
    const aggregation = new Aggregation(config, 1);
    const object = masked(config, [0.5]);
    for (let i = 0; i < 1000; i++) {
      expect(aggregation.validateAggregation(object)).toBeUndefined();
      aggregation.aggregate(object);
    }
    expect(aggregation.modelCount).toBe(1000);
    expect(aggregation.validateAggregation(object)?.code).toBe('too-many-models');
    // restored at the cap, too
    expect(Aggregation.restore(aggregation.toMaskObject(), 1000).validateAggregation(object)?.code).toBe(
      'too-many-models',
    );
  });

  it('all-zero scalars → zero-scalar-sum, on both arithmetic paths', () => {
    for (const text of ['prime/f32/b0/m3', 'integer/f64/b2/m6', 'prime/f64/bmax/m3', 'power2/i64/bmax/m3']) {
      const c = cfg(text);
      const coordinator = new Aggregation(c, 2);
      const sum = new Aggregation(c, 2);
      for (const model of [
        [0.5, -0.5],
        [1, 1],
      ]) {
        const { seed, masked: m } = new Masker(crypto, c).mask(model, 0);
        coordinator.aggregate(m);
        sum.aggregate(deriveMask(crypto, c, seed, 2));
      }
      expect(
        codeOf(() => coordinator.unmask(sum.toMaskObject())),
        text,
      ).toBe('zero-scalar-sum');
    }
  });

  it('unmasking an empty aggregation → empty-aggregation', () => {
    const aggregation = new Aggregation(config, 2);
    const mask = deriveMask(crypto, config, new Uint8Array(32).fill(9), 2);
    expect(aggregation.validateUnmasking(mask)?.code).toBe('empty-aggregation');
    expect(codeOf(() => aggregation.unmask(mask))).toBe('empty-aggregation');
  });

  it('rejects a negative or fractional length', () => {
    expect(codeOf(() => new Aggregation(config, -1))).toBe('invalid-field');
    expect(codeOf(() => new Aggregation(config, 1.5))).toBe('invalid-field');
  });

  it('restore round trip: same aggregate, same count, same result', () => {
    for (const text of ['prime/f32/b0/m3', 'integer/f64/bmax/m3']) {
      const c = cfg(text);
      const coordinator = new Aggregation(c, 3);
      const sum = new Aggregation(c, 3);
      for (const [j, model] of [
        [0.25, 0.5, -1],
        [0.75, -0.5, 1],
      ].entries()) {
        const { seed, masked: m } = new Masker(crypto, c).mask(model, j === 0 ? 1 : 0.5);
        coordinator.aggregate(m);
        sum.aggregate(deriveMask(crypto, c, seed, 3));
      }
      const saved = coordinator.toMaskObject();
      const restored = Aggregation.restore(saved, coordinator.modelCount);
      expect(restored.modelCount).toBe(2);
      expect(restored.config).toEqual(c);
      expect(restored.length).toBe(3);
      expect(Array.from(restored.toMaskObject().vector)).toEqual(Array.from(saved.vector));
      expect(Array.from(restored.toMaskObject().scalar)).toEqual(Array.from(saved.scalar));
      const mask = sum.toMaskObject();
      expect(Array.from(restored.unmask(mask))).toEqual(Array.from(coordinator.unmask(mask)));
      const average = restored.unmask(mask);
      for (const [i, v] of [(0.25 + 0.375) / 1.5, (0.5 - 0.25) / 1.5, (-1 + 0.5) / 1.5].entries()) {
        expect(average[i]).toBeCloseTo(v, 12);
      }
      // the snapshot is a copy: adding more to the original does not change it
      coordinator.aggregate(masked(c, [1, 1, 1]));
      expect(Array.from(restored.toMaskObject().vector)).toEqual(Array.from(saved.vector));
      expect(codeOf(() => Aggregation.restore(saved, 1001))).toBe('out-of-range');
      expect(codeOf(() => Aggregation.restore(saved, -1))).toBe('out-of-range');
      expect(codeOf(() => Aggregation.restore({ ...saved, length: 2 }, 2))).toBe('model-length-mismatch');
    }
  });
});

describe('unmaskChecked: the aggregate n honest, clamped participants can produce (protocol.md §4.5)', () => {
  const CHECKED = ['prime/f32/b2/m3', 'power2/f32/b2/m3', 'integer/f64/b2/m6', 'power2/i64/bmax/m3', 'prime/f64/b6/m6'];
  const wide = { scalarMin: 0, scalarMax: Number.POSITIVE_INFINITY };

  /** Masks each model, aggregates, derives the aggregated mask; `tamper` edits one masked object. */
  function round(
    c: MaskConfig,
    inputs: readonly { model: number[]; scalar: number }[],
    tamper?: (masked: MaskObject, index: number) => void,
  ): { aggregation: Aggregation; mask: MaskObject } {
    const length = (inputs[0] as { model: number[] }).model.length;
    const aggregation = new Aggregation(c, length);
    const masks = new Aggregation(c, length);
    for (const [i, { model, scalar }] of inputs.entries()) {
      const { seed, masked } = new Masker(crypto, c).mask(model, scalar);
      tamper?.(masked, i);
      aggregation.aggregate(masked);
      masks.aggregate(deriveMask(crypto, c, seed, length));
    }
    return { aggregation, mask: masks.toMaskObject() };
  }

  it('accepts every honest extreme: weights at and beyond ±A, scalars at the range ends', () => {
    for (const text of CHECKED) {
      const c = cfg(text);
      const ref = reference(c);
      const a = Number(ref.a);
      const bounds = { scalarMin: 0.5, scalarMax: Math.min(2, a) };
      const inputs = [
        { model: [a, -a, 2 * a, 0], scalar: bounds.scalarMax },
        { model: [a, -a, -3 * a, 1], scalar: bounds.scalarMax },
        { model: [a, -a, a, -1], scalar: bounds.scalarMin },
      ];
      const { aggregation, mask } = round(c, inputs);
      expect(Array.from(aggregation.unmaskChecked(mask, bounds)), text).toEqual(Array.from(aggregation.unmask(mask)));
    }
  });

  it('fails with aggregate-out-of-range naming the element one participant pushed past n·(A+U)·E', () => {
    for (const text of CHECKED) {
      const c = cfg(text);
      const ref = reference(c);
      const group = groupFor(maskParams(c));
      const inputs = [0, 1, 2].map(() => ({ model: [0.5, -0.25, 0.125], scalar: 1 }));
      // The attacker adds 3·(A+U)·E to weight 1 of its masked model: Σq_1 then exceeds 3·(A+U)·E.
      const push = group.fromBigInts([0n, 3n * (ref.a + ref.u) * ref.e, 0n]);
      const { aggregation, mask } = round(c, inputs, (masked, i) => {
        if (i === 2) group.addInto(masked.vector, push);
      });
      let error: unknown;
      try {
        aggregation.unmaskChecked(mask, wide);
      } catch (e) {
        error = e;
      }
      expect(error, text).toBeInstanceOf(PetError);
      expect((error as PetError).code).toBe('aggregate-out-of-range');
      expect((error as PetError).message).toContain('weight 1 ');
    }
  });

  it('fails when the scalar sum is below n·scalarMin (scalars of 0) or above n·scalarMax', () => {
    for (const text of CHECKED) {
      const c = cfg(text);
      const zero = round(c, [
        { model: [1, 2], scalar: 0 },
        { model: [1, 2], scalar: 0 },
        { model: [1, 2], scalar: 0.001 },
      ]);
      expect(
        codeOf(() => zero.aggregation.unmaskChecked(zero.mask, { scalarMin: 0.01, scalarMax: 1 })),
        text,
      ).toBe('aggregate-out-of-range');
      expect(zero.aggregation.unmaskChecked(zero.mask, { scalarMin: 0, scalarMax: 1 }).length).toBe(2);
      const big = round(
        c,
        [0, 1, 2].map(() => ({ model: [1, 2], scalar: 2 })),
      );
      expect(
        codeOf(() => big.aggregation.unmaskChecked(big.mask, { scalarMin: 0.01, scalarMax: 1 })),
        text,
      ).toBe('aggregate-out-of-range');
      expect(big.aggregation.unmaskChecked(big.mask, { scalarMin: 0.01, scalarMax: 2 })).toEqual(
        big.aggregation.unmask(big.mask),
      );
    }
  });
});
