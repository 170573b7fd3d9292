import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PetError } from '../../errors.ts';
import { exactRational, rational } from '../sampling/rational.ts';
import { ceilFraction, chooseGrid, laplaceScale, MAX_GRID_RADIUS, subtract } from './grid-laplace.ts';

describe('chooseGrid', () => {
  it('picks the finest power-of-two step whose noise scale stays within 2^31 grid steps', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-60, max: 1e60, noNaN: true }),
        fc.double({ min: 1e-9, max: 1e9, noNaN: true }),
        (bound, perRadius) => {
          const { step, radius } = chooseGrid(bound, perRadius);
          expect(Number.isInteger(Math.log2(step))).toBe(true);
          expect(radius).toBe(Math.floor(bound / step));
          expect(radius).toBeGreaterThanOrEqual(1);
          const limit = Math.max(1, Math.min(MAX_GRID_RADIUS, Math.floor(2 ** 31 / perRadius)));
          expect(radius).toBeLessThanOrEqual(limit);
          expect(Math.floor(bound / (step / 2))).toBeGreaterThan(limit); // a finer step would not fit
        },
      ),
    );
  });

  it('gives radius 2^k exactly for a bound of 1', () => {
    expect(chooseGrid(1, 2)).toEqual({ step: 2 ** -30, radius: 2 ** 30 });
    expect(chooseGrid(1, 1e-12)).toEqual({ step: 2 ** -50, radius: 2 ** 50 });
    expect(chooseGrid(1, 2 ** 40)).toEqual({ step: 1, radius: 1 });
  });
});

describe('laplaceScale', () => {
  it('rounds the scale up, by less than a factor 1 + 2^−30', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.double({ min: 1e-6, max: 1e6, noNaN: true }),
        (sensitivity, eps) => {
          const epsilon = exactRational(eps);
          // Only scales the sampler can draw.
          fc.pre((sensitivity / eps) * (1 + 1e-9) < 2 ** 32);
          const { t, s } = laplaceScale(sensitivity, epsilon, 'test');
          const lhs = BigInt(t) * epsilon.num; // t/s ≥ sensitivity/ε ⇔ t·ε.num ≥ sensitivity·s·ε.den
          const rhs = BigInt(sensitivity) * BigInt(s) * epsilon.den;
          expect(lhs >= rhs).toBe(true);
          expect(t / s / (sensitivity / eps)).toBeLessThan(1 + 2 ** -30);
        },
      ),
    );
  });

  it('refuses a scale above 2^32 grid steps', () => {
    expect(() => laplaceScale(2 ** 20, rational(1, 2 ** 13), 'svt filter query noise')).toThrow(
      /svt filter query noise: the noise scale of 8589934592 grid steps exceeds/,
    );
    expect(() => laplaceScale(2 ** 20, rational(1, 2 ** 12), 'x')).not.toThrow();
    expect(() => laplaceScale(0, rational(1), 'x')).toThrow(PetError);
  });
});

describe('ceilFraction', () => {
  it('computes ⌈fraction·n⌉, forgiving the doubles’ rounding', () => {
    expect(ceilFraction(0.7, 10)).toBe(7); // 0.7·10 is 7.000000000000001 in doubles
    expect(ceilFraction(0.1, 10)).toBe(1); // 0.1 is slightly above 1/10
    expect(ceilFraction(0.07, 100)).toBe(7);
    expect(ceilFraction(0.1, 1_000_000)).toBe(100_000);
    expect(ceilFraction(0.70001, 10)).toBe(8);
    expect(ceilFraction(0.5, 3)).toBe(2);
    expect(ceilFraction(1, 5)).toBe(5);
    expect(ceilFraction(1e-9, 10)).toBe(1);
    expect(ceilFraction(0.3, 0)).toBe(0);
  });

  it('subtracts exactly', () => {
    expect(subtract(rational(1, 2), rational(1, 3))).toEqual(rational(1, 6));
  });
});
