/**
 * From Rényi DP to (ε, δ)-DP: the conversion dp_accounting's RdpAccountant uses.
 *
 * A mechanism that is (α, r)-RDP is (ε, δ)-DP for
 *
 *   ε = r + log(1 − 1/α) − (log δ + log α)/(α − 1)        (α > 1)
 *
 * (Canonne, Kamath & Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS 2020,
 * Proposition 12; also Asoodeh, Liao, Calmon, Kosut & Sankar, "A Better Bound Gives a Hundred
 * Rounds: Enhanced Privacy Guarantees via f-Divergences", 2020), which improves Mironov's
 * r − log δ/(α − 1) ("Rényi Differential Privacy", 2017, Proposition 3) by up to log α/(α − 1)
 * and more. Solved for δ instead: δ = exp((α − 1)(r − ε + log(1 − 1/α)) − log α).
 *
 * Since D_α ≥ D_KL for α ≥ 1, and total variation is at most √(1 − e^{−KL}) (Bretagnolle & Huber,
 * 1979), δ ≥ √(1 − e^{−r}) already gives (0, δ)-DP; each order takes the better of the two.
 * As dp_accounting does, the first bound is only used for α > 1.01 (it is numerically unstable as
 * α → 1 and useless there), a negative RDP value (only ever a rounding artefact) counts as 0
 * privacy loss, and the answer is the minimum over the grid, the first order attaining it.
 */

import { PetError } from '../../errors.ts';

/** The best (ε or δ) over an order grid, and the order that gave it. */
export interface ConversionAtOrder {
  readonly value: number;
  /** The order α attaining the minimum (the first on ties); +∞ when δ = 0 (pure DP needs α → ∞). */
  readonly order: number;
}

/** Orders within this of 1 only use the total-variation bound. */
const MIN_ORDER_FOR_RDP_BOUND = 1.01;

function checkCurve(what: string, orders: readonly number[], rdp: readonly number[]): void {
  if (orders.length !== rdp.length || orders.length === 0) {
    throw new PetError(
      'invalid-field',
      `${what}: expected one RDP value per order, got ${rdp.length} for ${orders.length} orders`,
    );
  }
  for (const order of orders) {
    if (!(order >= 1)) throw new PetError('invalid-field', `${what}: expected orders ≥ 1, got ${order}`);
  }
}

/** ε for a target δ ∈ [0, 1], from RDP values at the given orders. */
export function rdpToEpsilon(orders: readonly number[], rdp: readonly number[], delta: number): ConversionAtOrder {
  if (!(delta >= 0 && delta <= 1)) {
    throw new PetError('invalid-field', `rdp to epsilon: delta: expected a number in [0, 1], got ${delta}`);
  }
  checkCurve('rdp to epsilon', orders, rdp);
  if (delta === 0) {
    return { value: rdp.every((r) => r === 0) ? 0 : Number.POSITIVE_INFINITY, order: Number.POSITIVE_INFINITY };
  }
  const logDelta = Math.log(delta);
  let best = Number.POSITIVE_INFINITY;
  let bestIndex = 0;
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i] as number;
    const r = rdp[i] as number;
    let epsilon: number;
    if (r < 0) {
      epsilon = 0;
    } else if (delta * delta + Math.expm1(-r) > 0) {
      // δ > √(1 − e^{−r}) ≥ total variation: (0, δ)-DP.
      epsilon = 0;
    } else if (a > MIN_ORDER_FOR_RDP_BOUND) {
      epsilon = r + Math.log1p(-1 / a) - (logDelta + Math.log(a)) / (a - 1);
    } else {
      epsilon = Number.POSITIVE_INFINITY;
    }
    if (epsilon < best) {
      best = epsilon;
      bestIndex = i;
    }
  }
  return { value: Math.max(0, best), order: orders[bestIndex] as number };
}

/** δ for a target ε ≥ 0, from RDP values at the given orders. */
export function rdpToDelta(orders: readonly number[], rdp: readonly number[], epsilon: number): ConversionAtOrder {
  if (!(epsilon >= 0)) {
    throw new PetError('invalid-field', `rdp to delta: epsilon: expected a number ≥ 0, got ${epsilon}`);
  }
  checkCurve('rdp to delta', orders, rdp);
  let best = Number.POSITIVE_INFINITY;
  let bestIndex = 0;
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i] as number;
    const r = rdp[i] as number;
    // log δ from total variation: ½·log(1 − e^{−r}).
    let logDelta = r <= 0 ? Number.NEGATIVE_INFINITY : 0.5 * Math.log1p(-Math.exp(-r));
    if (a > MIN_ORDER_FOR_RDP_BOUND) {
      logDelta = Math.min(logDelta, (a - 1) * (r - epsilon + Math.log1p(-1 / a)) - Math.log(a));
    }
    if (logDelta < best) {
      best = logDelta;
      bestIndex = i;
    }
  }
  return { value: Math.min(Math.exp(best), 1), order: orders[bestIndex] as number };
}
