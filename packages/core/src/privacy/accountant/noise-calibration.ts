/**
 * Noise calibration: the smallest Gaussian noise multiplier σ whose T releases at Poisson sampling
 * rate q stay within a target (ε, δ) — what a run that states a target ε needs before its first
 * round. ε(σ) is computed exactly as the accountant computes it (subsampled-gaussian.ts, then
 * rdp-conversion.ts on the same orders). It is nonincreasing in σ except where ε runs to hundreds
 * and a fractional order below 2 is the best one (docs/privacy.md §5); bisection finds the crossing,
 * and its answer meets the target even there, though it may then not be the smallest σ that does.
 *
 * The search brackets σ by doubling or halving from 1, then bisects geometrically (the crossing can
 * lie anywhere from 10⁻² to 10³) until the bracket's upper end is within a relative `tolerance` of
 * its lower end. It returns the upper end, whose ε is at most the target: the answer never spends
 * more privacy than asked for, like dp_accounting's `calibrate_dp_mechanism`.
 */

import { DEFAULT_RDP_ORDERS, orderProblems } from './orders.ts';
import { checkInteger, checkNumber, throwProblems } from './parameters.ts';
import { rdpToEpsilon } from './rdp-conversion.ts';
import { subsampledGaussianRdp } from './subsampled-gaussian.ts';

export interface NoiseCalibrationTarget {
  /** The ε the whole run may spend. */
  readonly targetEpsilon: number;
  readonly delta: number;
  /** T: how many releases (rounds) the run composes. */
  readonly rounds: number;
  /** q: Poisson sampling rate of each round (1: every participant, every round). */
  readonly samplingRate: number;
  /** RDP orders; dp_accounting's default grid unless given. */
  readonly orders?: readonly number[];
  /** Relative width of the final bracket; 1e-9 unless given. */
  readonly tolerance?: number;
}

/** σ is searched in [MIN_SIGMA, MAX_SIGMA]. */
export const MIN_SIGMA = 1e-4;
export const MAX_SIGMA = 1e6;
const MAX_ROUNDS = 1e12;

/** ε of T releases of the subsampled Gaussian with noise multiplier σ. */
export function subsampledGaussianEpsilon(
  noiseMultiplier: number,
  samplingRate: number,
  rounds: number,
  delta: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number {
  const rdp = subsampledGaussianRdp(noiseMultiplier, samplingRate, orders).map((r) => rounds * r);
  return rdpToEpsilon(orders, rdp, delta).value;
}

/**
 * The noise multiplier reaching `targetEpsilon` (within `tolerance`, from above). Throws
 * `PetError('invalid-field')` for invalid inputs, or when even σ = MAX_SIGMA spends more than the
 * target.
 */
export function calibrateNoiseMultiplier(target: NoiseCalibrationTarget): number {
  const orders = target.orders ?? DEFAULT_RDP_ORDERS;
  const tolerance = target.tolerance ?? 1e-9;
  throwProblems('noise calibration', [
    checkNumber('targetEpsilon', target.targetEpsilon, 0, 1e6),
    checkNumber('delta', target.delta, 0, 1),
    checkInteger('rounds', target.rounds, 1, MAX_ROUNDS),
    checkNumber('samplingRate', target.samplingRate, 0, 1),
    checkNumber('tolerance', tolerance, 0, 0.1),
    ...orderProblems('orders', orders),
  ]);
  const within = (sigma: number) =>
    subsampledGaussianEpsilon(sigma, target.samplingRate, target.rounds, target.delta, orders) <= target.targetEpsilon;

  // Invariant once bracketed: lo spends too much, hi stays within the target.
  let lo: number;
  let hi: number;
  if (within(1)) {
    hi = 1;
    lo = 0.5;
    while (within(lo)) {
      // Unreachable for targets ≤ 1e6 (σ = 10⁻⁴ spends ε > 10⁷ at any q); it bounds the loop.
      if (lo <= MIN_SIGMA) return MIN_SIGMA;
      hi = lo;
      lo = Math.max(lo / 2, MIN_SIGMA);
    }
  } else {
    lo = 1;
    hi = 2;
    while (!within(hi)) {
      if (hi >= MAX_SIGMA) {
        throwProblems('noise calibration', [
          `targetEpsilon: no noise multiplier up to ${MAX_SIGMA} reaches ε = ${target.targetEpsilon} at δ = ${target.delta}`,
        ]);
      }
      lo = hi;
      hi = Math.min(hi * 2, MAX_SIGMA);
    }
  }
  while (hi / lo - 1 > tolerance) {
    const mid = Math.sqrt(lo * hi);
    if (mid <= lo || mid >= hi) break;
    if (within(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
