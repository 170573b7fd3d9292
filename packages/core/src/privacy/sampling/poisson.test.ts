import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { fixtureSeed } from '../../testing/index.ts';
import { sampleVector } from './integer-sampler.ts';
import { poissonAcceptance, poissonSampler, samplePoissonOne } from './poisson.ts';
import { seededRandomSource } from './random-source.ts';
import { type Rational, rational, rationalAtLeast } from './rational.ts';
import { chiSquareTest, poissonPmf, sampleMoments } from './testing/goodness-of-fit.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

const asNumber = (r: Rational): number => Number(r.num) / Number(r.den);

function expectPoisson(mu: Rational, label: number, n: number): void {
  const xs = sampleVector(poissonSampler(mu, seededRandomSource(crypto, fixtureSeed(label))), n);
  const m = asNumber(mu);
  const test = chiSquareTest(xs, poissonPmf(m));
  expect(test.statistic, `μ = ${m}: χ² = ${test.statistic.toFixed(1)}, p = ${test.pValue}`).toBeLessThan(test.critical);
  const got = sampleMoments(xs);
  expect(Math.abs(got.mean - m), `μ = ${m} mean`).toBeLessThan(5 * Math.sqrt(m / n));
  // Var of the sample variance ≈ (μ + 2μ²)/n for Poisson(μ)
  expect(Math.abs(got.variance - m), `μ = ${m} variance`).toBeLessThan(5 * Math.sqrt((m + 2 * m * m) / n));
}

describe('samplePoissonOne (Duchon & Duvignau, Algorithm 1)', () => {
  it('is Poisson(1) (chi-square at a fixed seed)', () => {
    const source = seededRandomSource(crypto, fixtureSeed(40));
    const xs = Array.from({ length: 20_000 }, () => samplePoissonOne(source));
    const test = chiSquareTest(xs, poissonPmf(1));
    expect(test.statistic, `p = ${test.pValue}`).toBeLessThan(test.critical);
  });
});

describe('poissonSampler', () => {
  it('is Poisson(μ) below 16: sums of Poisson(1) and a thinned one (fixed seeds)', () => {
    expectPoisson(rational(3, 10), 41, 20_000);
    expectPoisson(rational(5, 2), 42, 20_000);
    expectPoisson(rational(31, 2), 43, 10_000);
  });

  it('is Poisson(μ) from 16 on: rejection from the geometric envelope (fixed seeds)', () => {
    expectPoisson(rational(16), 44, 20_000); // the boundary: m = 16, s = 5
    expectPoisson(rational(37, 2), 45, 20_000);
    expectPoisson(rationalAtLeast(1234.567, 'mu'), 46, 20_000); // denominator 2^32
    expectPoisson(rational(10 ** 6 * 3 + 1, 3), 47, 20_000);
    expectPoisson(rational(10 ** 8), 48, 10_000);
  });

  it('accepts with A(d) ≤ 1 everywhere, and its doubles are within their proven error of A(d)', () => {
    // Every offset for small μ; for large μ every 211th one, and all near the peak (|d| ≈ √μ).
    for (const [mu, step] of [
      [rational(16), 1],
      [rational(33, 2), 1],
      [rational(17), 1],
      [rational(100), 1],
      [rational(12_345_678, 1000), 211],
    ] as const) {
      const m = Number(mu.num / mu.den);
      const root = Math.sqrt(asNumber(mu));
      const reach = Math.ceil(60 * root) + 40;
      const offsets: number[] = [];
      for (let d = Math.max(-m, -reach); d <= reach; d++) {
        if (d % step === 0 || Math.abs(Math.abs(d) - root) < 3) offsets.push(d);
      }
      let peak = 0;
      for (const a of poissonAcceptance(mu, offsets)) {
        const [num, den] = a.exact;
        expect(num <= den, `μ = ${asNumber(mu)}, d = ${a.d}: A > 1`).toBe(true);
        // exact A as a double, to ~2^−50 relative (both sides scaled so that num keeps 64 bits)
        const shift = BigInt(Math.max(0, num.toString(2).length - 64));
        const value = Number(num >> shift) / Number(den >> shift);
        if (a.relativeError === Number.POSITIVE_INFINITY) {
          expect(value).toBeLessThanOrEqual(a.approx);
        } else if (value > 2 ** -800) {
          // the double-of-the-exact has its own error ~2^−60: the proven bound has room to spare
          expect(Math.abs(a.approx / value - 1)).toBeLessThanOrEqual(a.relativeError);
        }
        peak = Math.max(peak, value);
      }
      // The envelope constant is not loose: the peak acceptance is between 0.6 and 1.
      expect(peak).toBeGreaterThan(0.6);
    }
  });

  it('is deterministic for a seed', () => {
    const draw = (label: number) =>
      sampleVector(poissonSampler(rational(5000), seededRandomSource(crypto, fixtureSeed(label))), 300);
    expect(draw(49)).toEqual(draw(49));
    expect(draw(50)).not.toEqual(draw(49));
  });

  it('rejects μ < 0 and μ > 2^40; μ = 0 gives 0', () => {
    const source = seededRandomSource(crypto, fixtureSeed(51));
    expect(() => poissonSampler(rational(-1, 3), source)).toThrow(PetError);
    expect(() => poissonSampler(rational(2n ** 40n + 1n), source)).toThrow(/2\^40/);
    expect(poissonSampler(rational(0), source).sample()).toBe(0);
    expect(() => poissonAcceptance(rational(15), [0])).toThrow(PetError);
  });
});
