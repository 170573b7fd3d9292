/**
 * log erfc(x) in float64 for every real x, accurate to a few units in the last place.
 *
 * The fractional-order moments of the subsampled Gaussian (Mironov, Talwar & Zhang, "Rényi
 * Differential Privacy of the Sampled Gaussian Mechanism", 2019, §3.3) weight each term by
 * ½·erfc((i − z₀)/(√2σ)), whose argument reaches the hundreds, where erfc itself underflows: only
 * its logarithm is usable. Two classical expansions (Abramowitz & Stegun, "Handbook of Mathematical
 * Functions", 7.1.6 and 7.1.14) cover the line between them:
 *
 * - |x| < 1.5: the everywhere-positive series erf(x) = (2/√π)·e^{−x²}·Σₙ 2ⁿx^{2n+1}/(1·3·…·(2n+1)),
 *   then log erfc = log1p(−erf(x)). erfc(1.5) ≈ 0.034, so the subtraction costs < 2 digits.
 * - x ≥ 1.5: Laplace's continued fraction erfc(x) = (e^{−x²}/√π) / (x + ½/(x + 1/(x + (3/2)/(x + …)))),
 *   evaluated by the modified Lentz method (Press et al., "Numerical Recipes", §5.2), whose log
 *   is −x² − log √π − log(fraction): no underflow at any x. It takes < 100 steps at x = 1.5.
 * - x ≤ −1.5: erfc(x) = 2 − erfc(−x).
 *
 * Checked against mpmath at 50 digits (test-data/dp-accounting.json, `specialFunctions`).
 */

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
/** Where the series hands over to the continued fraction. */
const SPLIT = 1.5;
/** Both expansions converge well within these; the bound only guards against a NaN argument. */
const MAX_TERMS = 2000;
/** Lentz's guard against a zero denominator. */
const TINY = 1e-300;

/** erf(x) for |x| < SPLIT, by the positive series. */
function erfSeries(x: number): number {
  const step = 2 * x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < MAX_TERMS; n++) {
    term *= step / (2 * n + 1);
    sum += term;
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
}

/** log erfc(x) for x ≥ SPLIT, by the continued fraction. */
function logErfcFraction(x: number): number {
  // f = x + a₁/(x + a₂/(x + …)) with aₖ = k/2; erfc(x) = e^{−x²}/(√π·f).
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < MAX_TERMS; k++) {
    const a = k / 2;
    d = x + a * d;
    d = 1 / (d === 0 ? TINY : d);
    c = x + a / c;
    if (c === 0) c = TINY;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return -x * x - LOG_SQRT_PI - Math.log(f);
}

/** The natural logarithm of the complementary error function. */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x === Number.POSITIVE_INFINITY) return Number.NEGATIVE_INFINITY;
  if (x === Number.NEGATIVE_INFINITY) return Math.LN2;
  if (x >= SPLIT) return logErfcFraction(x);
  if (x > -SPLIT) return Math.log1p(-erfSeries(x));
  return Math.log(2 - Math.exp(logErfcFraction(-x)));
}
