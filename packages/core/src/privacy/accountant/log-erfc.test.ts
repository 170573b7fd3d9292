import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { logErfc } from './log-erfc.ts';
import { logAddExp } from './log-space.ts';

describe('log erfc', () => {
  it('known values and limits', () => {
    expect(logErfc(0) === 0).toBe(true);
    expect(logErfc(Number.POSITIVE_INFINITY)).toBe(Number.NEGATIVE_INFINITY);
    expect(logErfc(Number.NEGATIVE_INFINITY)).toBe(Math.LN2);
    expect(logErfc(Number.NaN)).toBeNaN();
    // Far in the tail erfc(x) = e^{−x²}/(x√π)·(1 − 1/(2x²) + O(x⁻⁴)): finite where erfc underflows.
    expect(logErfc(1000)).toBeCloseTo(-1e6 - Math.log(1000 * Math.sqrt(Math.PI)) + Math.log1p(-0.5e-6), 9);
  });

  it('erfc(x) + erfc(−x) = 2, across both expansions and their seams at ±1.5', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 6, noNaN: true }), (x) => {
        expect(Math.exp(logAddExp(logErfc(x), logErfc(-x)))).toBeCloseTo(2, 14);
      }),
    );
  });

  it('is continuous and decreasing through the seam', () => {
    const below = logErfc(1.5 - 1e-12);
    const at = logErfc(1.5);
    expect(below).toBeGreaterThan(at);
    expect(Math.abs(below - at)).toBeLessThan(1e-11);
    expect(Math.abs(logErfc(-1.5 + 1e-12) - logErfc(-1.5))).toBeLessThan(1e-12);
  });
});

describe('logAddExp', () => {
  it('adds in log space, with −∞ as 0', () => {
    expect(logAddExp(Math.log(2), Math.log(3))).toBeCloseTo(Math.log(5), 15);
    expect(logAddExp(Number.NEGATIVE_INFINITY, 1)).toBe(1);
    expect(logAddExp(Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY)).toBe(Number.NEGATIVE_INFINITY);
    expect(logAddExp(1e6, 1e6)).toBeCloseTo(1e6 + Math.LN2, 8);
    expect(logAddExp(Number.POSITIVE_INFINITY, 1)).toBe(Number.POSITIVE_INFINITY);
  });
});
