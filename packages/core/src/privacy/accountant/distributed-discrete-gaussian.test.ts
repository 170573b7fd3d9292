import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { discreteGaussianRho } from './discrete-gaussian.ts';
import {
  type DistributedDiscreteGaussianParameters,
  distributedDiscreteGaussianRdp,
  distributedDiscreteGaussianRho,
  distributedDiscreteGaussianTau,
} from './distributed-discrete-gaussian.ts';

const params: fc.Arbitrary<DistributedDiscreteGaussianParameters> = fc.record({
  sigma: fc.double({ min: 0.5, max: 100, noNaN: true }),
  participants: fc.integer({ min: 1, max: 5000 }),
  dimension: fc.integer({ min: 1, max: 1 << 20 }),
  l1Sensitivity: fc.double({ min: 1, max: 1e5, noNaN: true }),
  l2Sensitivity: fc.double({ min: 1, max: 1e3, noNaN: true }),
});

describe('distributed discrete Gaussian (Kairouz, Liu & Steinke 2021)', () => {
  it('τ by hand: n = 1 has none, n = 3 at σ = 1 is 10·(e^{−π²} + e^{−4π²/3})', () => {
    expect(distributedDiscreteGaussianTau(1, 1)).toBe(0);
    const want = 10 * (Math.exp(-(Math.PI ** 2)) + Math.exp((-4 * Math.PI ** 2) / 3));
    expect(distributedDiscreteGaussianTau(1, 3)).toBeCloseTo(want, 15);
  });

  it('one participant is the central discrete Gaussian: ρ = Δ₂²/(2σ²), RDP α·ρ', () => {
    const p = { sigma: 3, participants: 1, dimension: 10, l1Sensitivity: 5, l2Sensitivity: 2 };
    expect(distributedDiscreteGaussianRho(p)).toBeCloseTo(discreteGaussianRho(3, 2), 15);
    expect(distributedDiscreteGaussianRdp(p, [2, 10])).toEqual([4 / 9, 20 / 9].map((x) => expect.closeTo(x, 14)));
  });

  it('n participants at σ give the central ρ for noise nσ² plus a τ correction, which vanishes as σ grows', () => {
    fc.assert(
      fc.property(params, (p) => {
        const central = (p.l2Sensitivity * p.l2Sensitivity) / (2 * p.participants * p.sigma * p.sigma);
        const rho = distributedDiscreteGaussianRho(p);
        expect(rho).toBeGreaterThanOrEqual(central * (1 - 1e-12));
        if (p.sigma >= 4) expect(rho).toBeCloseTo(central, 10);
      }),
    );
  });

  it('RDP is the least of the three bounds, nondecreasing in α, never above α·ρ', () => {
    fc.assert(
      fc.property(params, (p) => {
        const orders = [1.5, 2, 3, 8, 64, 1024];
        const rdp = distributedDiscreteGaussianRdp(p, orders);
        const rho = distributedDiscreteGaussianRho(p);
        const tau = distributedDiscreteGaussianTau(p.sigma, p.participants);
        const l2 = p.l2Sensitivity / (Math.sqrt(p.participants) * p.sigma);
        rdp.forEach((r, i) => {
          const a = orders[i] as number;
          expect(r).toBeLessThanOrEqual(a * rho);
          expect(r).toBeLessThanOrEqual((a / 2) * l2 * l2 + tau * p.dimension);
          if (i > 0) expect(r).toBeGreaterThanOrEqual(rdp[i - 1] as number);
        });
      }),
    );
  });

  it('more participants at the same local σ: more total noise, never a worse ρ when τ is negligible', () => {
    const at = (participants: number) =>
      distributedDiscreteGaussianRho({
        sigma: 5,
        participants,
        dimension: 1000,
        l1Sensitivity: 100,
        l2Sensitivity: 10,
      });
    expect(at(100)).toBeLessThan(at(10));
    expect(at(10)).toBeLessThan(at(1));
  });
});
