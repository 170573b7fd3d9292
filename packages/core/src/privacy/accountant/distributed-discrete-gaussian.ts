/**
 * The distributed discrete Gaussian (Kairouz, Liu & Steinke, "The Distributed Discrete Gaussian
 * Mechanism for Federated Learning with Secure Aggregation", ICML 2021): each of n participants adds
 * its own N_ℤ(0, σ²) noise to every one of the d coordinates of its integer vector, and secure
 * aggregation reveals only the sum. A sum of discrete Gaussians is not a discrete Gaussian, but it is
 * close to N_ℤ(0, nσ²), and their analysis bounds the price of the difference with
 *
 *   τ = 10 · Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k + 1))            (Theorem 1; τ = 0 for n = 1)
 *
 * For a change of the sum by Δ ∈ ℤᵈ with ‖Δ‖₁ ≤ Δ₁ and ‖Δ‖₂ ≤ Δ₂, write ℓ₂ = Δ₂/(√n·σ) and
 * ℓ₁ = Δ₁/(√n·σ) (sensitivity over the standard deviation of the sum). Their Proposition 14 bounds
 * the Rényi divergence of every order α ≥ 1 by the least of
 *
 *   (α/2)·ℓ₂² + τ·d,
 *   (α/2)·(ℓ₂² + 2·ℓ₁·τ + τ²·d),
 *   (α/2)·(ℓ₂ + τ·√d)²,
 *
 * so the last two alone make the sum ρ-zCDP with ρ = ½·min(ℓ₂² + 2ℓ₁τ + τ²d, (ℓ₂ + τ√d)²) — that
 * is Δ₂²/(2nσ²), the central discrete Gaussian's ρ for noise nσ², plus a τ correction — and the first
 * adds an (α-independent) τ·d instead, which wins at large α. The theorem assumes σ ≥ ½; τ is
 * negligible once σ is a few units (σ = 2 gives terms below e^{−39}), and grows with n otherwise.
 * σ, Δ₁ and Δ₂ are in the integer units the participants add noise in (after any scaling).
 */

/** One release of the distributed discrete Gaussian: the parameters its privacy depends on. */
export interface DistributedDiscreteGaussianParameters {
  /** σ: the scale of each participant's N_ℤ(0, σ²) noise, per coordinate (≥ ½). */
  readonly sigma: number;
  /** n: how many participants' noise the revealed sum contains (at least; fewer means less noise). */
  readonly participants: number;
  /** d: the number of coordinates. */
  readonly dimension: number;
  /** Δ₁: the L1 sensitivity of the sum, in integer units. */
  readonly l1Sensitivity: number;
  /** Δ₂: the L2 sensitivity of the sum, in integer units. */
  readonly l2Sensitivity: number;
}

/** τ = 10·Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k + 1)). */
export function distributedDiscreteGaussianTau(sigma: number, participants: number): number {
  const c = 2 * Math.PI * Math.PI * sigma * sigma;
  // Every term is at most e^{−c/2} (k/(k + 1) ≥ ½): when that underflows, each term is exactly 0.
  if (Math.exp(-c / 2) === 0) return 0;
  let sum = 0;
  for (let k = 1; k < participants; k++) sum += Math.exp((-c * k) / (k + 1));
  return 10 * sum;
}

function scaled(p: DistributedDiscreteGaussianParameters): { l1: number; l2: number; tau: number } {
  const sd = Math.sqrt(p.participants) * p.sigma;
  return {
    l1: p.l1Sensitivity / sd,
    l2: p.l2Sensitivity / sd,
    tau: distributedDiscreteGaussianTau(p.sigma, p.participants),
  };
}

/** ρ of the sum: ½·min(ℓ₂² + 2ℓ₁τ + τ²d, (ℓ₂ + τ√d)²). */
export function distributedDiscreteGaussianRho(p: DistributedDiscreteGaussianParameters): number {
  const { l1, l2, tau } = scaled(p);
  const d = p.dimension;
  return 0.5 * Math.min(l2 * l2 + 2 * l1 * tau + tau * tau * d, (l2 + Math.sqrt(d) * tau) ** 2);
}

/** RDP of one release at each order: min((α/2)·ℓ₂² + τd, α·ρ). */
export function distributedDiscreteGaussianRdp(
  p: DistributedDiscreteGaussianParameters,
  orders: readonly number[],
): number[] {
  const { l2, tau } = scaled(p);
  const rho = distributedDiscreteGaussianRho(p);
  return orders.map((a) => Math.min((a / 2) * l2 * l2 + tau * p.dimension, a * rho));
}
