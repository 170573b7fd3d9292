/**
 * The Gaussian mechanism's Rényi DP: adding N(0, σ²·Δ₂²) to a query of L2 sensitivity Δ₂ (σ is the
 * noise multiplier) is (α, α/(2σ²))-RDP at every order α > 1 (Mironov, "Rényi Differential
 * Privacy", CSF 2017, Table II): the Rényi divergence between N(0, σ²) and N(1, σ²) is exactly
 * α/(2σ²). Equivalently the mechanism is ρ-zCDP with ρ = 1/(2σ²) (Bun &
 * Steinke, "Concentrated Differential Privacy: Simplifications, Extensions, and Lower Bounds",
 * TCC 2016, Proposition 1.6).
 */

/** RDP of one Gaussian release at each order: α/(2σ²); +∞ for σ = 0 (no noise). */
export function gaussianRdp(noiseMultiplier: number, orders: readonly number[]): number[] {
  return orders.map((a) => a / (2 * noiseMultiplier * noiseMultiplier));
}

/** ρ of the Gaussian mechanism: 1/(2σ²). */
export function gaussianRho(noiseMultiplier: number): number {
  return 1 / (2 * noiseMultiplier * noiseMultiplier);
}
