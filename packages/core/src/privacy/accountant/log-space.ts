/**
 * Arithmetic on numbers held as their natural logarithms.
 *
 * The subsampled Gaussian's moments (Mironov, Talwar & Zhang, "Rényi Differential Privacy of the
 * Sampled Gaussian Mechanism", 2019, §3) are sums of terms such as exp((i² − i)/(2σ²)) that overflow
 * float64 long before their logarithm does, so the sums are taken in log space: log(eᵃ + eᵇ) =
 * max + log1p(exp(min − max)), exact to rounding whatever the magnitudes.
 */

/** log(eᵃ + eᵇ), with −∞ standing for 0 and +∞ absorbing. */
export function logAddExp(a: number, b: number): number {
  const hi = a > b ? a : b;
  const lo = a > b ? b : a;
  if (lo === Number.NEGATIVE_INFINITY || hi === Number.POSITIVE_INFINITY) return hi;
  return Math.log1p(Math.exp(lo - hi)) + hi;
}
