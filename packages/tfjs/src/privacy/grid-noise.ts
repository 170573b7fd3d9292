/**
 * The Gaussian noise of a DP-SGD step, drawn exactly: the sum of clipped gradients (L2
 * sensitivity C) is rounded to the grid g = C/K and noise k·g is added to every coordinate, with
 * k ~ N_Z(0, (σK)²) the discrete Gaussian (Canonne, Kamath & Steinke, "The Discrete Gaussian for
 * Differential Privacy", NeurIPS 2020) sampled from the CSPRNG by @petfl/core. Floating-point
 * Gaussian noise is avoided: the low bits of its samples can reveal the value they were added to
 * (Mironov, "On Significance of the Least Significant Bits for Differential Privacy", CCS 2012).
 * Everything after the integer noise is added (×g, ÷ the expected batch size, the optimizer) is
 * post-processing of an exact release.
 *
 * K = GRID_STEPS·√P for P coordinates. On neighbouring datasets the two rounded sums differ by
 * the difference of the sums (at most C = K grid steps) plus two rounding errors of at most g/2
 * each per coordinate, so by at most K + √P grid steps in L2 — an integer vector, as both lie on
 * the grid. Noise of standard deviation σK over a sensitivity of K + √P is a noise multiplier of
 * σ·K/(K + √P) = σ·GRID_STEPS/(GRID_STEPS + 1), whatever P: the grid costs 1.6 % of σ, and each
 * step is charged with that multiplier (`accountedNoiseMultiplier`), with a 2⁻⁴⁰ relative margin
 * for the float64 arithmetic of g and σK.
 *
 * Why a step is charged as core's `subsampled-gaussian` (Mironov, Talwar & Zhang, "Rényi
 * Differential Privacy of the Sampled Gaussian Mechanism", 2019), a bound proven for continuous
 * noise: at an integer order α, their A_α is a sum with nonnegative weights of the moments
 * E_P[(Q/P)^j] = exp((j − 1)·D_j(Q‖P)), j ≤ α, of the unsampled pair, and for the discrete Gaussian
 * with an integer shift of L2 norm Δ each D_j is at most the continuous Gaussian's jΔ²/(2σ²)
 * (Canonne, Kamath & Steinke, §2 and §4: it holds per coordinate and adds over independent
 * coordinates), so the sampled discrete mechanism's A_α is at most the continuous one's. The
 * symmetric direction and the fractional orders of core's default grid rest on the continuous
 * analysis as used by Opacus and TF Privacy; this is stated in the guarantee (docs/privacy.md).
 */

import {
  createNoiseSampler,
  type DisposableIntegerSampler,
  type PetCrypto,
  PetError,
  sigma2FromSigma,
} from '@petfl/core';

/** Grid steps per C, over √P: the grid inflates the sensitivity by 1/GRID_STEPS (module comment). */
export const GRID_STEPS = 64;

/** Relative margins for the float64 arithmetic of g and σK (module comment). */
const ACCOUNTING_MARGIN = 2 ** -40;
const INFLATION_MARGIN = 2 ** -30;

/** The noise multiplier a step is charged with when the noise drawn has multiplier σ. */
export function accountedNoiseMultiplier(sigma: number): number {
  return ((sigma * GRID_STEPS) / (GRID_STEPS + 1)) * (1 - ACCOUNTING_MARGIN);
}

/**
 * The σ to draw so that a step is charged with at least `accounted` (a little above its inverse:
 * `accountedNoiseMultiplier(inflatedNoiseMultiplier(x)) ≥ x`).
 */
export function inflatedNoiseMultiplier(accounted: number): number {
  return ((accounted * (GRID_STEPS + 1)) / GRID_STEPS) * (1 + INFLATION_MARGIN);
}

export interface GridNoise {
  /** The grid step g = C/K. */
  readonly grid: number;
  /**
   * Rounds every coordinate of `sum` to the grid and adds k·g, in place. Throws
   * `PetError('invalid-model-value')`, before any draw and leaving `sum` as it was, when a
   * coordinate is not finite (a diverged loss).
   */
  add(sum: Float64Array): void;
  /** Wipes the randomness the sampler holds; later calls throw. */
  dispose(): void;
}

/**
 * Noise for sums of `length` coordinates with L2 sensitivity `clipNorm`, noise multiplier σ > 0,
 * from libsodium's CSPRNG (or the keystream of `seed`: tests and reproducible runs only).
 * SECURITY: the sampler's randomness decides the participant's privacy; the caller disposes it
 * when training ends, and a seed makes the noise known to whoever holds the seed.
 */
export function gridNoise(
  crypto: PetCrypto,
  settings: { readonly clipNorm: number; readonly noiseMultiplier: number; readonly length: number },
  seed?: Uint8Array,
): GridNoise {
  const { clipNorm, noiseMultiplier, length } = settings;
  if (!Number.isSafeInteger(length) || length < 1) {
    throw new PetError('invalid-field', `DP-SGD noise length: expected a positive integer, got ${length}`);
  }
  const K = GRID_STEPS * Math.sqrt(length);
  const grid = clipNorm / K;
  const sampler: DisposableIntegerSampler = createNoiseSampler(
    crypto,
    { kind: 'discrete-gaussian', sigma2: sigma2FromSigma(noiseMultiplier * K, 'noiseMultiplier·K') },
    seed === undefined ? {} : { seed },
  );
  return {
    grid,
    add(sum) {
      if (sum.length !== length) {
        throw new PetError('model-length-mismatch', `DP-SGD noise: expected ${length} coordinates, got ${sum.length}`);
      }
      for (let i = 0; i < length; i++) {
        if (!Number.isFinite(sum[i])) {
          throw new PetError(
            'invalid-model-value',
            `DP-SGD gradient sum[${i}]: expected a finite number, got ${sum[i]} (has the loss diverged?)`,
          );
        }
      }
      // SECURITY: each draw is added at once and kept nowhere else.
      for (let i = 0; i < length; i++) sum[i] = grid * (Math.round((sum[i] as number) / grid) + sampler.sample());
    },
    dispose: () => sampler.dispose(),
  };
}
