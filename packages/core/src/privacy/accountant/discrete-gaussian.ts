/**
 * The (central) discrete Gaussian mechanism: adding noise from N_ℤ(0, σ²), the distribution on the
 * integers with P[x] ∝ exp(−x²/(2σ²)), coordinate-wise to an integer query of L2 sensitivity Δ₂ is
 * ρ-zCDP with ρ = Δ₂²/(2σ²) (Canonne, Kamath & Steinke, "The Discrete Gaussian for Differential
 * Privacy", NeurIPS 2020, Theorem 4 in one dimension; their multivariate analysis gives the same
 * ρ for vectors) — the continuous Gaussian's guarantee, exactly. dp_accounting accounts for its
 * discrete Gaussian events the same way (RDP ρ·α at every order).
 *
 * σ is the distribution's scale parameter; its variance is slightly below σ². The distributed
 * version, where n participants each add their own N_ℤ(0, σ²) before secure aggregation, is not a
 * discrete Gaussian: see distributed-discrete-gaussian.ts.
 */

/** ρ of the discrete Gaussian with scale σ for L2 sensitivity Δ₂: Δ₂²/(2σ²). */
export function discreteGaussianRho(sigma: number, l2Sensitivity: number): number {
  return (l2Sensitivity * l2Sensitivity) / (2 * sigma * sigma);
}
