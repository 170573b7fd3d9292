import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { fixtureSeed } from '../../testing/index.ts';
import { sampleVector } from './integer-sampler.ts';
import { seededRandomSource } from './random-source.ts';
import { type Rational, rational } from './rational.ts';
import { skellamSampler } from './skellam.ts';
import { chiSquareTest, convolve, poissonPmf, sampleMoments, skellamPmf } from './testing/goodness-of-fit.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

const asNumber = (r: Rational): number => Number(r.num) / Number(r.den);

function expectSkellam(xs: ArrayLike<number>, mu: number, what: string): void {
  const test = chiSquareTest(xs, skellamPmf(mu));
  expect(test.statistic, `${what}: χ² = ${test.statistic.toFixed(1)}, p = ${test.pValue}`).toBeLessThan(test.critical);
  const n = xs.length;
  const got = sampleMoments(xs);
  expect(Math.abs(got.mean), `${what} mean`).toBeLessThan(5 * Math.sqrt((2 * mu) / n));
  // Var of the sample variance ≈ (μ₄ − σ⁴)/n, μ₄ = 2μ + 3(2μ)² for Sk(μ)
  expect(Math.abs(got.variance - 2 * mu), `${what} variance`).toBeLessThan(5 * Math.sqrt((2 * mu + 8 * mu * mu) / n));
}

describe('skellamSampler', () => {
  it('the Bessel pmf agrees with the convolution of two Poisson pmfs', () => {
    for (const mu of [0.7, 30]) {
      const bessel = skellamPmf(mu);
      const pois = poissonPmf(mu);
      const negated = { lo: -(pois.lo + pois.p.length - 1), p: pois.p.slice().reverse() };
      const conv = convolve(pois, negated);
      for (let k = -10; k <= 10; k++) {
        const a = bessel.p[k - bessel.lo] as number;
        expect(Math.abs((conv.p[k - conv.lo] as number) - a)).toBeLessThan(1e-12);
      }
    }
  });

  it('is Sk(μ) with mean 0 and variance 2μ (chi-square at fixed seeds)', () => {
    for (const [mu, label, n] of [
      [rational(7, 10), 60, 20_000],
      [rational(5), 61, 20_000],
      [rational(100), 62, 20_000],
      [rational(10_000), 63, 20_000],
      [rational(10 ** 6), 64, 10_000],
    ] as const) {
      const xs = sampleVector(skellamSampler(mu, seededRandomSource(crypto, fixtureSeed(label))), n);
      expectSkellam(xs, asNumber(mu), `μ = ${asNumber(mu)}`);
    }
  });

  it('n participants adding Sk(μ/n) each sum to exactly Sk(μ) (chi-square at fixed seeds)', () => {
    // 8 participants: μ = 50 (each 25/4: the small-μ path) and μ = 4000 (each 500: rejection).
    for (const [mu, label] of [
      [rational(50), 65],
      [rational(4000), 66],
    ] as const) {
      const n = 8;
      const share = rational(mu.num, mu.den * BigInt(n));
      const participants = Array.from({ length: n }, (_, i) =>
        skellamSampler(share, seededRandomSource(crypto, fixtureSeed(label + 16 * i))),
      );
      const sums = new Float64Array(10_000);
      for (let i = 0; i < sums.length; i++) {
        let s = 0;
        for (const p of participants) s += p.sample();
        sums[i] = s;
      }
      expectSkellam(sums, asNumber(mu), `sum of ${n} × Sk(${asNumber(share)})`);
    }
  });

  it('is deterministic for a seed', () => {
    const draw = (label: number) =>
      sampleVector(skellamSampler(rational(123), seededRandomSource(crypto, fixtureSeed(label))), 300);
    expect(draw(67)).toEqual(draw(67));
    expect(draw(68)).not.toEqual(draw(67));
  });

  it('rejects μ < 0', () => {
    expect(() => skellamSampler(rational(-1), seededRandomSource(crypto, fixtureSeed(69)))).toThrow(PetError);
  });
});
