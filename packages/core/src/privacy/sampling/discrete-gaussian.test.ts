import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { fixtureSeed } from '../../testing/index.ts';
import { discreteGaussianSampler } from './discrete-gaussian.ts';
import { sampleVector } from './integer-sampler.ts';
import { seededRandomSource } from './random-source.ts';
import { type Rational, rational, sigma2FromSigma } from './rational.ts';
import {
  chiSquareTest,
  convolve,
  discreteGaussianPmf,
  moments,
  type Pmf,
  sampleMoments,
} from './testing/goodness-of-fit.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

const asNumber = (r: Rational): number => Number(r.num) / Number(r.den);

function draws(sigma2: Rational, label: number, n: number): Float64Array {
  return sampleVector(discreteGaussianSampler(sigma2, seededRandomSource(crypto, fixtureSeed(label))), n);
}

function expectFit(xs: ArrayLike<number>, pmf: Pmf, what: string): void {
  const test = chiSquareTest(xs, pmf);
  expect(test.statistic, `${what}: χ² = ${test.statistic.toFixed(1)}, p = ${test.pValue}`).toBeLessThan(test.critical);
}

/** Mean ≈ 0 and variance ≈ the exact one, within 5 standard errors. */
function expectMoments(xs: ArrayLike<number>, pmf: Pmf, what: string): void {
  const exact = moments(pmf);
  const got = sampleMoments(xs);
  const n = xs.length;
  expect(Math.abs(got.mean - exact.mean), `${what} mean`).toBeLessThan(5 * Math.sqrt(exact.variance / n));
  // Var of the sample variance ≈ (μ₄ − σ⁴)/n = 2σ⁴/n for a near-Gaussian
  expect(Math.abs(got.variance - exact.variance), `${what} variance`).toBeLessThan(
    5 * exact.variance * Math.sqrt(2 / n),
  );
}

describe('discreteGaussianSampler (Canonne, Kamath & Steinke, Algorithm 3)', () => {
  // σ² = 9/4 and 100: doubles throughout; 7/3: small rationals; σ = 3.3: σ² with denominator 2^32,
  // the exponent in bigints; σ² = 10^8: 2abt² > 2^52, bigints too.
  const cases: [string, Rational, number, number][] = [
    ['σ² = 9/4', rational(9, 4), 30, 20_000],
    ['σ² = 7/3', rational(7, 3), 31, 20_000],
    ['σ = 3.3', sigma2FromSigma(3.3), 32, 20_000],
    ['σ = 10', sigma2FromSigma(10), 33, 20_000],
    ['σ² = 10^8', rational(10 ** 8), 34, 10_000],
  ];

  it('matches the pmf ∝ exp(−x²/2σ²), mean 0 and the exact variance (fixed seeds)', () => {
    for (const [what, sigma2, label, n] of cases) {
      const xs = draws(sigma2, label, n);
      const pmf = discreteGaussianPmf(asNumber(sigma2));
      expectFit(xs, pmf, what);
      expectMoments(xs, pmf, what);
    }
  });

  it('has a variance below σ², measurably only for σ ≲ 1 (the exact value, summed numerically)', () => {
    // The deficit decays like exp(−2π²σ²): 0.035 at σ² = 1/4, 2·10^−7 at σ² = 1, below double
    // precision from σ² ≈ 2 on.
    const quarter = moments(discreteGaussianPmf(0.25)).variance;
    expect(quarter).toBeGreaterThan(0.21);
    expect(quarter).toBeLessThan(0.22);
    const one = moments(discreteGaussianPmf(1)).variance;
    expect(1 - one).toBeGreaterThan(1e-7);
    expect(1 - one).toBeLessThan(3e-7);
    for (const s2 of [9 / 4, 100]) expect(moments(discreteGaussianPmf(s2)).variance).toBeCloseTo(s2, 9);
  });

  it('sums over n participants to the n-fold convolution, variance n·Var (fixed seed)', () => {
    // 12 participants with σ² = 2 each: the sum is not a discrete Gaussian, but its law is the
    // convolution of theirs, of variance 12·Var(N_Z(0, 2)).
    const n = 12;
    const sampler = discreteGaussianSampler(rational(2), seededRandomSource(crypto, fixtureSeed(35)));
    const sums = new Float64Array(10_000);
    for (let i = 0; i < sums.length; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += sampler.sample();
      sums[i] = s;
    }
    const one = discreteGaussianPmf(2);
    let sum = one;
    for (let j = 1; j < n; j++) sum = convolve(sum, one);
    expect(moments(sum).variance).toBeCloseTo(n * moments(one).variance, 9);
    expectFit(sums, sum, 'sum of 12');
    expectMoments(sums, sum, 'sum of 12');
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = draws(rational(50), 36, 500);
    expect(draws(rational(50), 36, 500)).toEqual(a);
    expect(draws(rational(50), 37, 500)).not.toEqual(a);
  });

  it('rejects σ² ≤ 0 and σ² above 2^62', () => {
    const source = seededRandomSource(crypto, fixtureSeed(38));
    expect(() => discreteGaussianSampler(rational(0), source)).toThrow(PetError);
    expect(() => discreteGaussianSampler(rational(-1, 2), source)).toThrow(PetError);
    expect(() => discreteGaussianSampler(rational(2n ** 62n + 1n), source)).toThrow(/2\^62/);
  });
});
