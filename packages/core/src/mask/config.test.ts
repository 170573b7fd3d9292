/**
 * Group orders of the 240 mask configs (protocol.md §4.2), checked against the
 * reference table (test-data/mask-orders.json) and re-derived independently:
 * A, E and N are restated here from the spec, integer and power2 orders are
 * recomputed, and every prime order is re-proved prime (Miller–Rabin) and, but
 * for the four historical f64/bmax constants, the smallest prime ≥ (A + U)·E·N + 1.
 */

import { describe, expect, it } from 'vitest';
import { rowConfig as lower, configKey as name, ORDER_ROWS as rows } from '../../test-support/reference.ts';
import { PetError } from '../errors.ts';
import { type MaskConfig, maskOrder, maskParams, validateMaskConfig } from './config.ts';

// --- the spec's parameters, restated ---------------------------------------------------------

function addShift(c: MaskConfig): bigint {
  switch (c.bound) {
    case 'b0':
      return 1n;
    case 'b2':
      return 10n ** 2n;
    case 'b4':
      return 10n ** 4n;
    case 'b6':
      return 10n ** 6n;
    case 'bmax':
      return {
        f32: 340282350000000000000000000000000000000n,
        f64: 17976931348623155n * 10n ** 292n,
        i32: 2n ** 31n,
        i64: 2n ** 63n,
      }[c.data];
  }
}

function expShift(c: MaskConfig): bigint {
  if (c.data === 'f64') return c.bound === 'bmax' ? 10n ** 324n : 10n ** 20n;
  if (c.data === 'f32' && c.bound === 'bmax') return 10n ** 45n;
  return 10n ** 10n;
}

const modelCap = (c: MaskConfig): bigint => 10n ** BigInt(c.model.slice(1));

/**
 * The upper clamp bound U: A, except for the two's-complement types under bmax, whose range is
 * [−2^(k−1), 2^(k−1) − 1]; the reference orders for i32/i64 bmax are (2^32 − 1)·E·N + 1 and
 * (2^64 − 1)·E·N + 1, i.e. (A + U)·E·N + 1 with U = A − 1, not 2·A·E·N + 1.
 */
const upperBound = (c: MaskConfig): bigint =>
  c.bound === 'bmax' && (c.data === 'i32' || c.data === 'i64') ? addShift(c) - 1n : addShift(c);

const integerOrder = (c: MaskConfig): bigint => (addShift(c) + upperBound(c)) * expShift(c) * modelCap(c) + 1n;

const bitLength = (n: bigint): number => (n === 0n ? 0 : n.toString(2).length);

// --- Miller–Rabin ---------------------------------------------------------------------------

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

const SMALL_PRIMES = [
  2n,
  3n,
  5n,
  7n,
  11n,
  13n,
  17n,
  19n,
  23n,
  29n,
  31n,
  37n,
  41n,
  43n,
  47n,
  53n,
  59n,
  61n,
  67n,
  71n,
  73n,
];

/** Miller–Rabin with the first 21 prime bases: error below 4^-21 for any composite. */
function isProbablePrime(n: bigint): boolean {
  if (n < 2n) return false;
  for (const p of SMALL_PRIMES) {
    if (n === p) return true;
    if (n % p === 0n) return false;
  }
  let d = n - 1n;
  let s = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    s++;
  }
  next: for (const a of SMALL_PRIMES) {
    let x = modPow(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    for (let r = 1; r < s; r++) {
      x = (x * x) % n;
      if (x === n - 1n) continue next;
    }
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------

describe('Miller–Rabin reference', () => {
  it('separates primes from composites, including strong pseudoprimes to small bases', () => {
    expect([2n, 3n, 97n, 2n ** 61n - 1n, 2n ** 127n - 1n].map(isProbablePrime)).toEqual([true, true, true, true, true]);
    // 3215031751 is a strong pseudoprime to bases 2, 3, 5 and 7; 2^67 − 1 and Carmichael 561 are composite.
    expect([1n, 561n, 3215031751n, 2n ** 67n - 1n, (2n ** 61n - 1n) * (2n ** 31n - 1n)].map(isProbablePrime)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('mask orders (protocol.md §4.2)', () => {
  it('the reference table lists each of the 240 configs once', () => {
    expect(rows).toHaveLength(240);
    expect(new Set(rows.map((r) => name(lower(r)))).size).toBe(240);
  });

  it('maskOrder equals the reference table for all 240 configs', () => {
    const mismatches: string[] = [];
    for (const row of rows) {
      const config = lower(row);
      const order = maskOrder(config);
      expect(typeof order).toBe('bigint');
      if (order !== BigInt(row.order)) mismatches.push(`${name(config)}: ${order} ≠ ${row.order}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('integer orders are (A + U)·E·N + 1 and power2 orders the smallest power of two ≥ that', () => {
    for (const row of rows) {
      const config = lower(row);
      const expected = BigInt(row.order);
      const base = integerOrder(config);
      if (config.group === 'integer') {
        expect(expected, name(config)).toBe(base);
      } else if (config.group === 'power2') {
        const k = BigInt(bitLength(base - 1n));
        expect(expected, name(config)).toBe(1n << k);
        expect(1n << k >= base && 1n << (k - 1n) < base, name(config)).toBe(true);
      }
    }
  });

  it('prime orders are prime; all but f64/bmax are the smallest prime ≥ the integer order', () => {
    const primeRows = rows.map(lower).filter((c) => c.group === 'prime');
    expect(primeRows).toHaveLength(80);
    for (const config of primeRows) {
      const order = maskOrder(config);
      const base = integerOrder(config);
      expect(order >= base, name(config)).toBe(true);
      expect(isProbablePrime(order), name(config)).toBe(true);
      if (config.data === 'f64' && config.bound === 'bmax') continue;
      for (let n = base; n < order; n++) {
        if (isProbablePrime(n)) throw new Error(`${name(config)}: ${n} is a smaller prime ≥ ${base}`);
      }
    }
  });

  it('bytesPerNumber = ceil(bitLength(order − 1) / 8); float path exactly when order < 2^52', () => {
    for (const row of rows) {
      const config = lower(row);
      const order = BigInt(row.order);
      const params = maskParams(config);
      const bits = bitLength(order - 1n);
      expect(params.elementBits, name(config)).toBe(bits);
      expect(params.bytesPerNumber, name(config)).toBe(Math.ceil(bits / 8));
      expect(params.arithmetic, name(config)).toBe(order < 2n ** 52n ? 'float' : 'limbs');
      expect(params.addShift, name(config)).toBe(addShift(config));
      expect(params.upperBound, name(config)).toBe(upperBound(config));
      expect(params.expShift, name(config)).toBe(expShift(config));
      expect(params.modelCap, name(config)).toBe(modelCap(config));
    }
  });

  it('pins a few orders and sizes by hand', () => {
    expect(maskOrder({ group: 'integer', data: 'f32', bound: 'b0', model: 'm3' })).toBe(20_000_000_000_001n);
    expect(maskOrder({ group: 'power2', data: 'f32', bound: 'b2', model: 'm3' })).toBe(2n ** 51n);
    expect(maskOrder({ group: 'integer', data: 'i32', bound: 'bmax', model: 'm3' })).toBe(
      (2n ** 32n - 1n) * 10n ** 13n + 1n,
    );
    expect(maskOrder({ group: 'integer', data: 'i64', bound: 'bmax', model: 'm6' })).toBe(
      (2n ** 64n - 1n) * 10n ** 16n + 1n,
    );
    expect(maskOrder({ group: 'power2', data: 'f64', bound: 'b6', model: 'm12' })).toBe(2n ** 128n);
    expect(maskParams({ group: 'power2', data: 'f64', bound: 'b6', model: 'm12' }).bytesPerNumber).toBe(16);
    expect(maskParams({ group: 'prime', data: 'f32', bound: 'b0', model: 'm3' }).bytesPerNumber).toBe(6);
  });
});

describe('invalid configs', () => {
  const valid = { group: 'prime', data: 'f32', bound: 'b0', model: 'm3' };
  const invalid: [string, unknown][] = [
    ['null', null],
    ['a string', 'prime/f32/b0/m3'],
    ['a missing field', { group: 'prime', data: 'f32', bound: 'b0' }],
    ['an upper-case group', { ...valid, group: 'Prime' }],
    ['an unknown data type', { ...valid, data: 'f16' }],
    ['an unknown bound', { ...valid, bound: 'b8' }],
    ['an unknown model cap', { ...valid, model: 'm15' }],
    ['a numeric field', { ...valid, model: 3 }],
  ];

  for (const [what, config] of invalid) {
    it(`rejects ${what} with invalid-mask-config`, () => {
      const codeOf = (f: () => unknown): string | undefined => {
        try {
          f();
        } catch (error) {
          return error instanceof PetError ? error.code : `not a PetError: ${String(error)}`;
        }
        return undefined;
      };
      expect(codeOf(() => validateMaskConfig(config))).toBe('invalid-mask-config');
      expect(codeOf(() => maskOrder(config as MaskConfig))).toBe('invalid-mask-config');
      expect(codeOf(() => maskParams(config as MaskConfig))).toBe('invalid-mask-config');
    });
  }

  it('names the bad field', () => {
    expect(() => validateMaskConfig({ ...valid, bound: 'b8' })).toThrow(/bound/);
  });

  it('accepts every valid config', () => {
    for (const row of rows) expect(() => validateMaskConfig(lower(row))).not.toThrow();
  });
});
