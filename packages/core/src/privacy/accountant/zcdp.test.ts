import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Accountant } from './accountant.ts';
import { gaussianRho } from './gaussian.ts';
import { rhoOfZcdpEpsilon, zcdpEpsilonOfRho, zcdpRdp, zcdpToEpsilon } from './zcdp.ts';

describe('zCDP (Bun & Steinke 2016)', () => {
  it('(ξ, ρ)-zCDP is the RDP curve ξ + ρα', () => {
    expect(zcdpRdp(0.5, 0.1, [2, 10])).toEqual([1.1, 5.1]);
  });

  it('ε²/2-zCDP: ε_zCDP = √(2ρ) and back; the Gaussian with σ = 1/ε is (ε²/2)-zCDP', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 100, noNaN: true }), (epsilon) => {
        expect(zcdpEpsilonOfRho(rhoOfZcdpEpsilon(epsilon))).toBeCloseTo(epsilon, 12);
        expect(zcdpEpsilonOfRho(gaussianRho(1 / epsilon))).toBeCloseTo(epsilon, 10);
      }),
    );
  });

  it('T Gaussian rounds are (T/(2σ²))-zCDP: the ledger and the one-event conversion agree', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.5, max: 50, noNaN: true }), fc.integer({ min: 1, max: 1000 }), (sigma, rounds) => {
        const accountant = new Accountant().add({ kind: 'gaussian', noiseMultiplier: sigma }, rounds);
        expect(accountant.rho()).toBeCloseTo(rounds * gaussianRho(sigma), 12);
        const direct = zcdpToEpsilon(rounds * gaussianRho(sigma), 1e-6).value;
        expect(Math.abs(accountant.epsilon(1e-6) - direct)).toBeLessThanOrEqual(1e-12 * direct);
      }),
    );
  });

  it('ε(ρ, δ) grows with ρ and shrinks with δ', () => {
    expect(zcdpToEpsilon(0.1, 1e-5).value).toBeLessThan(zcdpToEpsilon(0.2, 1e-5).value);
    expect(zcdpToEpsilon(0.1, 1e-5).value).toBeLessThan(zcdpToEpsilon(0.1, 1e-7).value);
  });
});
