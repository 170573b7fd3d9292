/**
 * The distributed Skellam mechanism (Agarwal, Kairouz & Liu, "The Skellam Mechanism for
 * Differentially Private Federated Learning", NeurIPS 2021): each of n participants adds Skellam
 * noise Sk(μ) = Poisson(μ) − Poisson(μ) (variance 2μ) to every coordinate of its integer vector.
 * Unlike the discrete Gaussian, Skellam noise is closed under summation: the revealed sum carries
 * Sk(nμ), variance V = 2nμ, exactly.
 *
 * Their RDP bound for the multi-dimensional Skellam mechanism with variance V, for a change Δ with
 * ‖Δ‖₁ ≤ Δ₁ and ‖Δ‖₂ ≤ Δ₂, is
 *
 *   ε(α) = α·Δ₂²/(2V) + min( ((2α − 1)·Δ₂² + 6·Δ₁)/(4V²), 3·Δ₁/(2V) ),      V = 2nμ,
 *
 * i.e. α·Δ₂²/(4nμ) + min(((2α − 1)Δ₂² + 6Δ₁)/(16n²μ²), 3Δ₁/(4nμ)): the Gaussian's α·Δ₂²/(2V) plus a
 * correction that vanishes as V grows. We apply it at integer orders, as the authors' accounting
 * does; at a fractional order α we use the value at ⌈α⌉, which is a valid bound because Rényi
 * divergence is nondecreasing in its order (van Erven & Harremoës, "Rényi Divergence and
 * Kullback-Leibler Divergence", 2014, Theorem 3). Sensitivities and μ are in the integer units the
 * participants add noise in.
 */

/** One release of the distributed Skellam mechanism. */
export interface SkellamParameters {
  /** μ: each participant's Skellam parameter (its noise is Poisson(μ) − Poisson(μ), variance 2μ). */
  readonly mu: number;
  /** n: how many participants' noise the revealed sum contains. */
  readonly participants: number;
  /** Δ₁: the L1 sensitivity of the sum, in integer units. */
  readonly l1Sensitivity: number;
  /** Δ₂: the L2 sensitivity of the sum, in integer units. */
  readonly l2Sensitivity: number;
}

/** The bound at one integer order α ≥ 2. */
function skellamRdpAtInteger(p: SkellamParameters, alpha: number): number {
  const v = 2 * p.participants * p.mu;
  const l2sq = p.l2Sensitivity * p.l2Sensitivity;
  const correction = Math.min(
    ((2 * alpha - 1) * l2sq + 6 * p.l1Sensitivity) / (4 * v * v),
    (3 * p.l1Sensitivity) / (2 * v),
  );
  return (alpha * l2sq) / (2 * v) + correction;
}

/** RDP of one release at each order (fractional orders take the bound at ⌈α⌉). */
export function skellamRdp(p: SkellamParameters, orders: readonly number[]): number[] {
  return orders.map((a) => skellamRdpAtInteger(p, Math.ceil(a)));
}
