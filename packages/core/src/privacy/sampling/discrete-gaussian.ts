/**
 * The discrete Gaussian N_Z(0, σ²): P(x) ∝ exp(−x²/(2σ²)) for x ∈ Z, sampled exactly for a
 * rational σ² by Canonne, Kamath & Steinke, "The Discrete Gaussian for Differential Privacy",
 * Algorithm 3.
 *
 * With t = ⌊σ⌋ + 1, draw Y from the discrete Laplace Lap_Z(t) (their Algorithm 2,
 * discrete-laplace.ts) and keep it with probability exp(−(|Y| − σ²/t)²/(2σ²)) (their
 * Algorithm 1, bernoulli.ts). For σ² = a/b that exponent is the rational
 * (|Y|·t·b − a)² / (2·a·b·t²); it is computed in doubles while every term is an integer below
 * 2^53 (always the case for integer σ² up to about 10^8), in bigints otherwise. No step rounds:
 * the output has exactly the discrete Gaussian distribution. A Laplace draw is kept with a
 * probability bounded below independently of σ (measured here: about two in three for σ ≥ 3),
 * so the expected cost per sample is O(1) for every σ.
 *
 * Its variance is slightly below σ² (a sum over Z, computed numerically in the tests); the
 * privacy guarantee of the paper is stated for σ² itself.
 */

import { PetError } from '../../errors.ts';
import { bernoulliExp } from './bernoulli.ts';
import { checkLaplaceScale, sampleDiscreteLaplace } from './discrete-laplace.ts';
import type { IntegerSampler } from './integer-sampler.ts';
import type { RandomSource } from './random-source.ts';
import { floorOf, isqrt, parameter, type Rational } from './rational.ts';

/** Largest σ² accepted: t = ⌊σ⌋ + 1 must stay within one 32-bit word (σ < 2^31). */
export const MAX_SIGMA2 = 2n ** 62n;

const TWO_26 = 2 ** 26;
const TWO_52 = 2 ** 52;

/** Checks σ² (0 < σ² ≤ 2^62) and reduces it. */
export function checkSigma2(sigma2: Rational, field = 'sigma2'): Rational {
  const r = parameter(sigma2, field);
  if (r.num <= 0n || r.num > MAX_SIGMA2 * r.den) {
    throw new PetError('out-of-range', `${field}: expected 0 < σ² ≤ 2^62, got ${r.num}/${r.den}`);
  }
  return r;
}

/** Draws from N_Z(0, σ²), with σ² as a rational (`sigma2FromSigma` converts a double σ). */
export function discreteGaussianSampler(sigma2: Rational, source: RandomSource): IntegerSampler {
  const { num: a, den: b } = checkSigma2(sigma2);
  const t = Number(isqrt(floorOf({ num: a, den: b }))) + 1; // ⌊σ⌋ = ⌊√⌊σ²⌋⌋
  checkLaplaceScale(t, 1);
  const tb = BigInt(t) * b;
  const den = 2n * a * b * BigInt(t) * BigInt(t);
  // Doubles for the exponent when a, t·b and 2abt² are exact doubles (and 2·den too, for K = 2).
  const small = den < BigInt(TWO_52);
  const aN = Number(a);
  const tbN = Number(tb);
  const denN = Number(den);
  return {
    sample() {
      for (;;) {
        const y = sampleDiscreteLaplace(source, t);
        const ay = y < 0 ? -y : y;
        if (small) {
          const p = ay * tbN;
          // p < 2^52 is exact; |p − a| < 2^26 keeps its square exact too.
          if (p < TWO_52) {
            const diff = p - aN;
            if (diff < TWO_26 && diff > -TWO_26) {
              if (bernoulliExp(source, diff * diff, denN)) return y;
              continue;
            }
          }
        }
        const diff = BigInt(ay) * tb - a;
        if (bernoulliExp(source, diff * diff, den)) return y;
      }
    },
  };
}
