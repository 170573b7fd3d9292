/**
 * Rényi DP of the Poisson-subsampled Gaussian mechanism: each record joins the batch independently
 * with probability q, and the batch's sum (L2 sensitivity 1 after clipping) gets N(0, σ²) noise.
 *
 * Mironov, Talwar & Zhang ("Rényi Differential Privacy of the Sampled Gaussian Mechanism", 2019)
 * show that for add/remove-one neighbours the mechanism is (α, log(A_α)/(α − 1))-RDP with
 * A_α = E_{z∼μ₀}[(1 − q + q·μ₁(z)/μ₀(z))^α], μ₀ = N(0, σ²), μ₁ = N(1, σ²), and evaluate A_α:
 *
 * - integer α (§3.2), a finite binomial expansion:
 *     A_α = Σ_{i=0}^{α} C(α, i)·(1 − q)^{α−i}·q^i·exp((i² − i)/(2σ²));
 * - fractional α (§3.3), splitting the integral at z₀ = σ²·log(1/q − 1) + ½, where
 *   q·μ₁(z₀) = (1 − q)·μ₀(z₀), and expanding each side in a binomial series:
 *     A_α = A₀ + A₁,
 *     A₀ = Σ_{i≥0} C(α, i)·q^i·(1 − q)^{α−i}·exp((i² − i)/(2σ²))·½·erfc((i − z₀)/(√2σ)),
 *     A₁ = Σ_{i≥0} C(α, i)·q^{α−i}·(1 − q)^i·exp(((α − i)² − (α − i))/(2σ²))·½·erfc((z₀ − (α − i))/(√2σ)).
 *
 * Everything is summed in log space. For the infinite series we follow Google's dp_accounting
 * library exactly, so that our ε is the number its RdpAccountant reports: terms are added in
 * magnitude (|C(α, i)|, which can only over-estimate A_α), and the sum stops at the first i where
 * both the A₀ and the A₁ term decreased from the previous i and the larger is below e^{−30} of the
 * running total; after 1000 terms without stopping the order's RDP is +∞ (the order is excluded,
 * which happens for small σ, large q and α close to 1). Special cases: q = 0 gives 0, σ = 0 gives
 * +∞, q = 1 is the plain Gaussian α/(2σ²).
 */

import { logErfc } from './log-erfc.ts';
import { logAddExp } from './log-space.ts';

/** The fractional-order series gives up after this many terms (dp_accounting's limit). */
export const MAX_FRACTIONAL_TERMS = 1000;
/** A term this far (in log) below the running total ends the fractional-order series. */
const STOP_BELOW_TOTAL = 30;

/** log A_α for integer α ≥ 2 and 0 < q < 1. */
function logAInteger(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigma2 = 2 * sigma * sigma;
  let logA = Number.NEGATIVE_INFINITY;
  // log C(α, i), built term by term: C(α, i + 1) = C(α, i)·(α − i)/(i + 1).
  let logBinomial = 0;
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinomial += Math.log((alpha - i + 1) / i);
    logA = logAddExp(logA, logBinomial + i * logQ + (alpha - i) * log1mQ + (i * i - i) / twoSigma2);
  }
  return logA;
}

/** log A_α for fractional α > 1 and 0 < q < 1; +∞ when the series does not settle in time. */
function logAFractional(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigma2 = 2 * sigma * sigma;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const erfcScale = Math.SQRT2 * sigma;
  let logA0 = Number.NEGATIVE_INFINITY;
  let logA1 = Number.NEGATIVE_INFINITY;
  let lastS0 = Number.NEGATIVE_INFINITY;
  let lastS1 = Number.NEGATIVE_INFINITY;
  // log |C(α, i)|: |C(α, i + 1)| = |C(α, i)|·|α − i|/(i + 1); α is not an integer, so never 0.
  let logBinomial = 0;
  for (let i = 0; i < MAX_FRACTIONAL_TERMS; i++) {
    if (i > 0) logBinomial += Math.log(Math.abs(alpha - i + 1) / i);
    const j = alpha - i;
    const logS0 =
      logBinomial + i * logQ + j * log1mQ + (i * i - i) / twoSigma2 + (logErfc((i - z0) / erfcScale) - Math.LN2);
    const logS1 =
      logBinomial + j * logQ + i * log1mQ + (j * j - j) / twoSigma2 + (logErfc((z0 - j) / erfcScale) - Math.LN2);
    logA0 = logAddExp(logA0, logS0);
    logA1 = logAddExp(logA1, logS1);
    const total = logAddExp(logA0, logA1);
    if (logS0 < lastS0 && logS1 < lastS1 && Math.max(logS0, logS1) < total - STOP_BELOW_TOTAL) return total;
    lastS0 = logS0;
    lastS1 = logS1;
  }
  return Number.POSITIVE_INFINITY;
}

/** RDP of one release at a single order α > 1. */
export function subsampledGaussianRdpAt(noiseMultiplier: number, samplingRate: number, alpha: number): number {
  if (samplingRate === 0) return 0;
  if (alpha === Number.POSITIVE_INFINITY || noiseMultiplier === 0) return Number.POSITIVE_INFINITY;
  if (samplingRate === 1) return alpha / (2 * noiseMultiplier * noiseMultiplier);
  const logA = Number.isInteger(alpha)
    ? logAInteger(samplingRate, noiseMultiplier, alpha)
    : logAFractional(samplingRate, noiseMultiplier, alpha);
  return logA / (alpha - 1);
}

/** RDP of one Poisson-subsampled Gaussian release (noise multiplier σ, sampling rate q) at each order. */
export function subsampledGaussianRdp(
  noiseMultiplier: number,
  samplingRate: number,
  orders: readonly number[],
): number[] {
  return orders.map((a) => subsampledGaussianRdpAt(noiseMultiplier, samplingRate, a));
}
