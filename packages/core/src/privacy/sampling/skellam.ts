/**
 * The (symmetric) Skellam distribution Sk(μ): the difference of two independent Poisson(μ)
 * draws, each exact (poisson.ts), so Sk(μ) is exact too. Mean 0, variance 2μ.
 *
 * It is the noise of Agarwal, Kairouz & Liu, "The Skellam Mechanism for Differentially Private
 * Federated Learning" (NeurIPS 2021), chosen for distributed noise because it is closed under
 * sums: Sk(μ₁) + Sk(μ₂) = Sk(μ₁ + μ₂). n participants adding Sk(μ/n) each put exactly Sk(μ) into
 * the aggregate — which is why μ is a rational: μ/n stays exact.
 */

import type { IntegerSampler } from './integer-sampler.ts';
import { poissonSampler } from './poisson.ts';
import type { RandomSource } from './random-source.ts';
import type { Rational } from './rational.ts';

/** Draws from Sk(μ) for a rational 0 ≤ μ ≤ 2^40 (two Poisson(μ) draws each). */
export function skellamSampler(mu: Rational, source: RandomSource): IntegerSampler {
  const poisson = poissonSampler(mu, source);
  return {
    sample() {
      const x = poisson.sample();
      return x - poisson.sample();
    },
  };
}
