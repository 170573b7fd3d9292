import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SkellamParameters, skellamRdp } from './skellam.ts';

const params: fc.Arbitrary<SkellamParameters> = fc.record({
  mu: fc.double({ min: 0.1, max: 1e6, noNaN: true }),
  participants: fc.integer({ min: 1, max: 10_000 }),
  l1Sensitivity: fc.double({ min: 1, max: 1e5, noNaN: true }),
  l2Sensitivity: fc.double({ min: 1, max: 1e3, noNaN: true }),
});

describe('Skellam (Agarwal, Kairouz & Liu 2021)', () => {
  it('by hand: μ = 2, n = 3 (V = 12), Δ₁ = 4, Δ₂ = 2, α = 5', () => {
    // 5·4/24 + min((9·4 + 24)/(4·144), 12/24) = 5/6 + min(60/576, 1/2).
    expect(skellamRdp({ mu: 2, participants: 3, l1Sensitivity: 4, l2Sensitivity: 2 }, [5])[0]).toBeCloseTo(
      5 / 6 + 60 / 576,
      15,
    );
    // Small V: the 3Δ₁/(2V) branch. μ = 0.25, n = 1 (V = 0.5), Δ₁ = Δ₂ = 1, α = 2: 2/1 + min(9/1, 3).
    expect(skellamRdp({ mu: 0.25, participants: 1, l1Sensitivity: 1, l2Sensitivity: 1 }, [2])[0]).toBe(5);
  });

  it('only the total noise nμ matters (Skellam is closed under summation)', () => {
    const orders = [2, 3, 17, 256];
    expect(skellamRdp({ mu: 10, participants: 6, l1Sensitivity: 9, l2Sensitivity: 3 }, orders)).toEqual(
      skellamRdp({ mu: 20, participants: 3, l1Sensitivity: 9, l2Sensitivity: 3 }, orders),
    );
  });

  it('fractional orders take the bound at ⌈α⌉', () => {
    const p = { mu: 5, participants: 2, l1Sensitivity: 6, l2Sensitivity: 2 };
    expect(skellamRdp(p, [1.1, 2, 2.5, 3])).toEqual([...skellamRdp(p, [2, 2]), ...skellamRdp(p, [3, 3])]);
  });

  it('is above the Gaussian’s α·Δ₂²/(2V) and tends to it as V grows; nondecreasing in α', () => {
    fc.assert(
      fc.property(params, (p) => {
        const orders = [2, 3, 8, 32, 128];
        const v = 2 * p.participants * p.mu;
        const rdp = skellamRdp(p, orders);
        rdp.forEach((r, i) => {
          const a = orders[i] as number;
          const gaussian = (a * p.l2Sensitivity ** 2) / (2 * v);
          expect(r).toBeGreaterThan(gaussian);
          expect(r - gaussian).toBeLessThanOrEqual((3 * p.l1Sensitivity) / (2 * v) + 1e-12 * r);
          if (i > 0) expect(r).toBeGreaterThanOrEqual(rdp[i - 1] as number);
        });
        const big = skellamRdp({ ...p, mu: p.mu * 1e9 }, [8])[0] as number;
        expect(big / ((8 * p.l2Sensitivity ** 2) / (2 * v * 1e9))).toBeCloseTo(1, 3);
      }),
    );
  });
});
