import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPetError } from '../../errors.ts';
import { gaussianRdp } from './gaussian.ts';
import { DEFAULT_RDP_ORDERS } from './orders.ts';
import { rdpToDelta, rdpToEpsilon } from './rdp-conversion.ts';

function code(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    if (isPetError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
  return 'no error';
}

describe('RDP → (ε, δ) (Canonne, Kamath & Steinke 2020, Proposition 12)', () => {
  it('one order: ε = r + log(1 − 1/α) − (log δ + log α)/(α − 1)', () => {
    const got = rdpToEpsilon([4], [0.5], 1e-5);
    expect(got.order).toBe(4);
    expect(got.value).toBeCloseTo(0.5 + Math.log(3 / 4) - (Math.log(1e-5) + Math.log(4)) / 3, 14);
  });

  it('is below Mironov’s r − log δ/(α − 1) at every order', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1.02, max: 1024, noNaN: true }),
        fc.double({ min: 1e-6, max: 100, noNaN: true }),
        (a, r) => {
          const delta = 1e-6;
          expect(rdpToEpsilon([a], [r], delta).value).toBeLessThanOrEqual(Math.max(0, r - Math.log(delta) / (a - 1)));
        },
      ),
    );
  });

  it('takes the best order, and total variation when δ ≥ √(1 − e^{−r})', () => {
    const orders = [1.005, 2, 32];
    // At α = 1.005 only the total-variation bound applies: δ = 0.5 ≥ √(1 − e^{−0.01}) ≈ 0.0998.
    expect(rdpToEpsilon(orders, [0.01, 5, 50], 0.5)).toEqual({ value: 0, order: 1.005 });
    expect(rdpToEpsilon(orders, [0.01, 5, 50], 1e-5).order).toBe(2);
    // A negative value (rounding) counts as no loss; +∞ (excluded order) never wins.
    expect(rdpToEpsilon(orders, [Number.POSITIVE_INFINITY, -1e-18, 1], 1e-5)).toEqual({ value: 0, order: 2 });
    expect(rdpToEpsilon([2], [Number.POSITIVE_INFINITY], 1e-5).value).toBe(Number.POSITIVE_INFINITY);
  });

  it('δ = 0 needs pure DP: ε is 0 only for an all-zero curve', () => {
    expect(rdpToEpsilon([2, 3], [0, 0], 0).value).toBe(0);
    expect(rdpToEpsilon([2, 3], [0, 1e-9], 0).value).toBe(Number.POSITIVE_INFINITY);
  });

  it('ε(δ) and δ(ε) are consistent: δ(ε(δ)) ≤ δ, and both are monotone', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.3, max: 30, noNaN: true }), fc.integer({ min: 1, max: 1000 }), (sigma, t) => {
        const rdp = gaussianRdp(sigma, DEFAULT_RDP_ORDERS).map((r) => t * r);
        const e5 = rdpToEpsilon(DEFAULT_RDP_ORDERS, rdp, 1e-5).value;
        const e7 = rdpToEpsilon(DEFAULT_RDP_ORDERS, rdp, 1e-7).value;
        expect(e7).toBeGreaterThanOrEqual(e5);
        if (e5 > 0) expect(rdpToDelta(DEFAULT_RDP_ORDERS, rdp, e5).value).toBeLessThanOrEqual(1e-5 * (1 + 1e-9));
        expect(rdpToDelta(DEFAULT_RDP_ORDERS, rdp, e5 + 1).value).toBeLessThanOrEqual(
          rdpToDelta(DEFAULT_RDP_ORDERS, rdp, e5).value,
        );
      }),
    );
  });

  it('rejects what it cannot convert, naming the field', () => {
    expect(code(() => rdpToEpsilon([2], [1], -0.1))).toBe(
      'invalid-field: rdp to epsilon: delta: expected a number in [0, 1], got -0.1',
    );
    expect(code(() => rdpToEpsilon([2], [1], Number.NaN))).toMatch(/^invalid-field: rdp to epsilon: delta/);
    expect(code(() => rdpToEpsilon([2, 3], [1], 1e-5))).toBe(
      'invalid-field: rdp to epsilon: expected one RDP value per order, got 1 for 2 orders',
    );
    expect(code(() => rdpToEpsilon([0.5], [1], 1e-5))).toBe(
      'invalid-field: rdp to epsilon: expected orders ≥ 1, got 0.5',
    );
    expect(code(() => rdpToDelta([2], [1], -1))).toBe(
      'invalid-field: rdp to delta: epsilon: expected a number ≥ 0, got -1',
    );
  });
});
