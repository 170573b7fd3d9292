import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PetError } from '../../errors.ts';
import {
  ceilToDenominator,
  exactRational,
  isqrt,
  parameter,
  rational,
  rationalAtLeast,
  sigma2FromSigma,
} from './rational.ts';

describe('rational', () => {
  it('reduces and checks the denominator', () => {
    expect(rational(6, 4)).toEqual({ num: 3n, den: 2n });
    expect(rational(0n, 5n)).toEqual({ num: 0n, den: 1n });
    expect(() => rational(1, 0)).toThrow(PetError);
    expect(() => rational(1.5, 2)).toThrow(/safe integer/);
  });

  it('gives the exact value of a double', () => {
    expect(exactRational(0.1)).toEqual({ num: 3602879701896397n, den: 36028797018963968n });
    expect(exactRational(-2.5)).toEqual({ num: -5n, den: 2n });
    expect(exactRational(2 ** 60)).toEqual({ num: 2n ** 60n, den: 1n });
    expect(exactRational(5e-324)).toEqual({ num: 1n, den: 2n ** 1074n });
    expect(() => exactRational(Number.POSITIVE_INFINITY)).toThrow(PetError);
  });

  it('rounds a number up to a multiple of 2^−32, so noise is never below what was asked', () => {
    expect(rationalAtLeast(100, 'mu')).toEqual({ num: 100n, den: 1n });
    const r = rationalAtLeast(0.1, 'mu');
    // ⌈0.1·2^32⌉ = 429496730 (0.1 as a double is just above 1/10), reduced: 214748365/2^31
    expect(r).toEqual({ num: 214748365n, den: 2n ** 31n });
    expect(rationalAtLeast({ num: 10n, den: 4n }, 'mu')).toEqual({ num: 5n, den: 2n });
  });

  it('squares σ exactly before rounding σ² up', () => {
    expect(sigma2FromSigma(10)).toEqual({ num: 100n, den: 1n });
    expect(sigma2FromSigma(1.5)).toEqual({ num: 9n, den: 4n });
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 1e6, noNaN: true }), (sigma) => {
        const exact = exactRational(sigma);
        const sq = { num: exact.num * exact.num, den: exact.den * exact.den };
        const r = sigma2FromSigma(sigma);
        // σ² ≤ r < σ² + 2^−32
        expect(r.num * sq.den >= sq.num * r.den).toBe(true);
        expect((r.num * sq.den - sq.num * r.den) * 2n ** 32n < sq.den * r.den).toBe(true);
      }),
    );
    expect(() => sigma2FromSigma(0)).toThrow(PetError);
    expect(() => sigma2FromSigma(Number.NaN)).toThrow(PetError);
  });

  it('bounds a parameter’s denominator by 2^256', () => {
    expect(parameter({ num: 6n, den: 2n ** 257n * 3n }, 'mu')).toEqual({ num: 1n, den: 2n ** 256n });
    expect(() => parameter({ num: 1n, den: 2n ** 256n + 1n }, 'mu')).toThrow(/mu.den: expected at most 2\^256/);
  });

  it('ceilToDenominator keeps multiples and rounds others up', () => {
    expect(ceilToDenominator({ num: 3n, den: 4n }, 2)).toEqual({ num: 3n, den: 4n });
    expect(ceilToDenominator({ num: 1n, den: 3n }, 2)).toEqual({ num: 1n, den: 2n });
  });

  it('isqrt is ⌊√n⌋', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 130n }), (n) => {
        const r = isqrt(n);
        expect(r * r <= n && (r + 1n) * (r + 1n) > n).toBe(true);
      }),
    );
  });
});
