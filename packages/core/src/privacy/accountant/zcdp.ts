/**
 * Zero-concentrated differential privacy (Bun & Steinke, "Concentrated Differential Privacy:
 * Simplifications, Extensions, and Lower Bounds", TCC 2016, Definition 1.1): a mechanism is
 * (ξ, ρ)-zCDP when its Rényi divergence of every order α > 1 is at most ξ + ρ·α, and ρ-zCDP when
 * ξ = 0. It is therefore an RDP curve, composed like any other (ρs and ξs add), and converted to
 * (ε, δ) with the same conversion and order grid as the rest of the ledger — what dp_accounting's
 * RdpAccountant does with a zCDP event (Canonne, Kamath & Steinke, "The Discrete Gaussian for
 * Differential Privacy", NeurIPS 2020, Proposition 12 applied at each order).
 *
 * Some systems state zCDP as "ε²/2-zCDP" and report that ε (dpsa4fl does): by Bun & Steinke's
 * Proposition 1.6 the Gaussian mechanism with noise σ = Δ/ε is (ε²/2)-zCDP, so ε_zCDP = √(2ρ).
 * That number is not an (ε, δ)-DP ε; `zcdpEpsilonOfRho` names it for display and comparison only.
 */

import { DEFAULT_RDP_ORDERS } from './orders.ts';
import { type ConversionAtOrder, rdpToEpsilon } from './rdp-conversion.ts';

/** RDP at each order of a (ξ, ρ)-zCDP mechanism: ξ + ρ·α. */
export function zcdpRdp(rho: number, xi: number, orders: readonly number[]): number[] {
  return orders.map((a) => xi + rho * a);
}

/** (ε, δ) of a ρ-zCDP mechanism, through its RDP curve on the grid (dp_accounting's default). */
export function zcdpToEpsilon(
  rho: number,
  delta: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): ConversionAtOrder {
  return rdpToEpsilon(orders, zcdpRdp(rho, 0, orders), delta);
}

/** The "ε" of ε²/2-zCDP (dpsa4fl's way of stating ρ): √(2ρ). */
export function zcdpEpsilonOfRho(rho: number): number {
  return Math.sqrt(2 * rho);
}

/** ρ of ε²/2-zCDP: ε²/2. */
export function rhoOfZcdpEpsilon(epsilon: number): number {
  return (epsilon * epsilon) / 2;
}
