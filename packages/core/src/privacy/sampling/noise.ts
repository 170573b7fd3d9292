/**
 * The noise a participant adds to its fixed-point encoded update (protocol.md §4.3) before
 * masking, so that the aggregate is differentially private without trusting the coordinator.
 *
 * A `NoiseDistribution` is plain data with an exact rational parameter: the discrete Gaussian
 * N_Z(0, σ²) (discrete-gaussian.ts) or Skellam Sk(μ) (skellam.ts). `createNoiseSampler` draws
 * from libsodium's CSPRNG unless a seed is given (tests, reproducing a run).
 */

import type { PetCrypto } from '../../crypto/sodium.ts';
import { assertNever } from '../../mask/config.ts';
import { discreteGaussianSampler } from './discrete-gaussian.ts';
import type { IntegerSampler } from './integer-sampler.ts';
import { type RandomSource, randomSource } from './random-source.ts';
import type { Rational } from './rational.ts';
import { skellamSampler } from './skellam.ts';

export type NoiseDistribution =
  | { readonly kind: 'discrete-gaussian'; readonly sigma2: Rational }
  | { readonly kind: 'skellam'; readonly mu: Rational };

/** A sampler over `source`; parameters are checked here, before any draw. */
export function noiseSampler(distribution: NoiseDistribution, source: RandomSource): IntegerSampler {
  switch (distribution.kind) {
    case 'discrete-gaussian':
      return discreteGaussianSampler(distribution.sigma2, source);
    case 'skellam':
      return skellamSampler(distribution.mu, source);
    default:
      return assertNever(distribution);
  }
}

export interface DisposableIntegerSampler extends IntegerSampler {
  /** Wipes the randomness the sampler holds; later draws throw. */
  dispose(): void;
}

/**
 * A noise sampler over libsodium's CSPRNG, or over the keystream of `options.seed` when given.
 * SECURITY: a seed makes the noise known to whoever holds it (random-source.ts).
 */
export function createNoiseSampler(
  crypto: PetCrypto,
  distribution: NoiseDistribution,
  options: { readonly seed?: Uint8Array } = {},
): DisposableIntegerSampler {
  const source = randomSource(crypto, options.seed);
  try {
    const sampler = noiseSampler(distribution, source);
    return { sample: () => sampler.sample(), dispose: () => source.dispose() };
  } catch (error) {
    source.dispose();
    throw error;
  }
}
